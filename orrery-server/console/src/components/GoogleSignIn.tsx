// "Sign in with Google" through Google Identity Services, shown only when the server has a
// Google client id (it writes it into index.html, and allows Google's script in its CSP then).

import { useEffect, useRef, useState } from 'react';
import type { User } from '../api/types';
import { client } from '../state/session';
import { ProblemNotice } from './ui';

interface Gis {
  accounts: {
    id: {
      initialize(options: { client_id: string; callback: (r: { credential: string }) => void; ux_mode?: string }): void;
      renderButton(el: HTMLElement, options: Record<string, string | number>): void;
    };
  };
}

/** The configured Google client id, or null. */
export function googleClientId(): string | null {
  const meta = document.querySelector<HTMLMetaElement>('meta[name="orrery-google-client-id"]');
  return meta?.content ? meta.content : null;
}

let gis: Promise<Gis> | null = null;

function loadGis(): Promise<Gis> {
  gis ??= new Promise<Gis>((resolve, reject) => {
    const script = document.createElement('script');
    script.src = 'https://accounts.google.com/gsi/client';
    script.async = true;
    script.onload = () => {
      const g = (window as unknown as { google?: Gis }).google;
      if (g) resolve(g);
      else reject(new Error('Google sign-in did not load.'));
    };
    script.onerror = () => {
      gis = null;
      reject(new Error('Google sign-in could not be loaded. Check your connection, or sign in with your password.'));
    };
    document.head.append(script);
  });
  return gis;
}

export function GoogleSignIn({ onSignedIn }: { onSignedIn: (user: User) => void }) {
  const id = googleClientId();
  const ref = useRef<HTMLDivElement>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    if (!id) return;
    let live = true;
    loadGis().then(
      (g) => {
        if (!live || !ref.current) return;
        g.accounts.id.initialize({
          client_id: id,
          callback: (response) => {
            client.signInWithGoogle(response.credential).then(onSignedIn, setError);
          },
        });
        const dark = document.documentElement.dataset.theme === 'dark';
        g.accounts.id.renderButton(ref.current, {
          type: 'standard',
          theme: dark ? 'filled_black' : 'outline',
          text: 'signin_with',
          size: 'large',
        });
      },
      (e: unknown) => live && setError(e),
    );
    return () => {
      live = false;
    };
  }, [id, onSignedIn]);
  if (!id) return null;
  return (
    <div className="google-signin">
      <p className="muted">or</p>
      <div ref={ref} />
      <ProblemNotice problem={error} />
    </div>
  );
}
