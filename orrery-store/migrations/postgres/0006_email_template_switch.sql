-- Mail templates can be switched off: a switched-off template sends nothing (the outbox gives
-- its mails up, saying why). Every template stays on.
alter table email_templates add column is_active boolean not null default true;
