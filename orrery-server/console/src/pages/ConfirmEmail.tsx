// `/confirm-email?token=…`: the link mailed to the new address of an email change. It works
// without a session (the mail may be read in another browser) and once; a signed-in account
// that it changed shows the new address at once.

import { useEffect, useState } from 'react';
import { Link, useSearchParams } from 'react-router';
import { ApiProblem } from '../api/problem';
import type { User } from '../api/types';
import { Loading, PageTitle, ProblemNotice } from '../components/ui';
import { confirmEmailOnce } from '../state/account';
import { api, client, useSession } from '../state/session';

type Outcome = { for: string; user: User; error?: undefined } | { for: string; user?: undefined; error: unknown };

export function Component() {
  const [params] = useSearchParams();
  const token = params.get('token') ?? '';
  const { status, user: signedIn } = useSession();
  const [attempt, setAttempt] = useState(0);
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  const key = `${attempt}#${token}`;

  useEffect(() => {
    if (!token) return;
    let live = true;
    confirmEmailOnce(token, api.auth.confirmEmail).then(
      (user) => live && setOutcome({ for: key, user }),
      (error: unknown) => live && setOutcome({ for: key, error }),
    );
    return () => {
      live = false;
    };
  }, [token, key]);

  // The account signed in here is the one that changed: show its new address everywhere.
  const confirmed = outcome?.for === key ? outcome.user : undefined;
  useEffect(() => {
    if (confirmed && signedIn && signedIn.id === confirmed.id && signedIn.email !== confirmed.email) {
      client.setUser(confirmed);
    }
  }, [confirmed, signedIn]);

  const settingsLink = <Link to="/settings">Ask again in your settings</Link>;
  let body;
  if (!token) {
    body = (
      <div className="notice notice-error" role="alert">
        <p>This address has no confirmation token. Open the link from the mail, or ask for a new one.</p>
        <p>{settingsLink}</p>
      </div>
    );
  } else if (outcome === null || outcome.for !== key) {
    body = <Loading label="Confirming your new email…" />;
  } else if (outcome.user) {
    const here = status === 'signed-in' && signedIn?.id === outcome.user.id;
    body = (
      <div className="notice notice-ok" role="status">
        <p>
          Your email is now <strong className="email">{outcome.user.email}</strong>.
        </p>
        <p>
          {here ? (
            <Link className="button primary" to="/settings">
              Back to your settings
            </Link>
          ) : (
            <Link className="button primary" to="/signin">
              Sign in with it
            </Link>
          )}
        </p>
      </div>
    );
  } else if (outcome.error instanceof ApiProblem && outcome.error.type === '/problems/invalid-token') {
    body = (
      <div className="notice notice-error" role="alert">
        <p>This link is invalid, already used or expired: your email did not change.</p>
        <p>{settingsLink}</p>
      </div>
    );
  } else if (outcome.error instanceof ApiProblem && outcome.error.status === 409) {
    body = (
      <div className="notice notice-error" role="alert">
        <p>Another account took this address since you asked for it: your email did not change.</p>
        <p>{settingsLink}</p>
      </div>
    );
  } else {
    body = <ProblemNotice problem={outcome.error} onRetry={() => setAttempt((a) => a + 1)} />;
  }
  return (
    <div className="narrow">
      <PageTitle>Confirm your new email</PageTitle>
      {body}
    </div>
  );
}
