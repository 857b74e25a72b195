-- Mail templates can be switched off: a switched-off template sends nothing (the outbox gives
-- its mails up, saying why). Every template stays on.
alter table email_templates add column is_active integer not null default 1
    check (is_active in (0, 1));
