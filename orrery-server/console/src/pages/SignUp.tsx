// `/signup`: a new account starts with the pro plan's trial.

import { useCallback, useState, type FormEvent } from 'react';
import { Link, Navigate, useNavigate } from 'react-router';
import { fieldError, formError } from '../api/problem';
import { GoogleSignIn } from '../components/GoogleSignIn';
import { Field, PageTitle, ProblemNotice } from '../components/ui';
import { client, useSession } from '../state/session';
import { useAction } from '../state/useLoad';

export function Component() {
  const navigate = useNavigate();
  const { status } = useSession();
  const [name, setName] = useState('');
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const { run, busy, error } = useAction((n: string, e: string, p: string) => client.signUp(n, e, p));
  const google = useCallback(() => void navigate('/graphs', { replace: true }), [navigate]);
  if (status === 'signed-in' && !busy) return <Navigate to="/graphs" replace />;
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (await run(name, email, password)) await navigate('/graphs', { replace: true });
  };
  const fields = ['name', 'email', 'password'];
  return (
    <div className="narrow">
      <PageTitle>Create your account</PageTitle>
      <p>New accounts try the Pro plan for free.</p>
      <form onSubmit={submit} noValidate className="form">
        {formError(error, fields) && <ProblemNotice problem={error} />}
        <Field
          label="Name"
          autoComplete="name"
          required
          value={name}
          onChange={(e) => setName(e.target.value)}
          error={fieldError(error, 'name')}
        />
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
          autoComplete="new-password"
          required
          minLength={8}
          hint="At least 8 characters."
          value={password}
          onChange={(e) => setPassword(e.target.value)}
          error={fieldError(error, 'password')}
        />
        <button type="submit" className="primary" disabled={busy}>
          {busy ? 'Creating your account…' : 'Create account'}
        </button>
      </form>
      <GoogleSignIn onSignedIn={google} />
      <p>
        Already have an account? <Link to="/signin">Sign in</Link>
      </p>
    </div>
  );
}
