// `/settings`: the theme of this browser, and the account as the server knows it. (Name, email,
// password and account deletion come with the account self-service API.)

import { capitalize, formatDate, PageTitle } from '../components/ui';
import { useSession } from '../state/session';
import { setThemePreference, useThemePreference, type ThemePreference } from '../state/theme';

const CHOICES: { value: ThemePreference; label: string }[] = [
  { value: 'system', label: 'Same as the system' },
  { value: 'light', label: 'Light' },
  { value: 'dark', label: 'Dark' },
];

export function Component() {
  const pref = useThemePreference();
  const { user } = useSession();
  return (
    <div className="narrow">
      <PageTitle>Settings</PageTitle>
      <section className="panel" aria-labelledby="theme-title">
        <h2 id="theme-title">Theme</h2>
        <fieldset>
          <legend>Colours of the console in this browser</legend>
          {CHOICES.map((c) => (
            <label key={c.value} className="radio">
              <input
                type="radio"
                name="theme"
                value={c.value}
                checked={pref === c.value}
                onChange={() => setThemePreference(c.value)}
              />
              <span>{c.label}</span>
            </label>
          ))}
        </fieldset>
      </section>
      {user && (
        <section className="panel" aria-labelledby="account-title">
          <h2 id="account-title">Account</h2>
          <dl className="facts">
            <dt>Name</dt>
            <dd>{user.name}</dd>
            <dt>Email</dt>
            <dd>{user.email}</dd>
            <dt>Plan</dt>
            <dd>{capitalize(user.plan)}</dd>
            <dt>Member since</dt>
            <dd>{formatDate(user.created_at)}</dd>
          </dl>
        </section>
      )}
    </div>
  );
}
