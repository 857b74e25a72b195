-- The mail sent to an account's owner when repeated wrong passwords trip its sign-in throttle.
insert into email_templates (name, subject, html, text, variables, updated_at) values
('signin_throttled',
 'Sign-ins to your Orrery account were slowed down',
 '<p>Hi {{ name }},</p><p>there were {{ failures }} failed attempts to sign in to your Orrery account with a wrong password, so further attempts are slowed down for a while. You can still sign in with the right password; each wait lasts at most a minute.</p><p>If it was not you, your password is still safe, but you may want to <a href="{{ reset_url }}">choose a new one</a>.</p>',
 'Hi {{ name }},

there were {{ failures }} failed attempts to sign in to your Orrery account with a wrong password, so further attempts are slowed down for a while. You can still sign in with the right password; each wait lasts at most a minute.

If it was not you, your password is still safe, but you may want to choose a new one: {{ reset_url }}',
 '["name", "failures", "reset_url"]', (unixepoch() * 1000000));
