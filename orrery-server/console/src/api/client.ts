// The HTTP client and the session it carries.
//
// The access token lives in this object only (never in storage). The refresh token is an
// HttpOnly cookie the browser keeps for /api/auth: requests that open or refresh a session send
// `X-Refresh-Cookie: 1`, and `POST /api/auth/refresh` with `{}` trades the cookie for a new
// access token. The session is restored that way on page load, refreshed a minute before the
// access token expires, and once more when a request answers 401.

import { ApiProblem } from './problem';
import type { AuthResponse, RefreshResponse, User } from './types';

/** Where the session stands. */
export type SessionStatus =
  /** Not known yet: the silent refresh of page load is running. */
  | 'restoring'
  | 'signed-in'
  | 'signed-out'
  /** The server could not be reached to restore the session: offer a retry. */
  | 'unavailable';

export interface SessionState {
  readonly status: SessionStatus;
  readonly user: User | null;
  /** Why the session ended here, when it was more than a sign-out. */
  readonly ended?: 'account-deleted';
}

export interface RequestOptions {
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** Sent as JSON. */
  body?: unknown;
  /** Added to the path as a query string; `undefined`, `null` and `''` are left out. */
  query?: Record<string, string | number | boolean | null | undefined>;
  /** Send the access token and refresh it on a 401 (default true). */
  auth?: boolean;
  headers?: Record<string, string>;
  /** Let the request finish if the page is left (see {@link ApiClient.refresh}). */
  keepalive?: boolean;
}

/** The parts of the platform the client uses, replaceable in tests. */
export interface Environment {
  fetch: typeof fetch;
  setTimeout: (fn: () => void, ms: number) => unknown;
  clearTimeout: (handle: unknown) => void;
  /** Serialises refreshes between tabs, which share the cookie (Web Locks), when present. */
  locks?: { request<T>(name: string, fn: () => Promise<T>): Promise<T> };
  /** Tells other tabs about sign-out, when present. */
  channel?: {
    postMessage(message: unknown): void;
    addEventListener(type: 'message', listener: (e: { data: unknown }) => void): void;
  };
}

/** How long before expiry the access token is refreshed, in seconds. */
export const REFRESH_MARGIN_S = 60;
const REFRESH_HEADER = { 'X-Refresh-Cookie': '1' } as const;

export class ApiClient {
  private token: string | null = null;
  private state: SessionState = { status: 'restoring', user: null };
  private readonly listeners = new Set<() => void>();
  private refreshing: Promise<boolean> | null = null;
  private timer: unknown = null;

  constructor(private readonly env: Environment) {
    if (env.channel) {
      env.channel.addEventListener('message', (e) => {
        if (e.data === 'signed-out') this.end();
      });
    }
  }

  /** The session now; a new object whenever it changes (for `useSyncExternalStore`). */
  getState = (): SessionState => this.state;

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  /** Calls the API and returns its JSON; throws an {@link ApiProblem} on failure. */
  async request<T>(path: string, options: RequestOptions = {}): Promise<T> {
    const response = await this.fetchResponse(path, options);
    if (response.status === 204) return undefined as T;
    return (await response.json()) as T;
  }

  /** Like {@link request}, returning the response itself (downloads, images). */
  async fetchResponse(path: string, options: RequestOptions = {}): Promise<Response> {
    const auth = options.auth ?? true;
    let response = await this.send(path, options, auth ? this.token : null);
    if (response.status === 401 && auth && this.token !== null) {
      if (await this.refresh()) {
        response = await this.send(path, options, this.token);
      } else {
        this.end();
      }
    }
    if (!response.ok) throw await ApiProblem.from(response);
    return response;
  }

  /** Restores the session from the refresh cookie (page load). */
  async restore(): Promise<void> {
    this.set({ status: 'restoring', user: this.state.user });
    try {
      if (!(await this.refresh())) {
        this.end();
        return;
      }
      const { user } = await this.request<{ user: User }>('/api/auth/me');
      this.set({ status: 'signed-in', user });
    } catch (e) {
      if (e instanceof ApiProblem && e.retryable) {
        this.set({ status: 'unavailable', user: null });
        return;
      }
      this.end();
    }
  }

  async signIn(email: string, password: string): Promise<User> {
    return this.open('/api/auth/signin', { email, password });
  }

  async signUp(name: string, email: string, password: string): Promise<User> {
    return this.open('/api/auth/signup', { name, email, password });
  }

  async signInWithGoogle(idToken: string): Promise<User> {
    return this.open('/api/auth/google', { token: idToken });
  }

  /** Ends the session here, in other tabs and on the server (the cookie is cleared). */
  async signOut(): Promise<void> {
    try {
      await this.send('/api/auth/signout', { method: 'POST', body: {}, headers: REFRESH_HEADER }, this.token);
    } catch {
      // Offline: the session still ends here; the refresh token expires on its own.
    }
    this.env.channel?.postMessage('signed-out');
    this.end();
  }

  /**
   * Changes the password with the current one. Every session ends on the server; this one goes
   * on with the tokens (and refresh cookie) the answer carries.
   */
  async changePassword(current_password: string, new_password: string): Promise<User> {
    const response = await this.send(
      '/api/me/password',
      { method: 'POST', body: { current_password, new_password }, headers: REFRESH_HEADER },
      this.token,
    );
    if (!response.ok) throw await ApiProblem.from(response);
    const session = (await response.json()) as AuthResponse;
    this.accept(session);
    this.set({ status: 'signed-in', user: session.user });
    return session.user;
  }

  /**
   * Deletes the account for good, proving it is its owner with `password` (left out for an
   * account that signs in with Google only: the server wants a recent sign-in instead). The
   * session then ends as on sign-out, here and in other tabs, and the server clears the cookie;
   * the state says why (`ended`), so that the console can say it.
   */
  async deleteAccount(password?: string): Promise<void> {
    await this.fetchResponse('/api/me', {
      method: 'DELETE',
      body: password === undefined ? undefined : { password },
      headers: REFRESH_HEADER,
    });
    this.env.channel?.postMessage('signed-out');
    this.end('account-deleted');
  }

  /** Replaces the account shown (after a change that returns it). */
  setUser(user: User): void {
    if (this.state.status === 'signed-in') this.set({ status: 'signed-in', user });
  }

  /**
   * Trades the refresh cookie for a new access token. Concurrent callers share one request, and
   * tabs take turns (a refresh token is single use: two tabs presenting the same one would
   * revoke the session). Answers whether the session goes on; throws when the server could not
   * tell (offline, 5xx). The request outlives the page (`keepalive`): a reload while it runs
   * must not drop the rotated cookie, or the next refresh would present a used token.
   */
  refresh(): Promise<boolean> {
    if (this.refreshing) return this.refreshing;
    const run = async (): Promise<boolean> => {
      const response = await this.send(
        '/api/auth/refresh',
        { method: 'POST', body: {}, headers: REFRESH_HEADER, keepalive: true },
        null,
      );
      // No cookie, a used or expired one, or a request from elsewhere: the session is over.
      if (response.status >= 400 && response.status < 500) return false;
      if (!response.ok) throw await ApiProblem.from(response);
      this.accept(await response.json() as RefreshResponse);
      return true;
    };
    const locked = this.env.locks ? this.env.locks.request('orrery.refresh', run) : run();
    this.refreshing = locked.finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  private async open(path: string, body: unknown): Promise<User> {
    const response = await this.send(path, { method: 'POST', body, headers: REFRESH_HEADER }, null);
    if (!response.ok) throw await ApiProblem.from(response);
    const session = (await response.json()) as AuthResponse;
    this.accept(session);
    this.set({ status: 'signed-in', user: session.user });
    return session.user;
  }

  /** Keeps a new access token and schedules its refresh. */
  private accept(session: RefreshResponse): void {
    const token = session.access_token ?? session.token;
    if (!token) throw new ApiProblem({ status: 500, type: '/problems/internal', title: 'No token', detail: 'the server sent no access token' });
    this.token = token;
    this.env.clearTimeout(this.timer);
    const delay = Math.max(5, session.expires_in - REFRESH_MARGIN_S) * 1000;
    this.timer = this.env.setTimeout(() => {
      this.refresh().then(
        (ok) => {
          if (!ok) this.end();
        },
        () => {
          // Offline when the timer fired: the next request's 401 tries again.
        },
      );
    }, delay);
  }

  private end(ended?: SessionState['ended']): void {
    this.token = null;
    this.env.clearTimeout(this.timer);
    this.timer = null;
    if (ended !== undefined) {
      this.set({ status: 'signed-out', user: null, ended });
    } else if (this.state.status !== 'signed-out' || this.state.user !== null) {
      this.set({ status: 'signed-out', user: null });
    }
  }

  private set(state: SessionState): void {
    this.state = state;
    for (const listener of this.listeners) listener();
  }

  private async send(path: string, options: RequestOptions, token: string | null): Promise<Response> {
    const headers: Record<string, string> = { Accept: 'application/json, application/problem+json', ...options.headers };
    if (options.body !== undefined) headers['Content-Type'] = 'application/json';
    if (token !== null) headers.Authorization = `Bearer ${token}`;
    try {
      return await this.env.fetch(withQuery(path, options.query), {
        method: options.method ?? 'GET',
        headers,
        body: options.body === undefined ? null : JSON.stringify(options.body),
        credentials: 'same-origin',
        keepalive: options.keepalive ?? false,
      });
    } catch {
      throw ApiProblem.network();
    }
  }
}

/** `path?k=v…`, leaving out empty values. */
export function withQuery(path: string, query: RequestOptions['query']): string {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined || v === null || v === '') continue;
    params.set(k, String(v));
  }
  const qs = params.toString();
  return qs ? `${path}?${qs}` : path;
}
