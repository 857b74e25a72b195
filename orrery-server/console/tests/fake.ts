// A scripted fetch and a manual clock for the client's tests.

import { ApiClient, type Environment } from '../src/api/client';

export interface Call {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: unknown;
  keepalive: boolean;
}

type Responder = (call: Call) => Response | Promise<Response>;

export function json(status: number, body: unknown, type = 'application/json'): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': type } });
}

export function problem(status: number, type: string, detail: string, extra: Record<string, unknown> = {}): Response {
  return json(status, { type, title: type, status, detail, ...extra }, 'application/problem+json');
}

/** A client over routes `"METHOD /path"` → responder; unknown routes answer 404. */
export function fakeClient(routes: Record<string, Responder | Responder[]>) {
  const calls: Call[] = [];
  const timers: { fn: () => void; ms: number; id: number }[] = [];
  let nextId = 1;
  const posted: unknown[] = [];
  const listeners: ((e: { data: unknown }) => void)[] = [];
  const env: Environment = {
    fetch: async (input, init) => {
      const headers = Object.fromEntries(Object.entries((init?.headers ?? {}) as Record<string, string>));
      const call: Call = {
        url: typeof input === 'string' ? input : input instanceof URL ? input.href : input.url,
        method: init?.method ?? 'GET',
        headers,
        body: typeof init?.body === 'string' ? JSON.parse(init.body) : null,
        keepalive: init?.keepalive ?? false,
      };
      calls.push(call);
      const key = `${call.method} ${call.url.split('?')[0]}`;
      const route = routes[key];
      const responder = Array.isArray(route) ? route.shift() : route;
      if (!responder) return problem(404, '/problems/not-found', `${key} not found`);
      return responder(call);
    },
    setTimeout: (fn, ms) => {
      const id = nextId++;
      timers.push({ fn, ms, id });
      return id;
    },
    clearTimeout: (h) => {
      const i = timers.findIndex((t) => t.id === h);
      if (i >= 0) timers.splice(i, 1);
    },
    channel: {
      postMessage: (m) => posted.push(m),
      addEventListener: (_type, l) => listeners.push(l),
    },
  };
  const client = new ApiClient(env);
  return {
    client,
    calls,
    timers,
    posted,
    /** Delivers a message as another tab would. */
    receive: (data: unknown) => listeners.forEach((l) => l({ data })),
  };
}

export const USER = {
  id: 'u1',
  email: 'ada@example.com',
  name: 'Ada',
  role: 'user',
  plan: 'free',
  effective_plan: 'pro',
  trial_ends_at: null,
  created_at: '2026-01-01T00:00:00Z',
};

export const session = (token: string, expires_in = 900) => () => json(200, { user: USER, token, expires_in, success: true });
export const refreshed = (token: string, expires_in = 900) => () => json(200, { token, expires_in, success: true });
