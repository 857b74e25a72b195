import { describe, expect, it } from 'vitest';
import { ApiProblem, fieldError, formError } from '../src/api/problem';
import { withQuery } from '../src/api/client';
import { endpoints } from '../src/api/endpoints';
import { fakeClient, json, problem, refreshed, session, USER } from './fake';

describe('sessions', () => {
  it('sign-in asks for the refresh cookie and keeps the access token in memory', async () => {
    const { client, calls } = fakeClient({
      'POST /api/auth/signin': session('t1'),
      'GET /api/keys': () => json(200, { keys: [] }),
    });
    const user = await client.signIn('ada@example.com', 'correct horse');
    expect(user.email).toBe('ada@example.com');
    expect(calls[0]?.headers['X-Refresh-Cookie']).toBe('1');
    expect(calls[0]?.headers.Authorization).toBeUndefined();
    expect(calls[0]?.body).toEqual({ email: 'ada@example.com', password: 'correct horse' });
    expect(client.getState()).toEqual({ status: 'signed-in', user: USER });
    await endpoints(client).keys.list();
    expect(calls[1]?.headers.Authorization).toBe('Bearer t1');
  });

  it('accepts the access token under either name', async () => {
    const { client, calls } = fakeClient({
      'POST /api/auth/signup': () => json(201, { user: USER, access_token: 'a1', expires_in: 900 }),
      'GET /api/usage': () => json(200, {}),
    });
    await client.signUp('Ada', 'ada@example.com', 'correct horse');
    await endpoints(client).usage.current();
    expect(calls[1]?.headers.Authorization).toBe('Bearer a1');
  });

  it('page load restores the session from the cookie with an empty body', async () => {
    const { client, calls } = fakeClient({
      'POST /api/auth/refresh': refreshed('t2'),
      'GET /api/auth/me': () => json(200, { user: USER, success: true }),
    });
    expect(client.getState().status).toBe('restoring');
    await client.restore();
    expect(calls[0]?.body).toEqual({});
    expect(calls[0]?.headers['X-Refresh-Cookie']).toBe('1');
    expect(calls[0]?.keepalive).toBe(true);
    expect(calls[1]?.headers.Authorization).toBe('Bearer t2');
    expect(client.getState()).toEqual({ status: 'signed-in', user: USER });
  });

  it('without a cookie page load ends signed out', async () => {
    const { client } = fakeClient({
      'POST /api/auth/refresh': () => problem(401, '/problems/unauthorized', 'the refresh token is invalid or has expired'),
    });
    await client.restore();
    expect(client.getState()).toEqual({ status: 'signed-out', user: null });
  });

  it('an unreachable server on page load offers a retry instead of signing out', async () => {
    const { client } = fakeClient({
      'POST /api/auth/refresh': () => Promise.reject(new TypeError('Failed to fetch')),
    });
    await client.restore();
    expect(client.getState().status).toBe('unavailable');
  });

  it('a 401 refreshes once and repeats the request with the new token', async () => {
    const { client, calls } = fakeClient({
      'POST /api/auth/signin': session('old'),
      'GET /api/keys': [() => problem(401, '/problems/unauthorized', 'expired'), () => json(200, { keys: [] })],
      'POST /api/auth/refresh': refreshed('new'),
    });
    await client.signIn('a@b.co', 'password1');
    await endpoints(client).keys.list();
    expect(calls.map((c) => `${c.method} ${c.url}`)).toEqual([
      'POST /api/auth/signin',
      'GET /api/keys',
      'POST /api/auth/refresh',
      'GET /api/keys',
    ]);
    expect(calls[3]?.headers.Authorization).toBe('Bearer new');
  });

  it('concurrent 401s share one refresh (a refresh token is single use)', async () => {
    let refreshes = 0;
    const { client } = fakeClient({
      'POST /api/auth/signin': session('old'),
      'GET /api/keys': [
        () => problem(401, '/problems/unauthorized', 'expired'),
        () => problem(401, '/problems/unauthorized', 'expired'),
        () => json(200, { keys: [] }),
        () => json(200, { keys: [] }),
      ],
      'POST /api/auth/refresh': async () => {
        refreshes += 1;
        await new Promise((r) => setTimeout(r, 5));
        return refreshed('new')();
      },
    });
    await client.signIn('a@b.co', 'password1');
    const api = endpoints(client);
    await Promise.all([api.keys.list(), api.keys.list()]);
    expect(refreshes).toBe(1);
  });

  it('a failed refresh after a 401 signs out and reports the 401', async () => {
    const { client } = fakeClient({
      'POST /api/auth/signin': session('old'),
      'GET /api/keys': () => problem(401, '/problems/unauthorized', 'expired'),
      'POST /api/auth/refresh': () => problem(401, '/problems/unauthorized', 'the refresh token was already used'),
    });
    await client.signIn('a@b.co', 'password1');
    await expect(endpoints(client).keys.list()).rejects.toMatchObject({ status: 401 });
    expect(client.getState().status).toBe('signed-out');
  });

  it('wrong credentials are a problem, not a refresh', async () => {
    const { client, calls } = fakeClient({
      'POST /api/auth/signin': () => problem(401, '/problems/invalid-credentials', 'invalid email or password'),
    });
    await expect(client.signIn('a@b.co', 'nope-nope')).rejects.toMatchObject({ message: 'Invalid email or password.' });
    expect(calls).toHaveLength(1);
    expect(client.getState().status).toBe('restoring');
  });

  it('refreshes a minute before the access token expires', async () => {
    const { client, timers, calls } = fakeClient({
      'POST /api/auth/signin': session('t1', 900),
      'POST /api/auth/refresh': refreshed('t2', 900),
    });
    await client.signIn('a@b.co', 'password1');
    expect(timers).toHaveLength(1);
    expect(timers[0]?.ms).toBe(840_000);
    timers[0]?.fn();
    await new Promise((r) => setTimeout(r, 0));
    expect(calls.at(-1)?.url).toBe('/api/auth/refresh');
    // The next refresh is scheduled, the old timer gone.
    expect(timers.map((t) => t.ms)).toEqual([840_000]);
  });

  it('sign-out clears the cookie on the server and tells other tabs', async () => {
    const { client, calls, posted, timers } = fakeClient({
      'POST /api/auth/signin': session('t1'),
      'POST /api/auth/signout': () => json(200, { success: true }),
    });
    await client.signIn('a@b.co', 'password1');
    await client.signOut();
    expect(calls[1]?.headers['X-Refresh-Cookie']).toBe('1');
    expect(calls[1]?.body).toEqual({});
    expect(posted).toEqual(['signed-out']);
    expect(timers).toHaveLength(0);
    expect(client.getState().status).toBe('signed-out');
  });

  it('a sign-out in another tab ends this one', async () => {
    const { client, receive } = fakeClient({ 'POST /api/auth/signin': session('t1') });
    await client.signIn('a@b.co', 'password1');
    receive('signed-out');
    expect(client.getState().status).toBe('signed-out');
  });
});

describe('problems', () => {
  it('a field problem is shown at its field, without the field name', async () => {
    const { client } = fakeClient({
      'POST /api/auth/signup': () =>
        problem(422, '/problems/invalid-field', 'password: must be 8 to 256 characters', { field: 'password' }),
    });
    const error = await client.signUp('Ada', 'a@b.co', 'short').catch((e: unknown) => e);
    expect(fieldError(error, 'password')).toBe('Must be 8 to 256 characters.');
    expect(fieldError(error, 'email')).toBeUndefined();
    expect(formError(error, ['name', 'email', 'password'])).toBeUndefined();
    expect(formError(error, ['name'])).toBe('Must be 8 to 256 characters.');
  });

  it('a 402 names the plan that lifts the limit', async () => {
    const { client } = fakeClient({
      'POST /api/auth/signin': session('t1'),
      'POST /api/keys': () =>
        problem(402, '/problems/plan-limit', 'the free plan allows 1 API key', {
          limit: 'api_keys',
          plan: 'free',
          allowed: 1,
          needed: 2,
          upgrade_to: 'pro',
        }),
    });
    await client.signIn('a@b.co', 'password1');
    const error = (await endpoints(client).keys.create('ci').catch((e: unknown) => e)) as ApiProblem;
    expect(error.planLimit).toEqual({ limit: 'api_keys', plan: 'free', allowed: 1, upgradeTo: 'pro' });
    expect(error.retryable).toBe(false);
    expect(error.message).toBe('The free plan allows 1 API key.');
  });

  it('a proxy error page and an unreachable server are retryable', async () => {
    const { client } = fakeClient({
      'POST /api/auth/signin': session('t1'),
      'GET /api/usage': () => new Response('<html>Bad gateway</html>', { status: 502, statusText: 'Bad Gateway' }),
      'GET /api/keys': () => Promise.reject(new TypeError('Failed to fetch')),
    });
    await client.signIn('a@b.co', 'password1');
    const api = endpoints(client);
    const bad = (await api.usage.current().catch((e: unknown) => e)) as ApiProblem;
    expect(bad.status).toBe(502);
    expect(bad.retryable).toBe(true);
    const offline = (await api.keys.list().catch((e: unknown) => e)) as ApiProblem;
    expect(offline.status).toBe(0);
    expect(offline.retryable).toBe(true);
  });

  it('diagnostics of an invalid graph come with the problem', async () => {
    const diagnostics = [{ code: 'E0004', severity: 'error', message: 'edge points at unknown node `b`', help: '', location: { edge: 0 } }];
    const { client } = fakeClient({
      'POST /api/auth/signin': session('t1'),
      'POST /api/graphs': () => problem(422, '/problems/invalid-graph', 'the graph has 1 error(s)', { diagnostics }),
    });
    await client.signIn('a@b.co', 'password1');
    const error = (await endpoints(client).graphs.create({ name: 'x', graph_data: {} }).catch((e: unknown) => e)) as ApiProblem;
    expect(error.extensions.diagnostics).toEqual(diagnostics);
    expect(error.field).toBeNull();
  });
});

describe('requests', () => {
  it('query strings leave out empty values', () => {
    expect(withQuery('/api/graphs', { page: 2, search: '', include_public: undefined, limit: 20 })).toBe('/api/graphs?page=2&limit=20');
    expect(withQuery('/api/graphs', { search: 'a b&c' })).toBe('/api/graphs?search=a+b%26c');
    expect(withQuery('/api/graphs', {})).toBe('/api/graphs');
  });

  it('path parameters are escaped', async () => {
    const { client, calls } = fakeClient({ 'POST /api/auth/signin': session('t1') });
    await client.signIn('a@b.co', 'password1');
    await endpoints(client).agents.get('a/b').catch(() => undefined);
    expect(calls[1]?.url).toBe('/api/agents/a%2Fb');
  });
});
