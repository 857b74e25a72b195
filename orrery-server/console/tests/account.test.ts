import { describe, expect, it } from 'vitest';
import { ApiProblem } from '../src/api/problem';
import { endpoints } from '../src/api/endpoints';
import {
  ACCOUNT_DELETED,
  checkDeletion,
  checkNewEmail,
  confirmEmailOnce,
  emailProblem,
  needsPassword,
  signedOutNotice,
} from '../src/state/account';
import { fakeClient, json, problem, session, USER } from './fake';

describe('changing the email', () => {
  it('asks for the new address with the session and answers the pending one', async () => {
    const { client, calls } = fakeClient({
      'POST /api/auth/signin': session('t1'),
      'PATCH /api/me': () => json(200, { user: USER, success: true, pending_email: 'ada@new.example' }),
    });
    await client.signIn('ada@example.com', 'correct horse');
    const r = await endpoints(client).me.changeEmail('Ada@New.example');
    expect(calls[1]).toMatchObject({ method: 'PATCH', url: '/api/me', body: { email: 'Ada@New.example' } });
    expect(calls[1]?.headers.Authorization).toBe('Bearer t1');
    expect(r.pending_email).toBe('ada@new.example');
    // The account keeps its address until the link is followed.
    expect(r.user.email).toBe('ada@example.com');
  });

  it('the link is confirmed without a session', async () => {
    const { client, calls } = fakeClient({
      'POST /api/auth/email-change/confirm': () => json(200, { user: { ...USER, email: 'ada@new.example' }, success: true }),
    });
    const r = await endpoints(client).auth.confirmEmail('ore_abc');
    expect(calls[0]?.body).toEqual({ token: 'ore_abc' });
    expect(calls[0]?.headers.Authorization).toBeUndefined();
    expect(r.user.email).toBe('ada@new.example');
  });

  it('a new address is checked before it is sent', () => {
    expect(checkNewEmail('', 'ada@example.com')).toBe('Enter the new address.');
    expect(checkNewEmail('ada', 'ada@example.com')).toBe('Enter an address like name@example.com.');
    expect(checkNewEmail(' ADA@example.com ', 'ada@example.com')).toBe('This is already your email.');
    expect(checkNewEmail(' ada@new.example ', 'ada@example.com')).toBeUndefined();
  });

  it("the server's refusals are shown at the field: a taken address, a malformed one", async () => {
    const { client } = fakeClient({
      'POST /api/auth/signin': session('t1'),
      'PATCH /api/me': [
        () => problem(409, '/problems/conflict', 'an account with this email already exists'),
        () => problem(422, '/problems/invalid-field', "email: is already the account's email", { field: 'email' }),
        () => problem(503, '/problems/unavailable', 'the mail could not be queued'),
      ],
    });
    await client.signIn('ada@example.com', 'correct horse');
    const api = endpoints(client);
    const taken = await api.me.changeEmail('grace@example.com').catch((e: unknown) => e);
    expect(emailProblem(taken)).toBe('Another account uses this address.');
    const same = await api.me.changeEmail('ada@example.com').catch((e: unknown) => e);
    expect(emailProblem(same)).toBe("Is already the account's email.");
    const down = await api.me.changeEmail('ada@new.example').catch((e: unknown) => e);
    expect(emailProblem(down)).toBeUndefined();
  });

  it('a link is posted once however often the page mounts; a failure that may pass is asked again', async () => {
    let posts = 0;
    const { client } = fakeClient({
      'POST /api/auth/email-change/confirm': [
        () => {
          posts += 1;
          return Promise.reject(new TypeError('Failed to fetch'));
        },
        () => {
          posts += 1;
          return json(200, { user: { ...USER, email: 'ada@new.example' }, success: true });
        },
      ],
    });
    const confirm = endpoints(client).auth.confirmEmail;
    const first = confirmEmailOnce('ore_once', confirm);
    expect(confirmEmailOnce('ore_once', confirm)).toBe(first);
    await expect(first).rejects.toMatchObject({ status: 0 });
    const user = await confirmEmailOnce('ore_once', confirm);
    expect(user.email).toBe('ada@new.example');
    expect(await confirmEmailOnce('ore_once', confirm)).toBe(user);
    expect(posts).toBe(2);
  });

  it('a used or expired link is not asked again', async () => {
    let posts = 0;
    const { client } = fakeClient({
      'POST /api/auth/email-change/confirm': () => {
        posts += 1;
        return problem(400, '/problems/invalid-token', 'the token is invalid or has expired');
      },
    });
    const confirm = endpoints(client).auth.confirmEmail;
    await expect(confirmEmailOnce('ore_used', confirm)).rejects.toBeInstanceOf(ApiProblem);
    await expect(confirmEmailOnce('ore_used', confirm)).rejects.toMatchObject({ type: '/problems/invalid-token' });
    expect(posts).toBe(1);
  });
});

describe('deleting the account', () => {
  it('sends the password, clears the cookie, ends the session here and in other tabs, and says why', async () => {
    const { client, calls, posted, timers } = fakeClient({
      'POST /api/auth/signin': session('t1'),
      'DELETE /api/me': () => json(200, { success: true, message: 'the account was deleted' }),
    });
    await client.signIn('ada@example.com', 'correct horse');
    await client.deleteAccount('correct horse');
    expect(calls[1]).toMatchObject({ method: 'DELETE', url: '/api/me', body: { password: 'correct horse' } });
    expect(calls[1]?.headers.Authorization).toBe('Bearer t1');
    expect(calls[1]?.headers['X-Refresh-Cookie']).toBe('1');
    expect(posted).toEqual(['signed-out']);
    expect(timers).toHaveLength(0);
    expect(client.getState()).toEqual({ status: 'signed-out', user: null, ended: 'account-deleted' });
    expect(signedOutNotice({ ...ACCOUNT_DELETED })).toMatch(/^Your account was deleted/);
  });

  it('an account without a password sends no body', async () => {
    const { client, calls } = fakeClient({
      'POST /api/auth/signin': session('t1'),
      'DELETE /api/me': () => json(200, { success: true }),
    });
    await client.signIn('ada@example.com', 'correct horse');
    await client.deleteAccount();
    expect(calls[1]?.body).toBeNull();
    expect(calls[1]?.headers['Content-Type']).toBeUndefined();
  });

  it('a wrong password is shown at its field and the session goes on', async () => {
    const { client, posted } = fakeClient({
      'POST /api/auth/signin': session('t1'),
      'DELETE /api/me': () =>
        problem(422, '/problems/invalid-field', "password: is not the account's password", { field: 'password' }),
    });
    await client.signIn('ada@example.com', 'correct horse');
    const error = (await client.deleteAccount('wrong').catch((e: unknown) => e)) as ApiProblem;
    expect(error.field).toBe('password');
    expect(error.message).toBe("Is not the account's password.");
    expect(posted).toEqual([]);
    expect(client.getState()).toEqual({ status: 'signed-in', user: USER });
  });

  it('asks for the password of every account that has one, and for the word', () => {
    expect(needsPassword('email')).toBe(true);
    expect(needsPassword('email+google')).toBe(true);
    expect(needsPassword(undefined)).toBe(true);
    expect(needsPassword('google')).toBe(false);
    expect(checkDeletion({ needsPassword: true, password: '', confirmation: 'delete' })).toEqual({
      password: 'Enter your password.',
      confirmation: 'Type DELETE to confirm.',
    });
    expect(checkDeletion({ needsPassword: false, password: '', confirmation: ' DELETE ' })).toEqual({});
    expect(checkDeletion({ needsPassword: true, password: 'pw', confirmation: 'DELETE' })).toEqual({});
  });

  it('the sign-in page says so only after a deletion', () => {
    expect(signedOutNotice(null)).toBeNull();
    expect(signedOutNotice({ notice: 'other' })).toBeNull();
    expect(signedOutNotice('account-deleted')).toBeNull();
  });
});
