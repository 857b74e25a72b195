-- The account's console theme and when the account last changed (the design's `theme` and
-- `updated_at`). Existing accounts take `system` and their creation time.
alter table users add column theme text not null default 'system'
    check (theme in ('light', 'dark', 'system'));
alter table users add column updated_at timestamptz;
update users set updated_at = created_at;
alter table users alter column updated_at set not null;
