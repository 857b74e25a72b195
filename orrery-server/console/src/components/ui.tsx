// Small building blocks every page uses: labelled fields, problems with their way out (retry,
// upgrade), page titles that take focus, progress bars, pagination and confirmations.

import { useEffect, useId, useRef, useState, type ReactNode, type InputHTMLAttributes } from 'react';
import { Link } from 'react-router';
import { ApiProblem } from '../api/problem';

/** A labelled input with its error (from the API's `field`) and a hint. */
export function Field({
  label,
  error,
  hint,
  ...input
}: { label: string; error?: string | undefined; hint?: string } & InputHTMLAttributes<HTMLInputElement>) {
  const id = useId();
  const described = [error ? `${id}-error` : null, hint ? `${id}-hint` : null].filter(Boolean).join(' ');
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <input
        id={id}
        aria-invalid={error ? true : undefined}
        aria-describedby={described || undefined}
        {...input}
      />
      {hint && (
        <p className="hint" id={`${id}-hint`}>
          {hint}
        </p>
      )}
      {error && (
        <p className="field-error" id={`${id}-error`}>
          {error}
        </p>
      )}
    </div>
  );
}

/** What went wrong, with the way out: a retry when it may pass, the upgrade for a plan limit. */
export function ProblemNotice({ problem, onRetry }: { problem: unknown; onRetry?: () => void }) {
  if (problem === null || problem === undefined) return null;
  const p = problem instanceof ApiProblem ? problem : null;
  const limit = p?.planLimit ?? null;
  const message = p ? p.message : problem instanceof Error ? problem.message : 'Something went wrong.';
  return (
    <div className={`notice ${limit ? 'notice-upgrade' : 'notice-error'}`} role="alert">
      <p>
        {p?.status === 0 ? 'The server cannot be reached. Check your connection.' : message}
        {p && p.status >= 500 && ' Try again in a moment.'}
      </p>
      {limit && (
        <p>
          <Link className="button primary" to={`/billing${limit.upgradeTo ? `?plan=${limit.upgradeTo}` : ''}`}>
            {limit.upgradeTo ? `Upgrade to ${capitalize(limit.upgradeTo)}` : 'See plans'}
          </Link>
        </p>
      )}
      {p?.retryable && onRetry && (
        <p>
          <button type="button" onClick={onRetry}>
            Retry
          </button>
        </p>
      )}
    </div>
  );
}

/** A page's heading and document title; takes focus after client-side navigation so screen
 * readers announce the new page. */
export function PageTitle({ children, actions }: { children: string; actions?: ReactNode }) {
  const ref = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    document.title = `${children} · Orrery`;
    if (navigatedInApp) ref.current?.focus();
    navigatedInApp = true;
  }, [children]);
  return (
    <div className="page-title">
      <h1 ref={ref} tabIndex={-1}>
        {children}
      </h1>
      {actions && <div className="actions">{actions}</div>}
    </div>
  );
}
let navigatedInApp = false;

export function Loading({ label = 'Loading…' }: { label?: string }) {
  return (
    <p className="loading" role="status">
      {label}
    </p>
  );
}

/** A meter with its figures as text; `max` null is unlimited. */
export function Meter({
  label,
  value,
  max,
  format = formatNumber,
}: {
  label: string;
  value: number;
  max: number | null;
  format?: (n: number) => string;
}) {
  const id = useId();
  const ratio = max ? Math.min(1, value / max) : 0;
  const level = ratio >= 1 ? 'full' : ratio >= 0.8 ? 'high' : 'ok';
  return (
    <div className="meter">
      <div className="meter-label">
        <span id={id}>{label}</span>
        <span>
          {format(value)} {max === null ? '(unlimited)' : `of ${format(max)}`}
        </span>
      </div>
      {max !== null && (
        <progress aria-labelledby={id} className={`meter-${level}`} value={Math.min(value, max)} max={max} />
      )}
    </div>
  );
}

/** Previous/next page links with the position. */
export function Pagination({
  page,
  total,
  limit,
  onPage,
}: {
  page: number;
  total: number;
  limit: number;
  onPage: (page: number) => void;
}) {
  const pages = Math.max(1, Math.ceil(total / limit));
  if (pages <= 1) return null;
  return (
    <nav className="pagination" aria-label="Pages">
      <button type="button" disabled={page <= 1} onClick={() => onPage(page - 1)}>
        Previous
      </button>
      <span aria-live="polite">
        Page {page} of {pages}
      </span>
      <button type="button" disabled={page >= pages} onClick={() => onPage(page + 1)}>
        Next
      </button>
    </nav>
  );
}

/** A modal confirmation (the native dialog: focus is trapped, Escape cancels). */
export function Confirm({
  open,
  title,
  children,
  confirmLabel,
  danger = false,
  busy = false,
  onConfirm,
  onCancel,
}: {
  open: boolean;
  title: string;
  children: ReactNode;
  confirmLabel: string;
  danger?: boolean;
  busy?: boolean;
  onConfirm: () => void;
  onCancel: () => void;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (open && !dialog.open) dialog.showModal();
    if (!open && dialog.open) dialog.close();
  }, [open]);
  return (
    <dialog ref={ref} aria-labelledby={titleId} onClose={onCancel} className="dialog">
      <h2 id={titleId}>{title}</h2>
      <div>{children}</div>
      <div className="actions">
        <button type="button" onClick={onCancel}>
          Cancel
        </button>
        <button type="button" className={danger ? 'danger' : 'primary'} disabled={busy} onClick={onConfirm}>
          {confirmLabel}
        </button>
      </div>
    </dialog>
  );
}

/** A table that scrolls sideways on narrow screens; focusable, so the keyboard can scroll it. */
export function TableWrap({ label, children }: { label: string; children: ReactNode }) {
  return (
    <div className="table-wrap" tabIndex={0} role="region" aria-label={label}>
      {children}
    </div>
  );
}

/** Copies text, saying so for screen readers. */
export function CopyButton({ text, label = 'Copy' }: { text: string; label?: string }) {
  const [state, setState] = useState<'idle' | 'copied' | 'failed'>('idle');
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
      setState('copied');
    } catch {
      setState('failed');
    }
  };
  return (
    <>
      <button type="button" onClick={copy}>
        {label}
      </button>
      <span role="status" className="copy-status">
        {state === 'copied' ? 'Copied' : state === 'failed' ? 'Copy failed: select the text and copy it' : ''}
      </span>
    </>
  );
}

export function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** An amount in cents of `currency` (ISO 4217), as money. */
export function money(cents: number, currency: string): string {
  return new Intl.NumberFormat('en', { style: 'currency', currency: currency.toUpperCase() || 'USD' }).format(cents / 100);
}

export function formatNumber(n: number): string {
  return new Intl.NumberFormat('en').format(n);
}

const BYTE_UNITS = ['B', 'KB', 'MB', 'GB'] as const;

/**
 * A size in the largest unit that keeps it at 1 or more: `512 B`, `1.5 KB`, `64 MB`. Units are
 * powers of 1024, as the plan limits are set (64 << 20 is `64 MB`); one decimal below 10.
 */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  // 1023.5 KB would round to "1,024 KB": it is 1 MB.
  while (unit < BYTE_UNITS.length - 1 && value >= 1023.5) {
    value /= 1024;
    unit += 1;
  }
  const digits = unit > 0 && value < 9.95 ? 1 : 0;
  return `${new Intl.NumberFormat('en', { maximumFractionDigits: digits }).format(value)} ${BYTE_UNITS[unit]}`;
}

export function formatDate(iso: string | null | undefined, withTime = false): string {
  if (!iso) return '—';
  const d = new Date(iso);
  return withTime
    ? d.toLocaleString('en', { dateStyle: 'medium', timeStyle: 'short' })
    : d.toLocaleDateString('en', { dateStyle: 'medium' });
}

/** `sha256:6f9fc5933d15…` → `6f9fc5933d15`. */
export function shortDigest(digest: string): string {
  return digest.replace(/^sha256:/, '').slice(0, 12);
}

/** Saves a blob as a file. */
export function download(filename: string, blob: Blob): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
