// One function per API call the console makes, over an ApiClient.

import type { ApiClient } from './client';
import type * as T from './types';

export type Page = { page?: number; limit?: number };

export function endpoints(c: ApiClient) {
  const enc = encodeURIComponent;
  return {
    auth: {
      requestReset: (email: string) =>
        c.request<T.Success>('/api/auth/password-reset', { method: 'POST', body: { email }, auth: false }),
      confirmReset: (token: string, password: string) =>
        c.request<T.Success>('/api/auth/password-reset/confirm', {
          method: 'POST',
          body: { token, password },
          auth: false,
        }),
      /** Follows the link mailed to a new address (no session needed: it may be another browser). */
      confirmEmail: (token: string) =>
        c.request<{ user: T.User }>('/api/auth/email-change/confirm', { method: 'POST', body: { token }, auth: false }),
    },
    me: {
      get: () => c.request<{ user: T.User }>('/api/me'),
      update: (body: { name?: string; theme?: 'light' | 'dark' | 'system' }) =>
        c.request<{ user: T.User }>('/api/me', { method: 'PATCH', body }),
      /** Mails a link to `email`; the account's address changes when it is followed. */
      changeEmail: (email: string) =>
        c.request<{ user: T.User; pending_email: string }>('/api/me', { method: 'PATCH', body: { email } }),
      exportData: () => c.fetchResponse('/api/me/export'),
    },
    graphs: {
      list: (q: Page & { search?: string }) => c.request<T.GraphList>('/api/graphs', { query: q }),
      get: (id: string) => c.request<{ graph: T.Graph }>(`/api/graphs/${enc(id)}`),
      create: (body: T.NewGraph) =>
        c.request<{ graph: T.Graph }>('/api/graphs', { method: 'POST', body }),
      update: (id: string, body: Record<string, unknown>) =>
        c.request<{ graph: T.Graph }>(`/api/graphs/${enc(id)}`, { method: 'PUT', body }),
      remove: (id: string) => c.request<T.Success>(`/api/graphs/${enc(id)}`, { method: 'DELETE' }),
      clone: (id: string, name?: string) =>
        c.request<{ graph: T.Graph }>(`/api/graphs/${enc(id)}/clone`, { method: 'POST', body: name ? { name } : {} }),
      versions: (id: string, q: Page = {}) =>
        c.request<T.VersionList>(`/api/graphs/${enc(id)}/versions`, { query: q }),
      validate: (graph_data: unknown) =>
        c.request<T.ValidateResponse>('/api/graphs/validate', { method: 'POST', body: { graph_data } }),
    },
    agents: {
      list: (q: Page & { search?: string }) => c.request<T.AgentList>('/api/agents', { query: q }),
      get: (agentId: string) => c.request<T.AgentDetail>(`/api/agents/${enc(agentId)}`),
      callers: (agentId: string) => c.request<T.CallerList>(`/api/agents/${enc(agentId)}/callers`),
    },
    keys: {
      list: () => c.request<{ keys: T.ApiKey[] }>('/api/keys'),
      create: (name: string) => c.request<T.NewKey>('/api/keys', { method: 'POST', body: { name } }),
      rotate: (id: string) => c.request<T.NewKey>(`/api/keys/${enc(id)}/rotate`, { method: 'POST' }),
      revoke: (id: string) => c.request<T.Success>(`/api/keys/${enc(id)}`, { method: 'DELETE' }),
    },
    usage: {
      current: () => c.request<T.Usage>('/api/usage'),
      history: (q: { granularity: T.Granularity; start_date?: string; end_date?: string }) =>
        c.request<T.UsageHistory>('/api/usage/history', { query: q }),
    },
    billing: {
      state: () => c.request<T.BillingState>('/api/billing/subscription'),
      checkout: (plan: T.Plan, return_url: string) =>
        c.request<{ checkout_url: string }>('/api/billing/create-checkout', {
          method: 'POST',
          body: { plan, return_url },
        }),
      portal: (return_url: string) =>
        c.request<{ portal_url: string }>('/api/billing/portal', { method: 'POST', body: { return_url } }),
      changePlan: (plan: T.Plan) =>
        c.request<T.BillingState>('/api/billing/change-plan', { method: 'POST', body: { plan } }),
      cancel: () => c.request<T.BillingState>('/api/billing/cancel', { method: 'POST' }),
      resume: () => c.request<T.BillingState>('/api/billing/resume', { method: 'POST' }),
      invoices: () => c.request<{ invoices: T.Invoice[] }>('/api/billing/invoices'),
    },
    admin: {
      stats: (refresh = false) => c.request<T.Stats>('/api/admin/stats', { query: { refresh: refresh || undefined } }),
      health: () => c.request<T.Health>('/api/admin/health'),
      users: (q: Page & { search?: string; plan?: string }) => c.request<T.UserList>('/api/admin/users', { query: q }),
      updateUser: (id: string, body: { plan?: string; role?: string; trial_ends_at?: string | null }) =>
        c.request<{ user: T.User }>(`/api/admin/users/${enc(id)}`, { method: 'PUT', body }),
      exportUser: (id: string) => c.fetchResponse(`/api/admin/users/${enc(id)}/export`),
      templates: () => c.request<{ templates: T.MailTemplate[] }>('/api/admin/email-templates'),
      saveTemplate: (t: T.MailTemplate) =>
        c.request<T.MailTemplate>(`/api/admin/email-templates/${enc(t.name)}`, {
          method: 'PUT',
          body: {
            subject: t.subject,
            html: t.html,
            text: t.text,
            variables: t.variables,
            is_active: t.is_active,
          },
        }),
    },
  };
}

export type Endpoints = ReturnType<typeof endpoints>;
