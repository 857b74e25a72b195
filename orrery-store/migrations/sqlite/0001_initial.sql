-- the first schema of orrery-store on sqlite.
--
-- conventions (the postgres schema has the same tables, columns and constraint names):
-- - tables are strict, so a value of the wrong type is an error, not a silent conversion;
-- - ids are 16-byte uuid blobs, digests and token hashes 32-byte sha-256 blobs;
-- - timestamps are integer microseconds since the unix epoch, utc: sqlx would write rfc 3339
--   text, whose order is not the time order once fractions of seconds are trimmed;
-- - json is text checked with json_valid (postgres has jsonb);
-- - everything an account owns goes with it (on delete cascade), so deleting a user is one
--   statement.

create table users (
    id blob primary key not null,
    -- stored lowercased by the store, so uniqueness is case-insensitive.
    email text not null,
    name text not null,
    -- argon2id phc string; null for google-only accounts.
    password_hash text,
    google_sub text,
    role text not null check (role in ('user', 'admin')),
    plan text not null check (plan in ('free', 'pro', 'enterprise')),
    trial_ends_at integer,
    billing_customer_id text,
    created_at integer not null,
    last_seen_at integer,
    constraint users_email_key unique (email),
    constraint users_google_sub_key unique (google_sub),
    constraint users_billing_customer_id_key unique (billing_customer_id)
) strict;

-- newest first, stable: the admin list.
create index users_created on users (created_at desc, id desc);
create index users_trial_ends on users (trial_ends_at) where trial_ends_at is not null;

create table graphs (
    id blob primary key not null,
    owner_id blob not null references users (id) on delete cascade,
    name text not null,
    description text,
    -- the id the graph is published under as a custom agent; unique across accounts, since
    -- subgraph nodes name agents by id alone.
    agent_id text,
    is_public integer not null check (is_public in (0, 1)),
    -- digest of the current version.
    head blob not null,
    version_count integer not null,
    node_count integer not null,
    -- the current document as saved (positions and ui data included).
    graph_data text not null check (json_valid(graph_data)),
    created_at integer not null,
    updated_at integer not null,
    constraint graphs_owner_name_key unique (owner_id, name)
) strict;

create unique index graphs_agent_id_key on graphs (agent_id) where agent_id is not null;
-- "most recently changed first, then by id" is the order of every graph list.
create index graphs_owner_updated on graphs (owner_id, updated_at desc, id desc);
create index graphs_public_updated on graphs (updated_at desc, id desc) where is_public = 1;

-- every save of a document: immutable rows, numbered per graph. a digest may come back (a
-- graph returned to earlier content), so the digest is indexed, not unique.
create table graph_versions (
    graph_id blob not null references graphs (id) on delete cascade,
    seq integer not null,
    digest blob not null,
    parent blob,
    -- no foreign key: the author of a version stays recorded after their account is gone.
    author_id blob not null,
    created_at integer not null,
    node_count integer not null,
    -- the document exactly as saved.
    document text not null,
    constraint graph_versions_pkey primary key (graph_id, seq)
) strict;

create index graph_versions_digest on graph_versions (graph_id, digest);

-- which agents the head version of each graph uses: rewritten on every save, so "who calls
-- agent x" is one indexed query. no key on (graph_id, node): the store keeps documents that
-- do not validate, duplicate node ids included.
create table graph_agent_refs (
    graph_id blob not null references graphs (id) on delete cascade,
    node text not null,
    agent_id text not null,
    -- the pinned digest, or null for "latest".
    pinned blob
) strict;

create index graph_agent_refs_agent on graph_agent_refs (agent_id);
create index graph_agent_refs_graph on graph_agent_refs (graph_id);

-- the payment provider's latest state, one row per account.
create table subscriptions (
    user_id blob primary key not null references users (id) on delete cascade,
    subscription_id text not null,
    customer_id text not null,
    plan text not null check (plan in ('free', 'pro', 'enterprise')),
    status text not null check (status in ('trialing', 'active', 'past_due', 'unpaid',
        'canceled', 'incomplete', 'incomplete_expired', 'paused')),
    current_period_end integer,
    cancel_at_period_end integer not null check (cancel_at_period_end in (0, 1)),
    -- when the provider produced this state: an older state never replaces a newer one, since
    -- webhooks arrive out of order.
    observed_at integer not null,
    updated_at integer not null,
    constraint subscriptions_subscription_id_key unique (subscription_id)
) strict;

create table processed_webhook_events (
    event_id text primary key not null,
    event_type text not null,
    processed_at integer not null
) strict;

create table monitoring_logs (
    id blob primary key not null,
    user_id blob references users (id) on delete cascade,
    -- an event outlives the graph it was about.
    graph_id blob references graphs (id) on delete set null,
    kind text not null,
    data text not null check (json_valid(data)),
    at integer not null
) strict;

create index monitoring_logs_user_at on monitoring_logs (user_id, at desc, id desc);
create index monitoring_logs_graph_at on monitoring_logs (graph_id, at desc, id desc);
create index monitoring_logs_at on monitoring_logs (at desc, id desc);

create table api_keys (
    id blob primary key not null,
    user_id blob not null references users (id) on delete cascade,
    name text not null,
    -- the first characters of the key, shown to recognise it; the key itself is never stored.
    prefix text not null,
    -- sha-256 of the key: keys are long random strings, so a fast hash is enough.
    key_hash blob not null,
    created_at integer not null,
    last_used_at integer,
    revoked_at integer,
    constraint api_keys_key_hash_key unique (key_hash)
) strict;

create index api_keys_user on api_keys (user_id, created_at desc);

-- one row per authenticated api call, for per-period counts and history.
create table api_key_usage (
    id integer primary key,
    user_id blob not null references users (id) on delete cascade,
    api_key_id blob references api_keys (id) on delete cascade,
    -- the route pattern, never the raw path (which may hold ids of other accounts' rows).
    endpoint text not null,
    method text not null,
    status integer not null,
    at integer not null,
    duration_ms integer not null
) strict;

create index api_key_usage_user_at on api_key_usage (user_id, at);
create index api_key_usage_key_at on api_key_usage (api_key_id, at) where api_key_id is not null;
create index api_key_usage_at on api_key_usage (at);

create table email_templates (
    name text primary key not null,
    subject text not null,
    html text not null,
    text text not null,
    -- a json array of the variable names the template may use.
    variables text not null check (json_valid(variables)),
    updated_at integer not null
) strict;

-- refresh tokens rotate: each use marks the token used and the caller issues the next one in
-- the same family; using a used token again revokes the whole family (theft detection).
create table refresh_tokens (
    token_hash blob primary key not null,
    family blob not null,
    user_id blob not null references users (id) on delete cascade,
    expires_at integer not null,
    created_at integer not null,
    used_at integer,
    revoked_at integer
) strict;

create index refresh_tokens_family on refresh_tokens (family);
create index refresh_tokens_user on refresh_tokens (user_id);

create table password_reset_tokens (
    token_hash blob primary key not null,
    user_id blob not null references users (id) on delete cascade,
    expires_at integer not null,
    created_at integer not null,
    used_at integer
) strict;

create index password_reset_tokens_user on password_reset_tokens (user_id);

-- mails to send: queued with the change that causes them, sent by a job that leases rows, so
-- several server instances never send one twice and a crash only delays a mail.
create table email_outbox (
    id blob primary key not null,
    user_id blob references users (id) on delete cascade,
    recipient text not null,
    template text not null,
    variables text not null check (json_valid(variables)),
    -- at most one mail per key is ever queued (a reminder job that runs twice sends once).
    dedupe_key text,
    status text not null check (status in ('pending', 'sent', 'failed')),
    attempts integer not null,
    next_attempt_at integer not null,
    -- a leased mail is pending with a lease in the future; an expired lease frees it again.
    lease_owner text,
    lease_until integer,
    last_error text,
    created_at integer not null,
    sent_at integer,
    constraint email_outbox_dedupe_key_key unique (dedupe_key)
) strict;

create index email_outbox_due on email_outbox (next_attempt_at) where status = 'pending';
create index email_outbox_created on email_outbox (created_at desc, id desc);

-- the transactional mails, in minijinja syntax; `variables` lists what each one may use, so the
-- admin console can show it and the mailer can refuse a template that asks for more.
insert into email_templates (name, subject, html, text, variables, updated_at) values
('welcome',
 'Welcome to Orrery, {{ name }}',
 '<p>Hi {{ name }},</p><p>your Orrery account is ready. Your trial of the pro plan runs until {{ trial_ends_at }}.</p><p><a href="{{ app_url }}">Open Orrery</a></p>',
 'Hi {{ name }},

your Orrery account is ready. Your trial of the pro plan runs until {{ trial_ends_at }}.

Open Orrery: {{ app_url }}',
 '["name", "trial_ends_at", "app_url"]', (unixepoch() * 1000000)),
('trial_ending',
 'Your Orrery trial ends in {{ days_left }} days',
 '<p>Hi {{ name }},</p><p>your trial of the pro plan ends on {{ trial_ends_at }}. Choose a plan to keep your private graphs and custom agents.</p><p><a href="{{ upgrade_url }}">Choose a plan</a></p>',
 'Hi {{ name }},

your trial of the pro plan ends on {{ trial_ends_at }}. Choose a plan to keep your private graphs and custom agents.

Choose a plan: {{ upgrade_url }}',
 '["name", "days_left", "trial_ends_at", "upgrade_url"]', (unixepoch() * 1000000)),
('trial_expired',
 'Your Orrery trial has ended',
 '<p>Hi {{ name }},</p><p>your trial of the pro plan has ended and your account is on the free plan. Your graphs are safe.</p><p><a href="{{ upgrade_url }}">Upgrade</a></p>',
 'Hi {{ name }},

your trial of the pro plan has ended and your account is on the free plan. Your graphs are safe.

Upgrade: {{ upgrade_url }}',
 '["name", "upgrade_url"]', (unixepoch() * 1000000)),
('plan_upgraded',
 'You are now on the Orrery {{ plan }} plan',
 '<p>Hi {{ name }},</p><p>your account moved from the {{ previous_plan }} plan to the {{ plan }} plan. Thank you.</p><p><a href="{{ billing_url }}">Billing</a></p>',
 'Hi {{ name }},

your account moved from the {{ previous_plan }} plan to the {{ plan }} plan. Thank you.

Billing: {{ billing_url }}',
 '["name", "plan", "previous_plan", "billing_url"]', (unixepoch() * 1000000)),
('plan_downgraded',
 'Your Orrery plan changed to {{ plan }}',
 '<p>Hi {{ name }},</p><p>your account moved from the {{ previous_plan }} plan to the {{ plan }} plan. Graphs over the new limits stay readable.</p><p><a href="{{ billing_url }}">Billing</a></p>',
 'Hi {{ name }},

your account moved from the {{ previous_plan }} plan to the {{ plan }} plan. Graphs over the new limits stay readable.

Billing: {{ billing_url }}',
 '["name", "plan", "previous_plan", "billing_url"]', (unixepoch() * 1000000)),
('payment_failed',
 'We could not take your Orrery payment',
 '<p>Hi {{ name }},</p><p>the payment for your {{ plan }} plan did not go through. We will try again; please check your payment method.</p><p><a href="{{ billing_url }}">Update payment method</a></p>',
 'Hi {{ name }},

the payment for your {{ plan }} plan did not go through. We will try again; please check your payment method.

Update payment method: {{ billing_url }}',
 '["name", "plan", "billing_url"]', (unixepoch() * 1000000)),
('subscription_canceled',
 'Your Orrery subscription is canceled',
 '<p>Hi {{ name }},</p><p>your {{ plan }} subscription is canceled{% if ends_at %} and ends on {{ ends_at }}{% endif %}. You keep the free plan.</p><p><a href="{{ billing_url }}">Billing</a></p>',
 'Hi {{ name }},

your {{ plan }} subscription is canceled{% if ends_at %} and ends on {{ ends_at }}{% endif %}. You keep the free plan.

Billing: {{ billing_url }}',
 '["name", "plan", "ends_at", "billing_url"]', (unixepoch() * 1000000)),
('password_reset',
 'Reset your Orrery password',
 '<p>Hi {{ name }},</p><p>someone asked to reset the password of your Orrery account. The link works once, for {{ expires_in_minutes }} minutes.</p><p><a href="{{ reset_url }}">Choose a new password</a></p><p>If it was not you, ignore this mail.</p>',
 'Hi {{ name }},

someone asked to reset the password of your Orrery account. The link works once, for {{ expires_in_minutes }} minutes.

Choose a new password: {{ reset_url }}

If it was not you, ignore this mail.',
 '["name", "reset_url", "expires_in_minutes"]', (unixepoch() * 1000000));
