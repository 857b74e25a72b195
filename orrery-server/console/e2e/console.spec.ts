// The console in a real browser against a real server: the newcomer's journey, a reset password,
// paying for a plan on the Stripe emulator's Checkout page, then every page in both themes
// (screenshots in artifacts/, axe-core's serious and critical findings must be none), at desktop
// and phone widths.

import { mkdirSync } from 'node:fs';
import { expect, test, type Page } from '@playwright/test';
import { admin, axe, mail, signIn, watch } from './support';

const shots = process.env.E2E_ARTIFACTS ?? 'artifacts/screens';
mkdirSync(shots, { recursive: true });

const user = { name: 'Ada Lovelace', email: `ada-${Date.now()}@example.com`, password: 'correct horse battery' };
const newcomer = { name: 'Grace Hopper', email: `grace-${Date.now()}@example.com`, password: 'a compiler of passphrases' };

test.describe.configure({ mode: 'serial' });

test('a newcomer signs up, creates a graph, a key, and sees the calls', async ({ page }) => {
  const problems = watch(page);
  await page.goto('/');
  await page.getByRole('link', { name: 'Create an account' }).click();
  await page.getByLabel('Name').fill(user.name);
  await page.getByLabel('Email').fill(user.email);
  await page.getByLabel('Password').fill('short');
  await page.getByRole('button', { name: 'Create account' }).click();
  // The API's field problem is shown at the field.
  await expect(page.getByText('Must be 8 to 256 characters.')).toBeVisible();
  await page.getByLabel('Password').fill(user.password);
  await page.getByRole('button', { name: 'Create account' }).click();
  await expect(page.getByRole('heading', { name: 'Graphs', level: 1 })).toBeVisible();
  await mail(user.email, 'welcome');

  // Sign out, and back in.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await expect(page).toHaveURL(/\/signin/);
  await page.getByLabel('Email').fill(user.email);
  await page.getByLabel('Password').fill('wrong password');
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('alert')).toContainText('Invalid email or password');
  await page.getByLabel('Password').fill(user.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).toHaveURL(/\/graphs$/);

  // Create a graph from an example: it is listed.
  await page.getByRole('button', { name: 'New graph' }).click();
  await page.getByLabel(/RAG pipeline/).check();
  await page.getByRole('button', { name: 'Create graph' }).click();
  const card = page.getByRole('link', { name: 'RAG pipeline' });
  await expect(card).toBeVisible();
  await card.click();
  await expect(page.getByRole('heading', { name: 'RAG pipeline', level: 1 })).toBeVisible();
  await expect(page.getByRole('heading', { name: 'Versions' })).toBeVisible();
  await expect(page.getByRole('region', { name: 'Graph document (JSON)' })).toContainText('"schema": 1');

  // /graphs from a cold navigation (session restore included) to a usable list.
  const started = Date.now();
  await page.goto('/graphs');
  await expect(page.getByRole('link', { name: 'RAG pipeline' })).toBeVisible();
  await expect(page.getByRole('button', { name: 'New graph' })).toBeEnabled();
  console.log(`/graphs interactive ${Date.now() - started} ms after navigation`);
  await page.goBack();

  // A reload keeps the session (refresh cookie) and the deep link.
  await page.reload();
  await expect(page.getByRole('heading', { name: 'RAG pipeline', level: 1 })).toBeVisible();

  // An API key, shown once.
  await page.getByRole('link', { name: 'API keys' }).click();
  await page.getByLabel('Name').fill('CI');
  await page.getByRole('button', { name: 'Create key' }).click();
  const secret = (await page.getByTestId('secret').textContent()) ?? '';
  expect(secret).toMatch(/^ork_/);
  await expect(page.getByText('this is the only time it is shown')).toBeVisible();
  await page.getByRole('button', { name: 'I have saved it' }).click();
  await expect(page.getByTestId('secret')).toHaveCount(0);
  await expect(page.getByRole('heading', { name: 'CI', level: 3 })).toBeVisible();

  // Calls with the key, then the usage page counts them.
  for (let i = 0; i < 3; i++) {
    const r = await page.request.get('/api/graphs', { headers: { 'X-API-Key': secret } });
    expect(r.status()).toBe(200);
  }
  await page.getByRole('link', { name: 'Usage' }).click();
  await expect(page.getByRole('heading', { name: 'Usage', level: 1 })).toBeVisible();
  await expect
    .poll(async () => {
      await page.getByRole('link', { name: 'Billing' }).click();
      await page.getByRole('link', { name: 'Usage' }).click();
      const text = (await page.locator('.meter').first().textContent()) ?? '';
      return Number(/API calls\s*([\d,]+)/.exec(text)?.[1]?.replace(/,/g, '') ?? 0);
    }, { timeout: 20_000 })
    .toBeGreaterThan(3);
  expect(problems).toEqual([]);
});

test('a forgotten password is reset from the link in the mail; the old one stops working', async ({ page }) => {
  const problems = watch(page);
  await page.goto('/signin');
  await page.getByRole('link', { name: 'Forgot your password?' }).click();
  // The sign-in page has an Email field too: type into the reset page's.
  await expect(page.getByRole('heading', { name: 'Reset your password', level: 1 })).toBeVisible();
  await page.getByLabel('Email').fill(user.email);
  await page.getByRole('button', { name: 'Send the reset link' }).click();
  await expect(page.getByRole('status')).toContainText('a mail with a reset link is on its way');
  const reset = await mail(user.email, 'password_reset');
  const link = /https?:\/\/\S*\/reset-password\?token=[A-Za-z0-9_-]+/.exec(reset.text)?.[0] ?? '';
  expect(link, reset.text).not.toBe('');
  await page.goto(new URL(link).pathname + new URL(link).search);
  const fresh = 'a brand new passphrase';
  await page.getByLabel('New password', { exact: true }).fill(fresh);
  await page.getByLabel('Repeat the new password').fill(fresh);
  await page.getByRole('button', { name: 'Change password' }).click();
  await expect(page.getByRole('status')).toContainText('Your password is changed');
  // The link works once.
  await page.goto(new URL(link).pathname + new URL(link).search);
  await page.getByLabel('New password', { exact: true }).fill('yet another passphrase');
  await page.getByLabel('Repeat the new password').fill('yet another passphrase');
  await page.getByRole('button', { name: 'Change password' }).click();
  await expect(page.getByRole('alert')).toContainText('invalid, already used or expired');
  // The old password fails, the new one works.
  await page.goto('/signin');
  await page.getByLabel('Email').fill(user.email);
  await page.getByLabel('Password').fill(user.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('alert')).toContainText('Invalid email or password');
  user.password = fresh;
  await page.getByLabel('Password').fill(fresh);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).toHaveURL(/\/graphs$/);
  expect(problems).toEqual([]);
});

test('an admin finds the account and changes its trial end', async ({ page }) => {
  const problems = watch(page);
  await signIn(page, admin);
  await page.getByRole('link', { name: 'Admin' }).click();
  await expect(page.getByRole('heading', { name: 'Administration' })).toBeVisible();
  await page.getByLabel('Search accounts by email or name').fill(user.email);
  await page.getByRole('button', { name: 'Search', exact: true }).click();
  const row = page.getByRole('listitem').filter({ hasText: user.email });
  await expect(row).toHaveCount(1);
  await row.getByRole('button', { name: /^Edit/ }).click();
  await row.getByLabel(/Trial ends/).fill('2031-05-17');
  await row.getByRole('button', { name: 'Save' }).click();
  await expect(row).toContainText('trial ends May 17, 2031');
  expect(problems).toEqual([]);
});

/** The facts of the billing page's "Your plan". */
function yourPlan(page: Page) {
  return page.getByRole('region', { name: 'Your plan' });
}

/** The billing page's card of `plan`. */
function planCard(page: Page, plan: string) {
  return page.getByRole('listitem').filter({ has: page.getByRole('heading', { name: plan, level: 3 }) });
}

test('a newcomer who cancels on the Checkout page comes back to an unchanged plan', async ({ page }) => {
  const problems = watch(page);
  await page.goto('/signup');
  await page.getByLabel('Name').fill(newcomer.name);
  await page.getByLabel('Email').fill(newcomer.email);
  await page.getByLabel('Password').fill(newcomer.password);
  await page.getByRole('button', { name: 'Create account' }).click();
  await expect(page.getByRole('heading', { name: 'Graphs', level: 1 })).toBeVisible();
  await page.getByRole('link', { name: 'Billing' }).click();
  await expect(yourPlan(page)).toContainText(/Plan\s*Free/);
  await expect(planCard(page, 'Free')).toContainText('Current plan');

  await page.getByRole('button', { name: 'Upgrade to Pro' }).click();
  await expect(page).toHaveURL(/\/c\/pay\/cs_test_\w+$/);
  await expect(page.getByRole('heading', { name: 'Orrery Pro', level: 1 })).toBeVisible();
  await page.getByRole('link', { name: 'Cancel' }).click();

  await expect(page).toHaveURL(/\/billing\?checkout=canceled$/);
  await expect(page.getByRole('status').filter({ hasText: 'Checkout was canceled' })).toContainText('nothing was charged');
  await expect(yourPlan(page)).toContainText(/Plan\s*Free/);
  await expect(yourPlan(page)).not.toContainText('Subscription');
  await expect(planCard(page, 'Free')).toContainText('Current plan');
  await expect(planCard(page, 'Pro').getByRole('button', { name: 'Upgrade to Pro' })).toBeEnabled();
  expect(problems).toEqual([]);
});

test('a newcomer pays for Pro on the Checkout page and sees the plan once Stripe confirms it', async ({ page }) => {
  const problems = watch(page);
  await signIn(page, newcomer);
  await page.getByRole('link', { name: 'Billing' }).click();
  await page.getByRole('button', { name: 'Upgrade to Pro' }).click();
  await expect(page).toHaveURL(/\/c\/pay\/cs_test_\w+$/);
  await expect(page.getByText(`Paying as ${newcomer.email}.`)).toBeVisible();
  // Stripe's webhook may come after the browser is back: the emulator holds it until told.
  const webhooks = `${new URL(page.url()).origin}/_emulator/webhooks`;
  expect((await page.request.post(`${webhooks}/hold`)).status()).toBe(204);
  await page.getByRole('button', { name: 'Pay' }).click();

  // The page waits for the webhook, looking again, then shows the plan.
  await expect(page).toHaveURL(/\/billing\?checkout=success$/);
  const notice = page.getByRole('status').filter({ hasText: /Payment received|Thank you/ });
  await expect(notice).toHaveText('Payment received. Waiting for the payment provider to confirm it…');
  await expect(yourPlan(page)).toContainText(/Plan\s*Free/);
  expect((await page.request.post(`${webhooks}/release`)).status()).toBe(204);
  await expect(notice).toHaveText('Thank you: your account is on the Pro plan.');
  await expect(yourPlan(page)).toContainText(/Plan\s*Pro/);
  await expect(yourPlan(page)).toContainText(/Subscription\s*Pro, active/);
  await expect(planCard(page, 'Pro')).toContainText('Current plan');
  await expect(page.getByRole('table')).toContainText('$29.00');

  const upgraded = await mail(newcomer.email, 'plan_upgraded');
  expect(upgraded.subject).toBe('You are now on the Orrery pro plan');
  expect(upgraded.text).toContain('to the pro plan');

  // The portal's way back leads to the billing page.
  await page.getByRole('button', { name: 'Manage payment methods and invoices' }).click();
  await expect(page.getByRole('heading', { name: 'Billing portal', level: 1 })).toBeVisible();
  await page.getByRole('link', { name: 'Return to Orrery' }).click();
  await expect(page).toHaveURL(/\/billing$/);
  await expect(yourPlan(page)).toContainText(/Plan\s*Pro/);
  expect(problems).toEqual([]);
});

const pages: { name: string; path: string; heading: RegExp; admin?: boolean; signedOut?: boolean }[] = [
  { name: 'home', path: '/', heading: /Design, nest and validate/, signedOut: true },
  { name: 'signup', path: '/signup', heading: /Create your account/, signedOut: true },
  { name: 'signin', path: '/signin', heading: /Sign in/, signedOut: true },
  { name: 'forgot-password', path: '/forgot-password', heading: /Reset your password/, signedOut: true },
  { name: 'reset-password', path: '/reset-password?token=ort_invalid', heading: /Choose a new password/, signedOut: true },
  { name: 'not-found', path: '/no/such/page', heading: /Page not found/, signedOut: true },
  { name: 'graphs', path: '/graphs', heading: /^Graphs$/ },
  { name: 'new-graph', path: '/graphs', heading: /^Graphs$/ },
  { name: 'graph', path: '', heading: /RAG pipeline/ },
  { name: 'agents', path: '/agents', heading: /Custom agents/ },
  { name: 'keys', path: '/keys', heading: /API keys/ },
  { name: 'usage', path: '/usage', heading: /^Usage$/ },
  { name: 'billing', path: '/billing?checkout=canceled', heading: /Billing/ },
  { name: 'settings', path: '/settings', heading: /Settings/ },
  { name: 'admin', path: '/admin', heading: /Administration/, admin: true },
];

for (const theme of ['light', 'dark'] as const) {
  for (const width of [1280, 375]) {
    test(`every page in the ${theme} theme at ${width} px: no serious accessibility finding`, async ({ browser }) => {
      test.setTimeout(300_000);
      const context = await browser.newContext({ viewport: { width, height: 900 }, colorScheme: theme });
      await context.addInitScript((t) => {
        try {
          localStorage.setItem('orrery.theme', t);
        } catch {
          // The mail preview's sandboxed frame has no storage.
        }
      }, theme);
      const page = await context.newPage();
      const problems = watch(page);
      let graphPath = '';
      let signedInAs: 'none' | 'user' | 'admin' = 'none';
      for (const p of pages) {
        const want = p.admin ? 'admin' : p.signedOut ? 'none' : 'user';
        if (want !== signedInAs) {
          if (signedInAs !== 'none') {
            await page.goto('/settings');
            if (width <= 760) await page.getByRole('button', { name: 'Menu' }).click();
            await page.getByRole('button', { name: 'Sign out' }).click();
            await expect(page).toHaveURL(/\/signin/);
          }
          if (want !== 'none') await signIn(page, want === 'admin' ? admin : user);
          signedInAs = want;
        }
        if (p.name === 'graph') {
          await page.goto('/graphs');
          graphPath = (await page.getByRole('link', { name: 'RAG pipeline' }).first().getAttribute('href')) ?? '';
        }
        await page.goto(p.name === 'graph' ? graphPath : p.path);
        await expect(page.getByRole('heading', { level: 1, name: p.heading })).toBeVisible();
        if (p.name === 'new-graph') await page.getByRole('button', { name: 'New graph' }).click();
        if (p.name === 'usage') await expect(page.locator('.chart canvas')).toBeVisible();
        await expect(page.locator('[role=status].loading')).toHaveCount(0);
        expect(await page.evaluate(() => document.documentElement.dataset.theme)).toBe(theme);
        await page.screenshot({ path: `${shots}/${theme}-${width}-${p.name}.png`, fullPage: true });
        await axe(page, `${theme} ${width} ${p.name}`);
      }
      expect(problems).toEqual([]);
      await context.close();
    });
  }
}

test('the API reference at /docs comes from this server only', async ({ page }) => {
  const problems = watch(page);
  const foreign: string[] = [];
  page.on('request', (r) => {
    if (!r.url().startsWith('http://127.0.0.1') && !r.url().startsWith('data:') && !r.url().startsWith('blob:')) foreign.push(r.url());
  });
  const response = await page.goto('/docs');
  expect(response?.headers()['content-security-policy']).not.toContain('cdn');
  await expect(page.getByText('Orrery API').first()).toBeVisible({ timeout: 30_000 });
  await page.screenshot({ path: `${shots}/docs.png` });
  expect(foreign).toEqual([]);
  expect(problems).toEqual([]);
});
