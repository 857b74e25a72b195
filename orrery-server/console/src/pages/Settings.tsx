// `/settings`: the theme (saved on the account and applied in this browser at once), the
// account's name, its email (changed through a link mailed to the new address), its password,
// a download of its data, and deleting the account.

import { useState, type FormEvent } from 'react';
import { fieldError, formError } from '../api/problem';
import type { User } from '../api/types';
import { capitalize, download, Field, formatDate, PageTitle, ProblemNotice } from '../components/ui';
import { CONFIRM_WORD, checkDeletion, checkNewEmail, emailProblem, needsPassword } from '../state/account';
import { api, client, useSession } from '../state/session';
import { setThemePreference, useThemePreference, type ThemePreference } from '../state/theme';
import { useAction } from '../state/useLoad';

const CHOICES: { value: ThemePreference; label: string }[] = [
  { value: 'system', label: 'Same as the system' },
  { value: 'light', label: 'Light' },
  { value: 'dark', label: 'Dark' },
];

export function Component() {
  const pref = useThemePreference();
  const { user } = useSession();
  const saveTheme = useAction(async (theme: ThemePreference) => {
    const r = await api.me.update({ theme });
    client.setUser(r.user);
  });
  return (
    <div className="narrow">
      <PageTitle>Settings</PageTitle>
      <section className="panel" aria-labelledby="theme-title">
        <h2 id="theme-title">Theme</h2>
        <fieldset>
          <legend>Colours of the console</legend>
          {CHOICES.map((c) => (
            <label key={c.value} className="radio">
              <input
                type="radio"
                name="theme"
                value={c.value}
                checked={pref === c.value}
                onChange={() => {
                  setThemePreference(c.value);
                  void saveTheme.run(c.value);
                }}
              />
              <span>{c.label}</span>
            </label>
          ))}
        </fieldset>
        <ProblemNotice problem={saveTheme.error} />
      </section>
      {user && (
        <>
          <Profile name={user.name} />
          <Email current={user.email} />
          <Password />
          <section className="panel" aria-labelledby="account-title">
            <h2 id="account-title">Account</h2>
            <dl className="facts">
              <dt>Email</dt>
              <dd>{user.email}</dd>
              <dt>Plan</dt>
              <dd>{capitalize(user.plan)}</dd>
              <dt>Member since</dt>
              <dd>{formatDate(user.created_at)}</dd>
            </dl>
            <ExportData id={user.id} />
          </section>
          <DeleteAccount user={user} />
        </>
      )}
    </div>
  );
}

function Profile({ name: current }: { name: string }) {
  const [name, setName] = useState(current);
  const [saved, setSaved] = useState(false);
  const save = useAction(async () => {
    const r = await api.me.update({ name });
    client.setUser(r.user);
    return r;
  });
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setSaved(false);
    if (await save.run()) setSaved(true);
  };
  return (
    <section className="panel" aria-labelledby="profile-title">
      <h2 id="profile-title">Profile</h2>
      <form className="form" onSubmit={submit} noValidate>
        <Field label="Name" required value={name} onChange={(e) => setName(e.target.value)} error={fieldError(save.error, 'name')} />
        <button type="submit" className="primary" disabled={save.busy}>
          Save name
        </button>
        {saved && <p role="status">Saved.</p>}
      </form>
      {formError(save.error, ['name']) && <ProblemNotice problem={save.error} />}
    </section>
  );
}

function Email({ current }: { current: string }) {
  const [email, setEmail] = useState('');
  const [invalid, setInvalid] = useState<string | undefined>();
  const [sent, setSent] = useState<string | null>(null);
  const change = useAction((address: string) => api.me.changeEmail(address));
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setSent(null);
    change.reset();
    const problem = checkNewEmail(email, current);
    setInvalid(problem);
    if (problem) return;
    const r = await change.run(email.trim());
    if (r) {
      setEmail('');
      setSent(r.pending_email);
    }
  };
  const atField = invalid ?? emailProblem(change.error);
  return (
    <section className="panel" aria-labelledby="email-title">
      <h2 id="email-title">Email</h2>
      <p>
        Your account's address is <strong className="email">{current}</strong>. A new one takes over once you follow the
        link we mail to it; until then you sign in with this one.
      </p>
      <form className="form" onSubmit={submit} noValidate>
        <Field
          label="New email"
          type="email"
          autoComplete="email"
          required
          value={email}
          onChange={(e) => setEmail(e.target.value)}
          error={atField}
        />
        <button type="submit" className="primary" disabled={change.busy}>
          {change.busy ? 'Sending the link…' : 'Change email'}
        </button>
        {sent && (
          <p role="status">
            We sent a link to <strong className="email">{sent}</strong>; your email changes when you follow it.
          </p>
        )}
      </form>
      {!atField && <ProblemNotice problem={change.error} />}
    </section>
  );
}

function Password() {
  const [current, setCurrent] = useState('');
  const [next, setNext] = useState('');
  const [done, setDone] = useState(false);
  const change = useAction(() => client.changePassword(current, next));
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setDone(false);
    if (await change.run()) {
      setCurrent('');
      setNext('');
      setDone(true);
    }
  };
  return (
    <section className="panel" aria-labelledby="password-title">
      <h2 id="password-title">Password</h2>
      <form className="form" onSubmit={submit} noValidate>
        <Field
          label="Current password"
          type="password"
          autoComplete="current-password"
          required
          value={current}
          onChange={(e) => setCurrent(e.target.value)}
          error={fieldError(change.error, 'current_password')}
        />
        <Field
          label="New password"
          type="password"
          autoComplete="new-password"
          hint="8 to 256 characters. Every other session is signed out."
          required
          value={next}
          onChange={(e) => setNext(e.target.value)}
          error={fieldError(change.error, 'new_password')}
        />
        <button type="submit" className="primary" disabled={change.busy}>
          Change password
        </button>
        {done && <p role="status">Password changed; other sessions are signed out.</p>}
      </form>
      {formError(change.error, ['current_password', 'new_password']) && <ProblemNotice problem={change.error} />}
    </section>
  );
}

function ExportData({ id }: { id: string }) {
  const exporting = useAction(async () => {
    const response = await api.me.exportData();
    download(`orrery-account-${id}.json`, await response.blob());
  });
  return (
    <>
      <button type="button" disabled={exporting.busy} onClick={() => void exporting.run()}>
        Download my data
      </button>
      <ProblemNotice problem={exporting.error} />
    </>
  );
}

function DeleteAccount({ user }: { user: User }) {
  const withPassword = needsPassword(user.provider);
  const [password, setPassword] = useState('');
  const [confirmation, setConfirmation] = useState('');
  const [invalid, setInvalid] = useState<ReturnType<typeof checkDeletion>>({});
  const remove = useAction((p: string | undefined) => client.deleteAccount(p));
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    remove.reset();
    const problems = checkDeletion({ needsPassword: withPassword, password, confirmation });
    setInvalid(problems);
    if (problems.password !== undefined || problems.confirmation !== undefined) return;
    // On success the session ends, and the signed-in pages' gate sends the visitor to sign in,
    // saying that the account was deleted.
    await remove.run(withPassword ? password : undefined);
  };
  return (
    <section className="panel danger-zone" aria-labelledby="delete-title">
      <h2 id="delete-title">Delete account</h2>
      <p>Deleting your account is immediate and cannot be undone. It removes, for good:</p>
      <ul>
        <li>your graphs and every version of them, and your custom agents;</li>
        <li>your API keys (programs using them stop working at once);</li>
        <li>your usage history.</li>
      </ul>
      <p>
        A running subscription is cancelled at once. Invoices stay with Stripe, our payment provider, as accounting
        law requires. Download your data above first if you want a copy.
      </p>
      <form className="form" onSubmit={submit} noValidate>
        {withPassword ? (
          <Field
            label="Password"
            type="password"
            autoComplete="current-password"
            required
            value={password}
            onChange={(e) => setPassword(e.target.value)}
            error={invalid.password ?? fieldError(remove.error, 'password')}
          />
        ) : (
          <p className="hint">
            Your account signs in with Google: if you signed in more than 10 minutes ago, sign out and in again first.
          </p>
        )}
        <Field
          label={`Type ${CONFIRM_WORD} to confirm`}
          autoComplete="off"
          autoCapitalize="characters"
          spellCheck={false}
          required
          value={confirmation}
          onChange={(e) => setConfirmation(e.target.value)}
          error={invalid.confirmation}
        />
        <button type="submit" className="danger" disabled={remove.busy}>
          {remove.busy ? 'Deleting…' : 'Delete my account'}
        </button>
      </form>
      {formError(remove.error, ['password']) && <ProblemNotice problem={remove.error} />}
    </section>
  );
}
