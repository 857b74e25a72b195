// The rules of the account's own forms (a new email, deleting the account) and of the link that
// confirms a new email, apart from React so that tests can hold them.

import { ApiProblem, fieldError } from '../api/problem';
import type { User } from '../api/types';

/** The word typed to confirm deleting the account. */
export const CONFIRM_WORD = 'DELETE';

/** What is wrong with `value` as the account's new email (before asking the server), if anything. */
export function checkNewEmail(value: string, current: string): string | undefined {
  const email = value.trim();
  if (email === '') return 'Enter the new address.';
  if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email)) return 'Enter an address like name@example.com.';
  if (email.toLowerCase() === current.toLowerCase()) return 'This is already your email.';
  return undefined;
}

/** The server's problem with a new email, as shown at the field; a 409 names no field. */
export function emailProblem(problem: unknown): string | undefined {
  if (problem instanceof ApiProblem && problem.status === 409) return 'Another account uses this address.';
  return fieldError(problem, 'email');
}

/**
 * Whether deleting the account asks for its password: every account that has one. An account
 * that signs in with Google only (`provider` is `google`) proves itself with a recent sign-in.
 */
export function needsPassword(provider: string | undefined): boolean {
  return provider !== 'google';
}

/** What stops the deletion form from being sent, by field; empty when it may go. */
export function checkDeletion(form: { needsPassword: boolean; password: string; confirmation: string }): {
  password?: string;
  confirmation?: string;
} {
  const problems: { password?: string; confirmation?: string } = {};
  if (form.needsPassword && form.password === '') problems.password = 'Enter your password.';
  if (form.confirmation.trim() !== CONFIRM_WORD) problems.confirmation = `Type ${CONFIRM_WORD} to confirm.`;
  return problems;
}

/** The router state that the sign-in page reads after the account was deleted. */
export const ACCOUNT_DELETED = { notice: 'account-deleted' } as const;

/** The message the signed-out landing shows for the router state it got, if any. */
export function signedOutNotice(state: unknown): string | null {
  if (typeof state === 'object' && state !== null && (state as { notice?: unknown }).notice === ACCOUNT_DELETED.notice) {
    return 'Your account was deleted, with everything it held. A confirmation is on its way to its address.';
  }
  return null;
}

const confirmations = new Map<string, Promise<User>>();

/**
 * Confirms an email change with `token` once per page, however often the page mounts (React
 * runs effects twice in development, and a token works once). A failure that may pass later
 * (offline, 5xx) is forgotten, so that a retry asks again.
 */
export function confirmEmailOnce(token: string, confirm: (token: string) => Promise<{ user: User }>): Promise<User> {
  let pending = confirmations.get(token);
  if (!pending) {
    pending = confirm(token).then(
      (r) => r.user,
      (e: unknown) => {
        if (e instanceof ApiProblem && e.retryable) confirmations.delete(token);
        throw e;
      },
    );
    confirmations.set(token, pending);
  }
  return pending;
}
