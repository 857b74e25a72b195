// What the browser journeys share: a watch on the page's errors, signing in, axe-core's
// serious and critical findings, and the mails the server sent (from the SMTP sink's Maildir
// when e2e/serve.sh started one, else from the server's log). Every spec file imports it.

import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { AxeBuilder } from '@axe-core/playwright';
import { expect, type Page } from '@playwright/test';

const serverLog = process.env.E2E_SERVER_LOG ?? 'artifacts/server.log';
const maildir = process.env.E2E_MAILDIR ?? 'artifacts/maildir';

/** The administrator e2e/serve.sh creates. */
export const admin = { email: 'admin@example.com', password: 'e2e-admin-password' };

/** Collects console errors (a CSP violation is one) and uncaught exceptions; a test expects none. */
export function watch(page: Page): string[] {
  const problems: string[] = [];
  page.on('console', (m) => {
    // API problems (4xx) are part of the journeys; the page shows them. The mail preview is a
    // frame sandboxed without scripts: Chromium reports the test's own init script and axe being
    // refused there, which is the sandbox doing its job (whether it is reported depends on timing).
    if (m.type() !== 'error' || /status of 4\d\d/.test(m.text())) return;
    if (/^Blocked script execution in 'about:srcdoc' because the document's frame is sandboxed/.test(m.text())) return;
    problems.push(m.text());
  });
  page.on('pageerror', (e) => problems.push(e.message));
  return problems;
}

export async function signIn(page: Page, who: { email: string; password: string }) {
  await page.goto('/signin');
  await page.getByLabel('Email').fill(who.email);
  await page.getByLabel('Password').fill(who.password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page).toHaveURL(/\/graphs$/);
}

/** axe-core on the page as it is: no serious or critical finding (a soft expectation). */
export async function axe(page: Page, label: string) {
  // The mail preview is a sandboxed frame (no scripts run in it, axe's included).
  const result = await new AxeBuilder({ page }).exclude('iframe.mail-preview').analyze();
  const bad = result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  expect.soft(bad.map((v) => `${label}: ${v.id} (${v.impact}) ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`)).toEqual([]);
}

/** A mail as its reader sees it. */
export interface Mail {
  template: string;
  subject: string;
  text: string;
}

/**
 * The newest mail of `template` to `to`, waiting for it. Mails are read from the SMTP sink's
 * Maildir when e2e/serve.sh started one, else from the server's log (the server logs mails it
 * cannot send).
 */
export async function mail(to: string, template: string): Promise<Mail> {
  let found: Mail | undefined;
  await expect
    .poll(() => (found = mailsTo(to).findLast((m) => m.template === template)) !== undefined, {
      message: `a ${template} mail to ${to} (${smtp() ? `Maildir ${maildir}` : `log ${serverLog}`})`,
    })
    .toBe(true);
  return found as Mail;
}

/** Whether mails go to the SMTP sink (serve.sh removes an earlier run's Maildir). */
function smtp(): boolean {
  return existsSync(`${maildir}/new`);
}

function mailsTo(to: string): Mail[] {
  if (smtp()) {
    return readdirSync(`${maildir}/new`)
      .sort()
      .map((name) => readMessage(readFileSync(`${maildir}/new/${name}`, 'utf8')))
      .filter((m) => m.rcptTo.split(',').some((r) => r.trim() === to))
      .map(({ template, subject, text }) => ({ template, subject, text }));
  }
  // The log is JSON, a line an event; a mail's fields are to, template, subject and body.
  return readFileSync(serverLog, 'utf8')
    .split('\n')
    .flatMap((line): Mail[] => {
      let fields: Record<string, unknown>;
      try {
        fields = (JSON.parse(line) as { fields?: Record<string, unknown> }).fields ?? {};
      } catch {
        return []; // the banner `orrery serve` prints, or a line still being written
      }
      const { template, subject, body } = fields;
      if (fields.to !== to || typeof template !== 'string' || typeof subject !== 'string' || typeof body !== 'string') {
        return [];
      }
      return [{ template, subject, text: body }];
    });
}

/** A Maildir message: envelope recipients (aiosmtpd's `X-RcptTo`), template, subject, text part. */
function readMessage(raw: string): Mail & { rcptTo: string } {
  const [headers, body] = splitHeaders(raw.replace(/\r\n/g, '\n'));
  let text = '';
  const boundary = /boundary="?([^";]+)"?/.exec(headers.get('content-type') ?? '')?.[1];
  if (boundary === undefined) {
    text = decodeBody(body, headers.get('content-transfer-encoding'));
  } else {
    for (const part of body.split(`--${boundary}`).slice(1)) {
      if (part.startsWith('--')) break;
      const [partHeaders, partBody] = splitHeaders(part.replace(/^\n/, ''));
      if (partHeaders.get('content-type')?.startsWith('text/plain')) {
        text = decodeBody(partBody, partHeaders.get('content-transfer-encoding'));
      }
    }
  }
  return {
    rcptTo: headers.get('x-rcptto') ?? '',
    template: headers.get('x-orrery-template') ?? '',
    subject: decodeWords(headers.get('subject') ?? ''),
    text,
  };
}

/** Headers (lowercase names, folded lines joined) and the body. */
function splitHeaders(raw: string): [Map<string, string>, string] {
  const end = raw.indexOf('\n\n');
  const head = end < 0 ? raw : raw.slice(0, end);
  const headers = new Map<string, string>();
  for (const line of head.replace(/\n[ \t]+/g, ' ').split('\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return [headers, end < 0 ? '' : raw.slice(end + 2)];
}

function decodeBody(body: string, encoding: string | undefined): string {
  switch (encoding?.toLowerCase()) {
    case 'base64':
      return Buffer.from(body, 'base64').toString('utf8');
    case 'quoted-printable':
      return quotedPrintable(body);
    default:
      return body;
  }
}

function quotedPrintable(text: string): string {
  const bytes = text.replace(/=\n/g, '').replace(/=([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
  return Buffer.from(bytes, 'latin1').toString('utf8');
}

/** RFC 2047's encoded words (`=?utf-8?b?…?=`, `=?utf-8?q?…?=`) in a header, decoded. */
function decodeWords(value: string): string {
  return value
    .replace(/\?=\s+=\?/g, '?==?')
    .replace(/=\?[^?]+\?([bBqQ])\?([^?]*)\?=/g, (_, kind: string, text: string) =>
      kind.toLowerCase() === 'b' ? Buffer.from(text, 'base64').toString('utf8') : quotedPrintable(text.replace(/_/g, ' ')),
    );
}
