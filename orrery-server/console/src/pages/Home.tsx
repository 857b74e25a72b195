// `/`: the signed-in go to their graphs; others see what Orrery is and how to start.

import { Link, Navigate } from 'react-router';
import { Loading, PageTitle } from '../components/ui';
import { useSession } from '../state/session';

export function Component() {
  const { status } = useSession();
  if (status === 'signed-in') return <Navigate to="/graphs" replace />;
  if (status === 'restoring') return <Loading />;
  return (
    <div className="narrow home">
      <PageTitle>Design, nest and validate AI-agent workflows</PageTitle>
      <p className="lead">
        Orrery keeps your workflows as graphs of agents, tools, prompts and routers. It validates them like a
        compiler, versions every save, and lets any workflow become a custom agent that others nest.
      </p>
      <p className="actions">
        <Link className="button primary" to="/signup">
          Create an account
        </Link>
        <Link className="button" to="/signin">
          Sign in
        </Link>
        <a className="button" href="/docs">
          Read the API reference
        </a>
      </p>
    </div>
  );
}
