// The page for addresses that name nothing (and for /admin to non-admins).

import { Link } from 'react-router';
import { PageTitle } from '../components/ui';

export function Component() {
  return (
    <div className="narrow">
      <PageTitle>Page not found</PageTitle>
      <p>There is nothing at this address.</p>
      <p>
        <Link to="/">Go to the start page</Link>
      </p>
    </div>
  );
}
