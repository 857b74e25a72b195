// The frame around every page: skip link, header with navigation, the session gate of the
// signed-in pages, and the page shown when a route fails to load.

import { useState } from 'react';
import { Link, Navigate, NavLink, Outlet, useLocation, useNavigate, useRouteError } from 'react-router';
import { ACCOUNT_DELETED } from '../state/account';
import { client, useSession } from '../state/session';
import { setThemePreference, useThemePreference, type ThemePreference } from '../state/theme';
import { Loading, PageTitle } from './ui';

export function Root() {
  return (
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <Header />
      <main id="main" tabIndex={-1}>
        <Outlet />
      </main>
    </>
  );
}

function Header() {
  const { status, user } = useSession();
  const [open, setOpen] = useState(false);
  const navigate = useNavigate();
  const location = useLocation();
  const [lastPath, setLastPath] = useState(location.pathname);
  // Close the menu after a navigation.
  if (lastPath !== location.pathname) {
    setLastPath(location.pathname);
    setOpen(false);
  }
  const signedIn = status === 'signed-in' && user !== null;
  const signOut = async () => {
    await client.signOut();
    await navigate('/signin');
  };
  return (
    <header className="header">
      <Link to={signedIn ? '/graphs' : '/'} className="brand" aria-label="Orrery home">
        <svg viewBox="0 0 32 32" width="24" height="24" aria-hidden="true">
          <circle cx="16" cy="16" r="5" fill="var(--sun)" />
          <circle cx="16" cy="16" r="12" fill="none" stroke="var(--accent)" strokeWidth="2" />
          <circle cx="28" cy="16" r="3" fill="var(--accent)" />
        </svg>
        <span>Orrery</span>
      </Link>
      <button
        type="button"
        className="menu-button"
        aria-expanded={open}
        aria-controls="site-nav"
        onClick={() => setOpen((o) => !o)}
      >
        Menu
      </button>
      <nav id="site-nav" aria-label="Main" className={open ? 'open' : ''}>
        <ul>
          {signedIn ? (
            <>
              <li><NavLink to="/graphs">Graphs</NavLink></li>
              <li><NavLink to="/agents">Agents</NavLink></li>
              <li><NavLink to="/keys">API keys</NavLink></li>
              <li><NavLink to="/usage">Usage</NavLink></li>
              <li><NavLink to="/billing">Billing</NavLink></li>
              {user.role === 'admin' && <li><NavLink to="/admin">Admin</NavLink></li>}
              <li><NavLink to="/settings">Settings</NavLink></li>
              <li><a href="/docs">API docs</a></li>
            </>
          ) : (
            <>
              <li><a href="/docs">API docs</a></li>
              <li><NavLink to="/signin">Sign in</NavLink></li>
              <li><NavLink to="/signup">Sign up</NavLink></li>
            </>
          )}
        </ul>
        <div className="nav-end">
          <ThemeSelect />
          {signedIn && (
            <button type="button" onClick={signOut} title={`Signed in as ${user.email}`}>
              Sign out
            </button>
          )}
        </div>
      </nav>
    </header>
  );
}

export function ThemeSelect() {
  const pref = useThemePreference();
  return (
    <label className="theme-select">
      <span className="visually-hidden">Theme</span>
      <select value={pref} onChange={(e) => setThemePreference(e.target.value as ThemePreference)}>
        <option value="system">System theme</option>
        <option value="light">Light theme</option>
        <option value="dark">Dark theme</option>
      </select>
    </label>
  );
}

/**
 * The signed-in pages: they wait for the session, and send others to sign in (after the account
 * was deleted, with a notice that says so instead of a way back).
 */
export function RequireAuth() {
  const { status, ended } = useSession();
  const location = useLocation();
  if (status === 'restoring') return <Loading label="Restoring your session…" />;
  if (status === 'unavailable') {
    return (
      <div className="notice notice-error" role="alert">
        <p>The server cannot be reached, so your session could not be restored.</p>
        <p>
          <button type="button" onClick={() => void client.restore()}>
            Retry
          </button>
        </p>
      </div>
    );
  }
  if (status === 'signed-out' && ended === 'account-deleted') {
    return <Navigate to="/signin" replace state={ACCOUNT_DELETED} />;
  }
  if (status === 'signed-out') {
    const next = `${location.pathname}${location.search}`;
    return <Navigate to={`/signin?next=${encodeURIComponent(next)}`} replace />;
  }
  return <Outlet />;
}

/** A route that failed: most often a chunk that no longer exists after a deploy, or offline. */
export function RouteError() {
  const error = useRouteError();
  console.error(error);
  return (
    <main id="main" className="narrow">
      <PageTitle>Something went wrong</PageTitle>
      <div className="notice notice-error" role="alert">
        <p>This page could not be loaded. The server may be unreachable, or a new version was installed.</p>
        <p>
          <button type="button" onClick={() => window.location.reload()}>
            Reload the page
          </button>
        </p>
      </div>
    </main>
  );
}
