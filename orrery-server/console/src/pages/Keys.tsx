// `/keys`: API keys. A new or rotated key's secret is shown once, with a copy button; the list
// shows prefixes, creation, last use and revocation.

import { useState, type FormEvent } from 'react';
import { fieldError, formError } from '../api/problem';
import type { ApiKey, NewKey } from '../api/types';
import { Confirm, CopyButton, Field, Loading, PageTitle, ProblemNotice, formatDate } from '../components/ui';
import { api } from '../state/session';
import { useAction, useLoad } from '../state/useLoad';

export function Component() {
  const keys = useLoad('keys', () => api.keys.list().then((r) => r.keys));
  const [name, setName] = useState('');
  const [shown, setShown] = useState<NewKey | null>(null);
  const create = useAction((n: string) => api.keys.create(n));
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const created = await create.run(name);
    if (created) {
      setShown(created);
      setName('');
      keys.reload();
    }
  };
  return (
    <div>
      <PageTitle>API keys</PageTitle>
      <p className="muted">
        Keys let programs call the API as you: send one as <code>Authorization: Bearer ork_…</code> or{' '}
        <code>X-API-Key: ork_…</code>.
      </p>
      {shown && <Secret created={shown} onDone={() => setShown(null)} />}
      <section className="panel" aria-labelledby="new-key-title">
        <h2 id="new-key-title">New key</h2>
        <form className="form inline-form" onSubmit={submit} noValidate>
          <Field
            label="Name"
            hint="What uses it, to recognise it later."
            required
            value={name}
            onChange={(e) => setName(e.target.value)}
            error={fieldError(create.error, 'name')}
          />
          <button type="submit" className="primary" disabled={create.busy}>
            Create key
          </button>
        </form>
        {formError(create.error, ['name']) && <ProblemNotice problem={create.error} />}
      </section>
      <section aria-labelledby="keys-title">
        <h2 id="keys-title">Your keys</h2>
        {keys.error ? <ProblemNotice problem={keys.error} onRetry={keys.reload} /> : null}
        {keys.data ? (
          keys.data.length === 0 ? (
            <p>No keys yet.</p>
          ) : (
            <ul className="cards" aria-label="API keys">
              {keys.data.map((k) => (
                <KeyRow key={k.id} apiKey={k} onRotated={(n) => { setShown(n); keys.reload(); }} onRevoked={keys.reload} />
              ))}
            </ul>
          )
        ) : (
          !keys.error && <Loading />
        )}
      </section>
    </div>
  );
}

function Secret({ created, onDone }: { created: NewKey; onDone: () => void }) {
  return (
    <section className="notice notice-ok secret" aria-labelledby="secret-title">
      <h2 id="secret-title">Your new key “{created.key.name}”</h2>
      <p>
        <strong>Copy it now: this is the only time it is shown.</strong> Only a hash is kept.
      </p>
      <p className="secret-value">
        <code data-testid="secret">{created.secret}</code>
      </p>
      <div className="actions">
        <CopyButton text={created.secret} label="Copy key" />
        <button type="button" onClick={onDone}>
          I have saved it
        </button>
      </div>
    </section>
  );
}

function KeyRow({ apiKey, onRotated, onRevoked }: { apiKey: ApiKey; onRotated: (k: NewKey) => void; onRevoked: () => void }) {
  const [confirm, setConfirm] = useState<'rotate' | 'revoke' | null>(null);
  const rotate = useAction(() => api.keys.rotate(apiKey.id));
  const revoke = useAction(() => api.keys.revoke(apiKey.id));
  const revoked = apiKey.revoked_at !== null;
  return (
    <li className={`card ${revoked ? 'revoked' : ''}`}>
      <div className="card-head">
        <h3>{apiKey.name}</h3>
        <div className="badges">{revoked ? <span className="badge">revoked</span> : <span className="badge ok">active</span>}</div>
      </div>
      <p>
        <code>{apiKey.prefix}…</code>
      </p>
      <p className="muted">
        Created {formatDate(apiKey.created_at, true)} · last used{' '}
        {apiKey.last_used_at ? formatDate(apiKey.last_used_at, true) : 'never'}
        {revoked && ` · revoked ${formatDate(apiKey.revoked_at, true)}`}
      </p>
      <ProblemNotice problem={rotate.error ?? revoke.error} />
      {!revoked && (
        <div className="actions">
          <button type="button" onClick={() => setConfirm('rotate')}>
            Rotate<span className="visually-hidden"> {apiKey.name}</span>
          </button>
          <button type="button" className="danger" onClick={() => setConfirm('revoke')}>
            Revoke<span className="visually-hidden"> {apiKey.name}</span>
          </button>
        </div>
      )}
      <Confirm
        open={confirm === 'rotate'}
        title={`Rotate “${apiKey.name}”?`}
        confirmLabel="Rotate key"
        busy={rotate.busy}
        onCancel={() => setConfirm(null)}
        onConfirm={async () => {
          const r = await rotate.run();
          setConfirm(null);
          if (r) onRotated(r);
        }}
      >
        <p>A new secret replaces this one, which stops working at once.</p>
      </Confirm>
      <Confirm
        open={confirm === 'revoke'}
        title={`Revoke “${apiKey.name}”?`}
        confirmLabel="Revoke key"
        danger
        busy={revoke.busy}
        onCancel={() => setConfirm(null)}
        onConfirm={async () => {
          const r = await revoke.run();
          setConfirm(null);
          if (r) onRevoked();
        }}
      >
        <p>Programs using this key stop working at once. This cannot be undone.</p>
      </Confirm>
    </li>
  );
}
