// The API's wire types, as orrery-server's handlers (src/http/*.rs) define them.

export type Plan = 'free' | 'pro' | 'enterprise';
export type Role = 'user' | 'admin';

export interface User {
  id: string;
  email: string;
  name: string;
  role: Role;
  plan: Plan;
  effective_plan: Plan;
  trial_ends_at: string | null;
  created_at: string;
  updated_at?: string;
  /** How the account signs in: `email`, `google` or `email+google`. */
  provider?: string;
  theme?: 'light' | 'dark' | 'system';
}

/** Sign-up, sign-in and Google sign-in. With `X-Refresh-Cookie: 1` the refresh token is a cookie. */
export interface AuthResponse {
  user: User;
  /** The access token (`access_token` in the cookie contract's wording). */
  token?: string;
  access_token?: string;
  expires_in: number;
}

export interface RefreshResponse {
  token?: string;
  access_token?: string;
  expires_in: number;
}

export interface Success {
  success: boolean;
  message?: string;
}

export interface GraphSummary {
  id: string;
  owner_id: string;
  name: string;
  description: string | null;
  is_custom_agent: boolean;
  agent_id: string | null;
  is_public: boolean;
  version: string;
  node_count: number;
  created_at: string;
  updated_at: string;
}

export interface Diagnostic {
  code: string;
  severity: 'error' | 'warning';
  message: string;
  help: string;
  location: Record<string, unknown>;
}

export interface Graph extends GraphSummary {
  version_count: number;
  graph_data: unknown;
  warnings?: Diagnostic[];
}

export interface GraphList {
  graphs: GraphSummary[];
  total: number;
  page: number;
}

export interface NewGraph {
  name: string;
  description?: string | null;
  graph_data: unknown;
  is_custom_agent?: boolean;
  agent_id?: string;
  is_public?: boolean;
}

export interface Version {
  version: string;
  parent: string | null;
  author_id: string;
  created_at: string;
  node_count: number;
}

export interface VersionList {
  versions: Version[];
  total: number;
  page: number;
}

export interface ValidateResponse {
  valid: boolean;
  digest: string;
  diagnostics: Diagnostic[];
}

export interface Port {
  name: string;
  type: string;
}

export interface AgentList {
  agents: GraphSummary[];
  total: number;
  page: number;
}

export interface AgentDetail {
  agent: GraphSummary;
  interface: { inputs: Port[]; outputs: Port[] };
  caller_count: number;
}

export interface Caller {
  graph_id: string;
  version: string;
  node: string;
  pinned: string | null;
}

export interface CallerList {
  callers: Caller[];
  hidden_callers: number;
}

export interface ApiKey {
  id: string;
  name: string;
  prefix: string;
  created_at: string;
  last_used_at: string | null;
  revoked_at: string | null;
}

export interface NewKey {
  key: ApiKey;
  secret: string;
}

/** A plan's limits; `null` is unlimited. */
export interface Limits {
  graphs?: number | null;
  nodes_per_graph?: number | null;
  nesting_depth?: number | null;
  api_calls_per_month?: number | null;
  api_keys?: number | null;
  [other: string]: unknown;
}

export interface Usage {
  plan: Plan;
  current_period: {
    start: string;
    end: string;
    api_calls: number;
    graphs_created: number;
    graphs: number;
    monitoring_time: number;
    stored_bytes: number;
  };
  /** The design's three limits; `null` is unlimited. */
  limits: { api_calls: number | null; graphs_created: number | null; monitoring_time: number | null };
  /** Every limit of the plan. */
  plan_limits: Limits;
  usage_remaining: { api_calls: number | null; graphs: number | null; stored_bytes: number | null };
  trial_days_remaining: number | null;
}

export type Granularity = 'day' | 'week' | 'month';

export interface UsageHistory {
  granularity: Granularity;
  start_date: string;
  end_date: string;
  history: { period_start: string; api_calls: number }[];
  /** Every period of the range, oldest first, zeros included. */
  data: { date: string; api_calls: number; graphs_created: number }[];
}

export interface Subscription {
  plan: Plan;
  status: string;
  current_period_end: string | null;
  cancel_at_period_end: boolean;
}

export interface BillingState {
  plan: Plan;
  effective_plan: Plan;
  trial_ends_at: string | null;
  subscription: Subscription | null;
  billing_enabled: boolean;
}

export interface Invoice {
  id: string;
  number: string | null;
  status: string;
  total: number;
  amount_due: number;
  amount_paid: number;
  currency: string;
  created: string;
  period_start: string;
  period_end: string;
  hosted_invoice_url: string | null;
  invoice_pdf: string | null;
}

export interface UserList {
  users: User[];
  total: number;
  page: number;
  total_pages: number;
}

export interface Stats {
  users: {
    total: number;
    active_last_30_days: number;
    pro_users: number;
    enterprise_users: number;
    trial_users: number;
    /** Of the accounts whose trial has ended, the fraction now paying (0–1). */
    conversion_rate: number;
  };
  revenue: {
    mrr: number;
    arr: number;
    growth_rate: number;
    currency: string;
    active_subscriptions: number;
  };
  usage: {
    total_graphs: number;
    total_api_calls: number;
    api_calls_last_30_days: number;
    avg_session_duration: number;
  };
  generated_at: string;
  cached: boolean;
}

export interface Check {
  ok: boolean;
  configured: boolean;
  detail: string;
}

export interface Health {
  status: string;
  version: string;
  uptime_seconds: number;
  database: Check;
  redis: Check;
  smtp: Check;
  stripe: Check;
  outbox: { pending: number; failed: number; sent: number };
}

export interface MailTemplate {
  name: string;
  subject: string;
  html: string;
  text: string;
  variables: string[];
  /** Switched off, the template sends nothing. */
  is_active: boolean;
}
