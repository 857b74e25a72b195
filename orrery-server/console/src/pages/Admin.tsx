// `/admin` (administrators only; others get the ordinary 404): the service's figures, the
// accounts with search, plan filter, paging, edits and export, system health, and the mail
// templates with an editor and a preview.

import { useState, type FormEvent } from 'react';
import { ApiProblem, fieldError, formError } from '../api/problem';
import type { MailTemplate, User } from '../api/types';
import { download, Loading, TableWrap, PageTitle, Pagination, ProblemNotice, capitalize, formatDate, formatNumber, money } from '../components/ui';
import { Component as NotFound } from './NotFound';
import { api, client, useSession } from '../state/session';
import { previewTemplate } from '../state/templates';
import { useAction, useLoad } from '../state/useLoad';

export function Component() {
  const { user } = useSession();
  if (user?.role !== 'admin') return <NotFound />;
  return (
    <div>
      <PageTitle>Administration</PageTitle>
      <nav aria-label="Sections" className="subnav">
        <a href="#stats-title">Figures</a>
        <a href="#users-title">Accounts</a>
        <a href="#health-title">Health</a>
        <a href="#templates-title">Mail templates</a>
      </nav>
      <Stats />
      <Users />
      <HealthPanel />
      <Templates />
    </div>
  );
}

function Stats() {
  const [refresh, setRefresh] = useState(0);
  const stats = useLoad(`stats${refresh}`, () => api.admin.stats(refresh > 0));
  const s = stats.data;
  return (
    <section aria-labelledby="stats-title">
      <div className="section-head">
        <h2 id="stats-title">Figures</h2>
        <button type="button" onClick={() => setRefresh((r) => r + 1)}>
          Recompute
        </button>
      </div>
      {stats.error ? <ProblemNotice problem={stats.error} onRetry={stats.reload} /> : null}
      {s ? (
        <>
          <ul className="stat-cards" aria-label="Figures">
            <li><span className="stat-label">MRR</span><span className="stat-value">{money(s.revenue.mrr, s.revenue.currency)}</span></li>
            <li><span className="stat-label">ARR</span><span className="stat-value">{money(s.revenue.arr, s.revenue.currency)}</span></li>
            <li><span className="stat-label">Growth (30 days)</span><span className="stat-value">{(s.revenue.growth_rate * 100).toFixed(1)}%</span></li>
            <li><span className="stat-label">Accounts</span><span className="stat-value">{formatNumber(s.users.total)}</span></li>
            <li><span className="stat-label">Active (30 days)</span><span className="stat-value">{formatNumber(s.users.active_last_30_days)}</span></li>
            <li><span className="stat-label">On trial</span><span className="stat-value">{formatNumber(s.users.trial_users)}</span></li>
            <li><span className="stat-label">Paying</span><span className="stat-value">{formatNumber(s.users.pro_users + s.users.enterprise_users)}</span></li>
            <li><span className="stat-label">Trial conversion</span><span className="stat-value">{(s.users.conversion_rate * 100).toFixed(1)}%</span></li>
            <li><span className="stat-label">API calls (30 days)</span><span className="stat-value">{formatNumber(s.usage.api_calls_last_30_days)}</span></li>
            <li><span className="stat-label">Graphs</span><span className="stat-value">{formatNumber(s.usage.total_graphs)}</span></li>
          </ul>
          <p className="muted">
            Computed {formatDate(s.generated_at, true)}{s.cached ? ' (cached for up to 5 minutes)' : ''}.
          </p>
        </>
      ) : (
        !stats.error && <Loading />
      )}
    </section>
  );
}

function Users() {
  const [search, setSearch] = useState('');
  const [query, setQuery] = useState({ search: '', plan: '', page: 1 });
  const users = useLoad(JSON.stringify(query), () =>
    api.admin.users({ search: query.search, plan: query.plan || undefined, page: query.page, limit: 20 }),
  );
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setQuery({ ...query, search: search.trim(), page: 1 });
  };
  return (
    <section aria-labelledby="users-title">
      <h2 id="users-title">Accounts</h2>
      <form className="toolbar" role="search" onSubmit={submit}>
        <label className="inline">
          <span className="visually-hidden">Search accounts by email or name</span>
          <input type="search" placeholder="Email or name" value={search} onChange={(e) => setSearch(e.target.value)} />
        </label>
        <button type="submit">Search</button>
        <label className="inline">
          Plan{' '}
          <select value={query.plan} onChange={(e) => setQuery({ ...query, plan: e.target.value, page: 1 })}>
            <option value="">Any</option>
            <option value="free">Free</option>
            <option value="pro">Pro</option>
            <option value="enterprise">Enterprise</option>
          </select>
        </label>
      </form>
      {users.error ? <ProblemNotice problem={users.error} onRetry={users.reload} /> : null}
      {users.data ? (
        <>
          <p className="muted" aria-live="polite">
            {formatNumber(users.data.total)} account{users.data.total === 1 ? '' : 's'}
          </p>
          <ul className="cards" aria-label="Accounts">
            {users.data.users.map((u) => (
              <UserRow key={u.id} user={u} onSaved={users.reload} />
            ))}
          </ul>
          <Pagination page={query.page} total={users.data.total} limit={20} onPage={(page) => setQuery({ ...query, page })} />
        </>
      ) : (
        !users.error && <Loading />
      )}
    </section>
  );
}

function UserRow({ user, onSaved }: { user: User; onSaved: () => void }) {
  const [editing, setEditing] = useState(false);
  const [plan, setPlan] = useState<string>(user.plan);
  const [role, setRole] = useState<string>(user.role);
  const [trial, setTrial] = useState(user.trial_ends_at ? user.trial_ends_at.slice(0, 10) : '');
  const save = useAction(() => {
    const body: { plan?: string; role?: string; trial_ends_at?: string | null } = {};
    if (plan !== user.plan) body.plan = plan;
    if (role !== user.role) body.role = role;
    const before = user.trial_ends_at ? user.trial_ends_at.slice(0, 10) : '';
    if (trial !== before) body.trial_ends_at = trial ? `${trial}T23:59:59Z` : null;
    return api.admin.updateUser(user.id, body);
  });
  const exporting = useAction(async () => {
    const response = await api.admin.exportUser(user.id);
    download(`orrery-user-${user.id}.json`, await response.blob());
  });
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const r = await save.run();
    if (r) {
      setEditing(false);
      if (r.user.id === client.getState().user?.id) client.setUser(r.user);
      onSaved();
    }
  };
  return (
    <li className="card">
      <div className="card-head">
        <h3>
          {user.name} <span className="muted">{user.email}</span>
        </h3>
        <div className="badges">
          <span className="badge">{user.plan}</span>
          {user.role === 'admin' && <span className="badge">admin</span>}
        </div>
      </div>
      <p className="muted">
        Joined {formatDate(user.created_at)} · trial {user.trial_ends_at ? `ends ${formatDate(user.trial_ends_at)}` : 'none'}
      </p>
      <ProblemNotice problem={exporting.error} />
      {editing ? (
        <form className="form" onSubmit={submit} noValidate aria-label={`Edit ${user.email}`}>
          {formError(save.error, ['plan', 'role', 'trial_ends_at']) && <ProblemNotice problem={save.error} />}
          <div className="field">
            <label htmlFor={`plan-${user.id}`}>Plan</label>
            <select id={`plan-${user.id}`} value={plan} onChange={(e) => setPlan(e.target.value)}>
              <option value="free">Free</option>
              <option value="pro">Pro</option>
              <option value="enterprise">Enterprise</option>
            </select>
            {fieldError(save.error, 'plan') && <p className="field-error">{fieldError(save.error, 'plan')}</p>}
          </div>
          <div className="field">
            <label htmlFor={`role-${user.id}`}>Role</label>
            <select id={`role-${user.id}`} value={role} onChange={(e) => setRole(e.target.value)}>
              <option value="user">User</option>
              <option value="admin">Admin</option>
            </select>
            {fieldError(save.error, 'role') && <p className="field-error">{fieldError(save.error, 'role')}</p>}
          </div>
          <div className="field">
            <label htmlFor={`trial-${user.id}`}>Trial ends (empty: no trial)</label>
            <input id={`trial-${user.id}`} type="date" value={trial} onChange={(e) => setTrial(e.target.value)} />
            {fieldError(save.error, 'trial_ends_at') && <p className="field-error">{fieldError(save.error, 'trial_ends_at')}</p>}
          </div>
          <div className="actions">
            <button type="submit" className="primary" disabled={save.busy}>
              Save
            </button>
            <button type="button" onClick={() => setEditing(false)}>
              Cancel
            </button>
          </div>
        </form>
      ) : (
        <div className="actions">
          <button type="button" onClick={() => setEditing(true)}>
            Edit<span className="visually-hidden"> {user.email}</span>
          </button>
          <button type="button" disabled={exporting.busy} onClick={() => void exporting.run()}>
            Export data<span className="visually-hidden"> of {user.email}</span>
          </button>
        </div>
      )}
    </li>
  );
}

function HealthPanel() {
  const health = useLoad('health', () => api.admin.health());
  const h = health.data;
  return (
    <section aria-labelledby="health-title">
      <div className="section-head">
        <h2 id="health-title">Health</h2>
        <button type="button" onClick={health.reload}>
          Check again
        </button>
      </div>
      {health.error ? <ProblemNotice problem={health.error} onRetry={health.reload} /> : null}
      {h ? (
        <>
          <p>
            <span className={`badge ${h.status === 'ok' ? 'ok' : 'bad'}`}>{h.status}</span> version {h.version}, up{' '}
            {Math.floor(h.uptime_seconds / 3600)} h {Math.floor((h.uptime_seconds % 3600) / 60)} min
          </p>
          <TableWrap label="Health of each part">
            <table>
              <thead>
                <tr>
                  <th scope="col">Part</th>
                  <th scope="col">State</th>
                  <th scope="col">Detail</th>
                </tr>
              </thead>
              <tbody>
                {(['database', 'redis', 'smtp', 'stripe'] as const).map((part) => (
                  <tr key={part}>
                    <th scope="row">{part === 'smtp' ? 'SMTP' : capitalize(part)}</th>
                    <td>{!h[part].configured ? 'not configured' : h[part].ok ? 'ok' : 'failing'}</td>
                    <td>{h[part].detail}</td>
                  </tr>
                ))}
                <tr>
                  <th scope="row">Mail queue</th>
                  <td>{h.outbox.failed > 0 ? 'has failures' : 'ok'}</td>
                  <td>
                    {h.outbox.pending} waiting, {h.outbox.sent} sent, {h.outbox.failed} given up
                  </td>
                </tr>
              </tbody>
            </table>
          </TableWrap>
        </>
      ) : (
        !health.error && <Loading />
      )}
    </section>
  );
}

function Templates() {
  const templates = useLoad('templates', () => api.admin.templates().then((r) => r.templates));
  const [selected, setSelected] = useState<string>('');
  const list = templates.data ?? [];
  const current = list.find((t) => t.name === selected) ?? list[0];
  return (
    <section aria-labelledby="templates-title">
      <h2 id="templates-title">Mail templates</h2>
      {templates.error ? <ProblemNotice problem={templates.error} onRetry={templates.reload} /> : null}
      {templates.data ? (
        <>
          <label className="inline">
            Template{' '}
            <select value={current?.name ?? ''} onChange={(e) => setSelected(e.target.value)}>
              {list.map((t) => (
                <option key={t.name} value={t.name}>
                  {t.name}
                </option>
              ))}
            </select>
          </label>
          {current && <TemplateEditor key={current.name} template={current} onSaved={templates.reload} />}
        </>
      ) : (
        !templates.error && <Loading />
      )}
    </section>
  );
}

function TemplateEditor({ template, onSaved }: { template: MailTemplate; onSaved: () => void }) {
  const [draft, setDraft] = useState(template);
  const [saved, setSaved] = useState(false);
  const save = useAction(() => api.admin.saveTemplate(draft));
  const origin = window.location.origin;
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setSaved(false);
    if (await save.run()) {
      setSaved(true);
      onSaved();
    }
  };
  const fieldMessage = (f: string) => fieldError(save.error, f);
  const fields = ['subject', 'html', 'text', 'variables'];
  return (
    <div className="template-editor">
      <form className="form" onSubmit={submit} noValidate>
        <p className="muted">
          Variables: {draft.variables.map((v) => <code key={v}>{`{{ ${v} }}`} </code>)}
        </p>
        {formError(save.error, fields) && <ProblemNotice problem={save.error} />}
        <div className="field">
          <label htmlFor="tpl-subject">Subject</label>
          <input id="tpl-subject" value={draft.subject} onChange={(e) => setDraft({ ...draft, subject: e.target.value })} aria-invalid={fieldMessage('subject') ? true : undefined} />
          {fieldMessage('subject') && <p className="field-error">{fieldMessage('subject')}</p>}
        </div>
        <div className="field">
          <label htmlFor="tpl-html">HTML body</label>
          <textarea id="tpl-html" rows={12} value={draft.html} onChange={(e) => setDraft({ ...draft, html: e.target.value })} aria-invalid={fieldMessage('html') ? true : undefined} />
          {fieldMessage('html') && <p className="field-error">{fieldMessage('html')}</p>}
        </div>
        <div className="field">
          <label htmlFor="tpl-text">Text body</label>
          <textarea id="tpl-text" rows={8} value={draft.text} onChange={(e) => setDraft({ ...draft, text: e.target.value })} aria-invalid={fieldMessage('text') ? true : undefined} />
          {fieldMessage('text') && <p className="field-error">{fieldMessage('text')}</p>}
        </div>
        <div className="field">
          <label className="check">
            <input
              type="checkbox"
              checked={draft.is_active}
              onChange={(e) => setDraft({ ...draft, is_active: e.target.checked })}
              aria-describedby="tpl-active-help"
            />
            Send this mail
          </label>
          <p id="tpl-active-help" className="muted">
            Switched off, mails of this template are not sent (the outbox gives them up).
          </p>
        </div>
        <div className="actions">
          <button type="submit" className="primary" disabled={save.busy}>
            Save template
          </button>
          <button type="button" onClick={() => setDraft(template)}>
            Discard changes
          </button>
          <span role="status">{saved ? 'Saved.' : save.error instanceof ApiProblem ? '' : ''}</span>
        </div>
      </form>
      <div className="preview" aria-labelledby="preview-title">
        <h3 id="preview-title">Preview with sample values</h3>
        <p>
          <strong>Subject:</strong> {previewTemplate(draft.subject, origin, false)}
        </p>
        <iframe
          title="HTML preview"
          sandbox=""
          srcDoc={previewTemplate(draft.html, origin, true)}
          className="mail-preview"
        />
        <pre className="json text-preview" tabIndex={0} role="region" aria-label="Text preview">
          {previewTemplate(draft.text, origin, false)}
        </pre>
      </div>
    </div>
  );
}
