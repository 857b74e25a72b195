-- Self-service accounts: an email change waits for the link mailed to the new address; a
-- deleted account that had a billing customer leaves an anonymised billing record (no name,
-- no email: what accounting needs to match the provider's invoices); and the mails of both.
create table email_change_tokens (
    token_hash bytea primary key,
    user_id uuid not null references users (id) on delete cascade,
    new_email text not null,
    expires_at timestamptz not null,
    created_at timestamptz not null,
    used_at timestamptz
);

create index email_change_tokens_user on email_change_tokens (user_id);

create table billing_records (
    id uuid primary key,
    customer_id text not null,
    subscription_id text,
    plan text not null check (plan in ('free', 'pro', 'enterprise')),
    account_created_at timestamptz not null,
    deleted_at timestamptz not null
);

insert into email_templates (name, subject, html, text, variables, updated_at) values
('email_change_confirm',
 'Confirm your new email address for Orrery',
 '<p>Hi {{ name }},</p><p>to make {{ new_email }} the email address of your Orrery account, <a href="{{ confirm_url }}">confirm it</a>. The link works for {{ expires_in_minutes }} minutes.</p><p>If you did not ask for this, ignore this mail: nothing changes.</p>',
 'Hi {{ name }},

to make {{ new_email }} the email address of your Orrery account, confirm it: {{ confirm_url }}
The link works for {{ expires_in_minutes }} minutes.

If you did not ask for this, ignore this mail: nothing changes.',
 '["name", "new_email", "confirm_url", "expires_in_minutes"]', now()),
('email_change_notice',
 'Your Orrery email address is about to change',
 '<p>Hi {{ name }},</p><p>someone signed in to your Orrery account asked to change its email address to {{ new_email }}. It changes once the link sent there is followed.</p><p>If it was not you, <a href="{{ reset_url }}">choose a new password</a> now: that also signs out every session.</p>',
 'Hi {{ name }},

someone signed in to your Orrery account asked to change its email address to {{ new_email }}. It changes once the link sent there is followed.

If it was not you, choose a new password now (that also signs out every session): {{ reset_url }}',
 '["name", "new_email", "reset_url"]', now()),
('account_deleted',
 'Your Orrery account was deleted',
 '<p>Hi {{ name }},</p><p>your Orrery account and everything it held (graphs, versions, agents, API keys, usage) were deleted, and any subscription was cancelled. Invoices already issued stay with our payment provider, as accounting law requires.</p><p>Thank you for using Orrery.</p>',
 'Hi {{ name }},

your Orrery account and everything it held (graphs, versions, agents, API keys, usage) were deleted, and any subscription was cancelled. Invoices already issued stay with our payment provider, as accounting law requires.

Thank you for using Orrery.',
 '["name"]', now());
