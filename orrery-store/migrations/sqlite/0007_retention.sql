-- Retention: the job that prunes old rows rolls API calls and `graph.created` events up into
-- daily totals before deleting them, so usage history, quotas and admin figures stay right.
-- A call lives either as a row of api_key_usage or inside one of these totals, never both (the
-- move is one transaction).
create table usage_daily (
    user_id blob not null references users (id) on delete cascade,
    -- the key the calls were made with; the nil uuid for calls made without one (sessions).
    -- no foreign key: a key's totals outlive nothing but its account.
    api_key_id blob not null,
    -- UTC days since the Unix epoch.
    day integer not null,
    api_calls integer not null,
    duration_ms integer not null,
    graphs_created integer not null,
    constraint usage_daily_pkey primary key (user_id, day, api_key_id)
) strict;

create index usage_daily_day on usage_daily (day);

-- what the job looks for: finished mails, spent tokens and old webhook receipts by age.
create index email_outbox_finished on email_outbox (created_at) where status <> 'pending';
create index refresh_tokens_expires on refresh_tokens (expires_at);
create index password_reset_tokens_expires on password_reset_tokens (expires_at);
create index email_change_tokens_expires on email_change_tokens (expires_at);
create index processed_webhook_events_at on processed_webhook_events (processed_at);
