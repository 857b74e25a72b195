// `/forgot-password`: asks for the reset mail. The answer never tells whether the email has an
// account.

import { useState, type FormEvent } from 'react';
import { Link } from 'react-router';
import { fieldError, formError } from '../api/problem';
import { Field, PageTitle, ProblemNotice } from '../components/ui';
import { api } from '../state/session';
import { useAction } from '../state/useLoad';

export function Component() {
  const [email, setEmail] = useState('');
  const [sent, setSent] = useState(false);
  const { run, busy, error } = useAction((e: string) => api.auth.requestReset(e));
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (await run(email)) setSent(true);
  };
  return (
    <div className="narrow">
      <PageTitle>Reset your password</PageTitle>
      {sent ? (
        <div className="notice notice-ok" role="status">
          <p>If {email} has an account, a mail with a reset link is on its way. The link works once, for a limited time.</p>
        </div>
      ) : (
        <form onSubmit={submit} noValidate className="form">
          <p>Enter your account's email and we will send you a link to choose a new password.</p>
          {formError(error, ['email']) && <ProblemNotice problem={error} />}
          <Field
            label="Email"
            type="email"
            autoComplete="email"
            required
            value={email}
            onChange={(e) => setEmail(e.target.value)}
            error={fieldError(error, 'email')}
          />
          <button type="submit" className="primary" disabled={busy}>
            Send the reset link
          </button>
        </form>
      )}
      <p>
        <Link to="/signin">Back to sign in</Link>
      </p>
    </div>
  );
}
