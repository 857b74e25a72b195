// `/agents`: the custom agents you may nest (yours and public ones), each with its interface,
// its versions and the graphs that call it.

import { useState, type FormEvent } from 'react';
import { Link, useSearchParams } from 'react-router';
import type { GraphSummary } from '../api/types';
import { Loading, PageTitle, Pagination, ProblemNotice, formatDate, formatNumber, shortDigest } from '../components/ui';
import { api, useSession } from '../state/session';
import { useLoad } from '../state/useLoad';

const LIMIT = 20;

export function Component() {
  const [params, setParams] = useSearchParams();
  const search = params.get('q') ?? '';
  const page = Number(params.get('page') ?? '1') || 1;
  const [query, setQuery] = useState(search);
  const list = useLoad(`${search}|${page}`, () => api.agents.list({ search, page, limit: LIMIT }));
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setParams(query.trim() ? { q: query.trim() } : {});
  };
  return (
    <div>
      <PageTitle>Custom agents</PageTitle>
      <p className="muted">
        Graphs published as agents. Other graphs nest them with a <code>subgraph</code> node; publish one from the{' '}
        <Link to="/graphs">graphs</Link> page.
      </p>
      <form className="toolbar" role="search" onSubmit={submit}>
        <label className="inline">
          <span className="visually-hidden">Search agents</span>
          <input type="search" placeholder="Search agents" value={query} onChange={(e) => setQuery(e.target.value)} />
        </label>
        <button type="submit">Search</button>
      </form>
      {list.error ? <ProblemNotice problem={list.error} onRetry={list.reload} /> : null}
      {list.data ? (
        <>
          {list.data.total === 0 && <p>No custom agents{search ? ` match “${search}”` : ' yet'}.</p>}
          <ul className="cards" aria-label="Agents">
            {list.data.agents.map((a) => (
              <AgentCard key={a.id} agent={a} />
            ))}
          </ul>
          <Pagination
            page={page}
            total={list.data.total}
            limit={LIMIT}
            onPage={(p) => setParams({ ...(search ? { q: search } : {}), page: String(p) })}
          />
        </>
      ) : (
        !list.error && <Loading />
      )}
    </div>
  );
}

function AgentCard({ agent }: { agent: GraphSummary }) {
  const [open, setOpen] = useState(false);
  const { user } = useSession();
  return (
    <li className="card">
      <div className="card-head">
        <h2>
          <code>{agent.agent_id}</code> · <Link to={`/graphs/${agent.id}`}>{agent.name}</Link>
        </h2>
        <div className="badges">
          {agent.is_public && <span className="badge">public</span>}
          {agent.owner_id !== user?.id && <span className="badge">shared</span>}
        </div>
      </div>
      {agent.description && <p>{agent.description}</p>}
      <p className="muted">
        {formatNumber(agent.node_count)} nodes · version <code>{shortDigest(agent.version)}</code> · updated{' '}
        {formatDate(agent.updated_at)}
      </p>
      <details onToggle={(e) => setOpen(e.currentTarget.open)}>
        <summary>Interface, versions and callers</summary>
        {open && <AgentDetails agent={agent} />}
      </details>
    </li>
  );
}

function AgentDetails({ agent }: { agent: GraphSummary }) {
  const agentId = agent.agent_id ?? '';
  const detail = useLoad(agentId, async () => {
    const [info, callers, versions] = await Promise.all([
      api.agents.get(agentId),
      api.agents.callers(agentId),
      api.graphs.versions(agent.id, { limit: 10 }),
    ]);
    return { info, callers, versions };
  });
  if (detail.error) return <ProblemNotice problem={detail.error} onRetry={detail.reload} />;
  if (!detail.data) return <Loading />;
  const { info, callers, versions } = detail.data;
  return (
    <div className="agent-details">
      <h3>Interface</h3>
      <div className="two-columns">
        <div>
          <h4>Inputs</h4>
          <ul>
            {info.interface.inputs.map((p) => (
              <li key={p.name}>
                <code>{p.name}</code>: {p.type}
              </li>
            ))}
            {info.interface.inputs.length === 0 && <li>None</li>}
          </ul>
        </div>
        <div>
          <h4>Outputs</h4>
          <ul>
            {info.interface.outputs.map((p) => (
              <li key={p.name}>
                <code>{p.name}</code>: {p.type}
              </li>
            ))}
            {info.interface.outputs.length === 0 && <li>None</li>}
          </ul>
        </div>
      </div>
      <h3>Versions</h3>
      <ul>
        {versions.versions.map((v) => (
          <li key={v.version}>
            <code title={v.version}>{shortDigest(v.version)}</code> · {formatDate(v.created_at, true)} ·{' '}
            {formatNumber(v.node_count)} nodes
          </li>
        ))}
      </ul>
      {versions.total > versions.versions.length && (
        <p className="muted">
          {versions.total - versions.versions.length} older versions on the <Link to={`/graphs/${agent.id}`}>graph's page</Link>.
        </p>
      )}
      <h3>Callers</h3>
      {callers.callers.length === 0 && callers.hidden_callers === 0 ? (
        <p>No graph uses this agent yet.</p>
      ) : (
        <ul>
          {callers.callers.map((c) => (
            <li key={`${c.graph_id}-${c.node}`}>
              <Link to={`/graphs/${c.graph_id}`}>graph {c.graph_id.slice(0, 8)}</Link>, node <code>{c.node}</code>,{' '}
              {c.pinned ? (
                <>
                  pinned to <code>{shortDigest(c.pinned)}</code>
                </>
              ) : (
                'follows the latest version'
              )}
            </li>
          ))}
          {callers.hidden_callers > 0 && (
            <li>
              {callers.hidden_callers} private graph{callers.hidden_callers === 1 ? '' : 's'} of other accounts
            </li>
          )}
        </ul>
      )}
    </div>
  );
}
