// The theme preference: light, dark or the system's, saved on the account (PATCH /api/me) and
// kept in localStorage for the next visit's first paint (public/theme.js applies it then);
// this module changes it and follows the system's choice while the preference is `system`.

import { useSyncExternalStore } from 'react';

export type ThemePreference = 'light' | 'dark' | 'system';
export const THEME_KEY = 'orrery.theme';

/** The theme to show for a preference, given whether the system prefers dark. */
export function resolveTheme(pref: ThemePreference, systemDark: boolean): 'light' | 'dark' {
  if (pref === 'system') return systemDark ? 'dark' : 'light';
  return pref;
}

/** Reads a stored preference, tolerating junk. */
export function parsePreference(raw: string | null): ThemePreference {
  return raw === 'light' || raw === 'dark' ? raw : 'system';
}

const listeners = new Set<() => void>();
let preference: ThemePreference = parsePreference(read());

function read(): string | null {
  try {
    return localStorage.getItem(THEME_KEY);
  } catch {
    return null;
  }
}

function systemDark(): boolean {
  return window.matchMedia('(prefers-color-scheme: dark)').matches;
}

function apply(): void {
  document.documentElement.setAttribute('data-theme', resolveTheme(preference, systemDark()));
}

export function setThemePreference(pref: ThemePreference): void {
  preference = pref;
  try {
    if (pref === 'system') localStorage.removeItem(THEME_KEY);
    else localStorage.setItem(THEME_KEY, pref);
  } catch {
    // Storage disabled: the choice lasts until the page is left.
  }
  apply();
  for (const l of listeners) l();
}

if (typeof window !== 'undefined') {
  window.matchMedia('(prefers-color-scheme: dark)').addEventListener('change', apply);
  // Another tab changed it.
  window.addEventListener('storage', (e) => {
    if (e.key !== THEME_KEY) return;
    preference = parsePreference(e.newValue);
    apply();
    for (const l of listeners) l();
  });
}

export function useThemePreference(): ThemePreference {
  return useSyncExternalStore(
    (l) => {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    () => preference,
  );
}
