// The account managing itself in a real browser against a real server: a new email that takes
// over once the link mailed to it is followed, and an account deleted for good. axe-core looks
// at the settings page (its new sections with their errors shown) and /confirm-email in both
// themes (screenshots in artifacts/).

import { mkdirSync } from 'node:fs';
import { expect, test, type Page } from '@playwright/test';
import { admin, axe, mail, signIn, watch } from './support';

test.describe.configure({ mode: 'serial' });

const shots = process.env.E2E_ARTIFACTS ?? 'artifacts/screens';
mkdirSync(shots, { recursive: true });

const stamp = Date.now();
const mover = { name: 'Lin Moves', email: `lin-${stamp}@example.com`, password: 'a passphrase that moves' };
const moved = `lin-${stamp}@new.example.com`;
const leaver = { name: 'Kit Leaves', email: `kit-${stamp}@example.com`, password: 'a passphrase that leaves' };

async function signUp(page: Page, who: { name: string; email: string; password: string }) {
  await page.goto('/signup');
  await page.getByLabel('Name').fill(who.name);
  await page.getByLabel('Email').fill(who.email);
  await page.getByLabel('Password').fill(who.password);
  await page.getByRole('button', { name: 'Create account' }).click();
  await expect(page.getByRole('heading', { name: 'Graphs', level: 1 })).toBeVisible();
}

/** The settings page's section called `name`. */
function section(page: Page, name: string) {
  return page.getByRole('region', { name, exact: true });
}

/** The path and query of the link to `path` in a mail's text. */
function linkIn(text: string, path: string): string {
  const link = new RegExp(`https?://\\S*${path}\\?token=[A-Za-z0-9_-]+`).exec(text)?.[0] ?? '';
  expect(link, text).not.toBe('');
  const url = new URL(link);
  return url.pathname + url.search;
}

test('a new email takes over once the link mailed to it is followed', async ({ page }) => {
  const problems = watch(page);
  await signUp(page, mover);
  await page.getByRole('link', { name: 'Settings' }).click();
  const email = section(page, 'Email');
  await expect(email).toContainText(`Your account's address is ${mover.email}.`);
  const change = email.getByRole('button', { name: 'Change email' });

  // Mistakes are shown at the field: the browser's own, then the server's (a taken address).
  await change.click();
  await expect(email.getByLabel('New email')).toHaveAccessibleDescription('Enter the new address.');
  await email.getByLabel('New email').fill(admin.email);
  await change.click();
  await expect(email.getByLabel('New email')).toHaveAccessibleDescription('Another account uses this address.');

  await email.getByLabel('New email').fill(moved);
  await change.click();
  await expect(email.getByRole('status')).toHaveText(`We sent a link to ${moved}; your email changes when you follow it.`);
  await expect(email).toContainText(`Your account's address is ${mover.email}.`);
  // The current address is told; the new one gets the link.
  await mail(mover.email, 'email_change_notice');
  const link = linkIn((await mail(moved, 'email_change_confirm')).text, '/confirm-email');

  // Followed in the browser that is signed in: the console shows the new address at once.
  await page.goto(link);
  await expect(page.getByRole('heading', { name: 'Confirm your new email', level: 1 })).toBeVisible();
  await expect(page.getByRole('status')).toHaveText(/Your email is now lin-\d+@new\.example\.com\./);
  await expect(page.getByRole('status')).toContainText(moved);
  await page.getByRole('link', { name: 'Back to your settings' }).click();
  await expect(section(page, 'Email')).toContainText(`Your account's address is ${moved}.`);

  // The link works once.
  await page.goto(link);
  await expect(page.getByRole('alert')).toContainText('This link is invalid, already used or expired');
  await expect(page.getByRole('link', { name: 'Ask again in your settings' })).toBeVisible();

  // The old address no longer signs in; the new one does.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page).toHaveURL(/\/signin/);
  await page.getByLabel('Email').fill(mover.email);
  await page.getByLabel('Password').fill(mover.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('alert')).toContainText('Invalid email or password');
  await signIn(page, { email: moved, password: mover.password });
  expect(problems).toEqual([]);
});

test('an account deleted with its password is gone, and its password and key with it', async ({ page }) => {
  const problems = watch(page);
  await signUp(page, leaver);
  // Something to delete: a graph and an API key.
  await page.getByRole('button', { name: 'New graph' }).click();
  await page.getByLabel(/RAG pipeline/).check();
  await page.getByRole('button', { name: 'Create graph' }).click();
  await expect(page.getByRole('link', { name: 'RAG pipeline' })).toBeVisible();
  await page.getByRole('link', { name: 'API keys' }).click();
  await page.getByLabel('Name').fill('CI');
  await page.getByRole('button', { name: 'Create key' }).click();
  const secret = (await page.getByTestId('secret').textContent()) ?? '';
  expect(secret).toMatch(/^ork_/);
  await page.getByRole('button', { name: 'I have saved it' }).click();
  expect((await page.request.get('/api/graphs', { headers: { 'X-API-Key': secret } })).status()).toBe(200);

  await page.getByRole('link', { name: 'Settings' }).click();
  const zone = section(page, 'Delete account');
  await expect(zone).toContainText('Invoices stay with Stripe');
  const remove = zone.getByRole('button', { name: 'Delete my account' });
  const password = zone.getByLabel('Password', { exact: true });
  const word = zone.getByLabel('Type DELETE to confirm');

  // Nothing is sent without the password and the word; a wrong password is refused at its field.
  await remove.click();
  await expect(password).toHaveAccessibleDescription('Enter your password.');
  await expect(word).toHaveAccessibleDescription('Type DELETE to confirm.');
  await password.fill('not the passphrase');
  await word.fill('DELETE');
  await remove.click();
  await expect(password).toHaveAccessibleDescription("Is not the account's password.");
  await expect(page.getByRole('heading', { name: 'Settings', level: 1 })).toBeVisible();

  await password.fill(leaver.password);
  await remove.click();
  await expect(page).toHaveURL(/\/signin$/);
  await expect(page.getByRole('status')).toContainText('Your account was deleted');
  await expect(page.getByRole('button', { name: 'Sign out' })).toHaveCount(0);
  await mail(leaver.email, 'account_deleted');

  // Its password and its key open nothing.
  await page.getByLabel('Email').fill(leaver.email);
  await page.getByLabel('Password').fill(leaver.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('alert')).toContainText('Invalid email or password');
  expect((await page.request.get('/api/graphs', { headers: { 'X-API-Key': secret } })).status()).toBe(401);
  // A reload finds no session either.
  await page.goto('/settings');
  await expect(page).toHaveURL(/\/signin\?next=%2Fsettings$/);
  expect(problems).toEqual([]);
});

for (const theme of ['light', 'dark'] as const) {
  test(`the account's pages in the ${theme} theme: no serious accessibility finding`, async ({ browser }) => {
    const context = await browser.newContext({ colorScheme: theme });
    await context.addInitScript((t) => localStorage.setItem('orrery.theme', t), theme);
    const page = await context.newPage();
    const problems = watch(page);

    // /confirm-email signed out: a link that works no more, and one without a token.
    await page.goto('/confirm-email?token=ore_invalid');
    await expect(page.getByRole('alert')).toContainText('This link is invalid, already used or expired');
    expect(await page.evaluate(() => document.documentElement.dataset.theme)).toBe(theme);
    await page.screenshot({ path: `${shots}/${theme}-confirm-email-invalid.png`, fullPage: true });
    await axe(page, `${theme} confirm-email invalid`);
    await page.goto('/confirm-email');
    await expect(page.getByRole('alert')).toContainText('no confirmation token');
    await axe(page, `${theme} confirm-email without token`);

    // The settings page, and its new sections with their errors shown.
    await signUp(page, { name: 'Ida Looks', email: `ida-${theme}-${stamp}@example.com`, password: 'a passphrase that looks' });
    await page.goto('/settings');
    await expect(section(page, 'Delete account')).toBeVisible();
    await axe(page, `${theme} settings`);
    await section(page, 'Email').getByRole('button', { name: 'Change email' }).click();
    await section(page, 'Delete account').getByRole('button', { name: 'Delete my account' }).click();
    await expect(section(page, 'Delete account').getByText('Type DELETE to confirm.')).toBeVisible();
    await page.screenshot({ path: `${shots}/${theme}-settings-errors.png`, fullPage: true });
    await axe(page, `${theme} settings with errors`);
    expect(problems).toEqual([]);
    await context.close();
  });
}
