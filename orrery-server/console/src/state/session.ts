// The console's one ApiClient, its endpoints, and React's view of the session.

import { useSyncExternalStore } from 'react';
import { ApiClient, type SessionState } from '../api/client';
import { endpoints } from '../api/endpoints';
import { setThemePreference } from './theme';

export const client = new ApiClient({
  fetch: (input, init) => window.fetch(input, init),
  setTimeout: (fn, ms) => window.setTimeout(fn, ms),
  clearTimeout: (h) => window.clearTimeout(h as number | undefined),
  locks: typeof navigator !== 'undefined' && 'locks' in navigator ? navigator.locks : undefined,
  channel: typeof BroadcastChannel !== 'undefined' ? new BroadcastChannel('orrery.session') : undefined,
});

export const api = endpoints(client);

// The theme is saved on the account: a session (here or in another browser) brings it along,
// and this browser keeps it for the first paint of the next visit.
let lastTheme: string | undefined;
client.subscribe(() => {
  const theme = client.getState().user?.theme;
  if (theme && theme !== lastTheme) {
    lastTheme = theme;
    setThemePreference(theme);
  }
});

/** The session, re-rendering on change. */
export function useSession(): SessionState {
  return useSyncExternalStore(client.subscribe, client.getState);
}
