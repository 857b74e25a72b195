// `/settings`: the theme (saved on the account and applied in this browser at once), the
// account's name, its password, and a download of its data.

import { useState, type FormEvent } from 'react';
import { fieldError, formError } from '../api/problem';
import { capitalize, download, Field, formatDate, PageTitle, ProblemNotice } from '../components/ui';
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
