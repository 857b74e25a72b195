// `/reset-password?token=…`: the reset mail's link. Every session ends; the new password
// signs in.

import { useState, type FormEvent } from 'react';
import { Link, useSearchParams } from 'react-router';
import { ApiProblem, fieldError, formError } from '../api/problem';
import { Field, PageTitle, ProblemNotice } from '../components/ui';
import { api } from '../state/session';
import { useAction } from '../state/useLoad';

export function Component() {
  const [params] = useSearchParams();
  const token = params.get('token') ?? '';
  const [password, setPassword] = useState('');
  const [confirm, setConfirm] = useState('');
  const [mismatch, setMismatch] = useState(false);
  const [done, setDone] = useState(false);
  const { run, busy, error } = useAction((t: string, p: string) => api.auth.confirmReset(t, p));
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setMismatch(password !== confirm);
    if (password !== confirm) return;
    if (await run(token, password)) setDone(true);
  };
  const expired = error instanceof ApiProblem && error.type === '/problems/invalid-token';
  return (
    <div className="narrow">
      <PageTitle>Choose a new password</PageTitle>
      {!token ? (
        <div className="notice notice-error" role="alert">
          <p>This address has no reset token. Open the link from the mail, or ask for a new one.</p>
          <p><Link to="/forgot-password">Ask for a new link</Link></p>
        </div>
      ) : done ? (
        <div className="notice notice-ok" role="status">
          <p>Your password is changed and every session was signed out.</p>
          <p><Link className="button primary" to="/signin">Sign in with the new password</Link></p>
        </div>
      ) : (
        <form onSubmit={submit} noValidate className="form">
          {expired ? (
            <div className="notice notice-error" role="alert">
              <p>This reset link is invalid, already used or expired.</p>
              <p><Link to="/forgot-password">Ask for a new link</Link></p>
            </div>
          ) : (
            formError(error, ['password']) && <ProblemNotice problem={error} />
          )}
          <Field
            label="New password"
            type="password"
            autoComplete="new-password"
            required
            minLength={8}
            hint="At least 8 characters."
            value={password}
            onChange={(e) => setPassword(e.target.value)}
            error={fieldError(error, 'password')}
          />
          <Field
            label="Repeat the new password"
            type="password"
            autoComplete="new-password"
            required
            value={confirm}
            onChange={(e) => setConfirm(e.target.value)}
            error={mismatch ? 'The two passwords differ.' : undefined}
          />
          <button type="submit" className="primary" disabled={busy}>
            Change password
          </button>
        </form>
      )}
    </div>
  );
}
