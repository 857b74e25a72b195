// `/signin`: email and password; back to where the visitor was going. Also where a deleted
// account lands, with a notice.

import { useCallback, useState, type FormEvent } from 'react';
import { Link, Navigate, useLocation, useNavigate, useSearchParams } from 'react-router';
import { fieldError, formError } from '../api/problem';
import { GoogleSignIn } from '../components/GoogleSignIn';
import { Field, PageTitle, ProblemNotice } from '../components/ui';
import { signedOutNotice } from '../state/account';
import { client, useSession } from '../state/session';
import { useAction } from '../state/useLoad';

/** Only paths of this console are followed after sign-in (never another site). */
export function safeNext(next: string | null): string {
  return next && next.startsWith('/') && !next.startsWith('//') ? next : '/graphs';
}

export function Component() {
  const [params] = useSearchParams();
  const navigate = useNavigate();
  const notice = signedOutNotice(useLocation().state);
  const { status } = useSession();
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const { run, busy, error } = useAction((e: string, p: string) => client.signIn(e, p));
  const next = safeNext(params.get('next'));
  const google = useCallback(() => void navigate(next, { replace: true }), [navigate, next]);
  if (status === 'signed-in' && !busy) return <Navigate to={next} replace />;
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (await run(email, password)) await navigate(next, { replace: true });
  };
  const fields = ['email', 'password'];
  return (
    <div className="narrow">
      <PageTitle>Sign in</PageTitle>
      {notice && (
        <div className="notice notice-ok" role="status">
          <p>{notice}</p>
        </div>
      )}
      <form onSubmit={submit} noValidate className="form">
        {formError(error, fields) && <ProblemNotice problem={error} />}
        <Field
          label="Email"
          type="email"
          autoComplete="email"
          required
          value={email}
          onChange={(e) => setEmail(e.target.value)}
          error={fieldError(error, 'email')}
        />
        <Field
          label="Password"
          type="password"
          autoComplete="current-password"
          required
          value={password}
          onChange={(e) => setPassword(e.target.value)}
          error={fieldError(error, 'password')}
        />
        <button type="submit" className="primary" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
      <GoogleSignIn onSignedIn={google} />
      <p>
        <Link to="/forgot-password">Forgot your password?</Link>
      </p>
      <p>
        No account yet? <Link to="/signup">Create one</Link>
      </p>
    </div>
  );
}
