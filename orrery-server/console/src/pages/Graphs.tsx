// `/graphs`: the account's graphs with search, pagination and a custom-agent filter; create
// from an example or an uploaded document; clone, delete (confirmed) and the public toggle.

import { useState, type FormEvent } from 'react';
import { Link, useSearchParams } from 'react-router';
import { ApiProblem, fieldError, formError } from '../api/problem';
import type { Diagnostic, GraphSummary } from '../api/types';
import { Confirm, Field, Loading, PageTitle, Pagination, ProblemNotice, formatDate, formatNumber } from '../components/ui';
import { Diagnostics } from '../components/Diagnostics';
import { examples } from '../examples';
import { api, useSession } from '../state/session';
import { useAction, useLoad } from '../state/useLoad';

const LIMIT = 20;

export function Component() {
  const [params, setParams] = useSearchParams();
  const search = params.get('q') ?? '';
  const page = Number(params.get('page') ?? '1') || 1;
  const agentsOnly = params.get('agents') === '1';
  const [query, setQuery] = useState(search);
  const [creating, setCreating] = useState(false);
  const { user } = useSession();

  const list = useLoad(`${search}|${page}|${agentsOnly}`, async () => {
    if (agentsOnly) {
      const r = await api.agents.list({ search, page, limit: LIMIT });
      return { graphs: r.agents, total: r.total, page: r.page };
    }
    return api.graphs.list({ search, page, limit: LIMIT });
  });

  const update = (changes: Record<string, string | null>) => {
    const next = new URLSearchParams(params);
    for (const [k, v] of Object.entries(changes)) {
      if (v === null || v === '') next.delete(k);
      else next.set(k, v);
    }
    setParams(next);
  };

  const submitSearch = (e: FormEvent) => {
    e.preventDefault();
    update({ q: query.trim(), page: null });
  };

  return (
    <div>
      <PageTitle
        actions={
          <button type="button" className="primary" aria-expanded={creating} onClick={() => setCreating((c) => !c)}>
            New graph
          </button>
        }
      >
        Graphs
      </PageTitle>
      {creating && (
        <CreateGraph
          onCreated={() => {
            setCreating(false);
            update({ q: null, page: null, agents: null });
            setQuery('');
            list.reload();
          }}
          onCancel={() => setCreating(false)}
        />
      )}
      <form className="toolbar" role="search" onSubmit={submitSearch}>
        <label className="inline">
          <span className="visually-hidden">Search graphs</span>
          <input
            type="search"
            placeholder="Search by name or description"
            value={query}
            onChange={(e) => setQuery(e.target.value)}
          />
        </label>
        <button type="submit">Search</button>
        <label className="check">
          <input
            type="checkbox"
            checked={agentsOnly}
            onChange={(e) => update({ agents: e.target.checked ? '1' : null, page: null })}
          />
          Custom agents only (yours and public ones)
        </label>
      </form>
      {list.error ? <ProblemNotice problem={list.error} onRetry={list.reload} /> : null}
      {list.loading && !list.data ? (
        <Loading />
      ) : list.data ? (
        <>
          <p className="muted" aria-live="polite">
            {list.data.total === 0
              ? search
                ? `No graph matches “${search}”.`
                : agentsOnly
                  ? 'No custom agents yet.'
                  : 'No graphs yet: create one from an example to start.'
              : `${formatNumber(list.data.total)} graph${list.data.total === 1 ? '' : 's'}`}
          </p>
          <ul className="cards" aria-label="Graphs">
            {list.data.graphs.map((g) => (
              <GraphCard key={g.id} graph={g} mine={g.owner_id === user?.id} onChanged={list.reload} />
            ))}
          </ul>
          <Pagination page={page} total={list.data.total} limit={LIMIT} onPage={(p) => update({ page: String(p) })} />
        </>
      ) : null}
    </div>
  );
}

function GraphCard({ graph, mine, onChanged }: { graph: GraphSummary; mine: boolean; onChanged: () => void }) {
  const [confirming, setConfirming] = useState(false);
  const [isPublic, setPublic] = useState(graph.is_public);
  const remove = useAction(() => api.graphs.remove(graph.id));
  const clone = useAction(() => api.graphs.clone(graph.id));
  const toggle = useAction((value: boolean) => api.graphs.update(graph.id, { is_public: value }));
  const problem = remove.error ?? clone.error ?? toggle.error;
  return (
    <li className="card">
      <div className="card-head">
        <h2>
          <Link to={`/graphs/${graph.id}`}>{graph.name}</Link>
        </h2>
        <div className="badges">
          {graph.is_custom_agent && <span className="badge">agent {graph.agent_id}</span>}
          {graph.is_public && <span className="badge">public</span>}
          {!mine && <span className="badge">shared</span>}
        </div>
      </div>
      {graph.description && <p>{graph.description}</p>}
      <p className="muted">
        {formatNumber(graph.node_count)} nodes · updated {formatDate(graph.updated_at, true)}
      </p>
      <ProblemNotice problem={problem} />
      {mine && (
        <div className="actions">
          <label className="check">
            <input
              type="checkbox"
              checked={isPublic}
              disabled={toggle.busy}
              onChange={async (e) => {
                const value = e.target.checked;
                setPublic(value);
                if (!(await toggle.run(value))) setPublic(!value);
              }}
            />
            Public
          </label>
          <button
            type="button"
            disabled={clone.busy}
            onClick={async () => {
              if (await clone.run()) onChanged();
            }}
          >
            Clone<span className="visually-hidden"> {graph.name}</span>
          </button>
          <button type="button" className="danger" onClick={() => setConfirming(true)}>
            Delete<span className="visually-hidden"> {graph.name}</span>
          </button>
        </div>
      )}
      <Confirm
        open={confirming}
        title={`Delete “${graph.name}”?`}
        confirmLabel="Delete graph"
        danger
        busy={remove.busy}
        onCancel={() => setConfirming(false)}
        onConfirm={async () => {
          if (await remove.run()) {
            setConfirming(false);
            onChanged();
          } else setConfirming(false);
        }}
      >
        <p>The graph and all its versions are deleted. This cannot be undone.</p>
      </Confirm>
    </li>
  );
}

function CreateGraph({ onCreated, onCancel }: { onCreated: () => void; onCancel: () => void }) {
  const [source, setSource] = useState<string>(examples[0]?.key ?? 'upload');
  const [name, setName] = useState(examples[0]?.title.replace(/ \(custom agent\)$/, '') ?? '');
  const [description, setDescription] = useState('');
  const [file, setFile] = useState<File | null>(null);
  const [isAgent, setAgent] = useState(Boolean(examples[0]?.agentId));
  const [agentId, setAgentId] = useState(examples[0]?.agentId ?? '');
  const [isPublic, setPublic] = useState(false);
  const { run, busy, error } = useAction(async () => {
    let graphData: unknown;
    if (source === 'upload') {
      if (!file) throw new Error('Choose a graph document (.json) to upload.');
      try {
        graphData = JSON.parse(await file.text());
      } catch {
        throw new Error(`${file.name} is not JSON.`);
      }
    } else {
      const example = examples.find((e) => e.key === source);
      if (!example) throw new Error('Unknown example.');
      graphData = await example.load();
    }
    return api.graphs.create({
      name,
      description: description.trim() || null,
      graph_data: graphData,
      is_custom_agent: isAgent,
      ...(isAgent && agentId.trim() ? { agent_id: agentId.trim() } : {}),
      is_public: isPublic,
    });
  });
  const pick = (key: string) => {
    setSource(key);
    const example = examples.find((e) => e.key === key);
    if (example) {
      setName(example.title.replace(/ \(custom agent\)$/, ''));
      setAgent(Boolean(example.agentId));
      setAgentId(example.agentId ?? '');
    }
  };
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (await run()) onCreated();
  };
  const diagnostics =
    error instanceof ApiProblem && Array.isArray(error.extensions.diagnostics)
      ? (error.extensions.diagnostics as Diagnostic[])
      : [];
  const fields = ['name', 'description', 'agent_id'];
  return (
    <section className="panel" aria-labelledby="create-title">
      <h2 id="create-title">New graph</h2>
      <form onSubmit={submit} noValidate className="form">
        <fieldset>
          <legend>Start from</legend>
          {examples.map((ex) => (
            <label key={ex.key} className="radio">
              <input type="radio" name="source" value={ex.key} checked={source === ex.key} onChange={() => pick(ex.key)} />
              <span>
                <strong>{ex.title}</strong> <span className="muted">{ex.description}</span>
              </span>
            </label>
          ))}
          <label className="radio">
            <input type="radio" name="source" value="upload" checked={source === 'upload'} onChange={() => setSource('upload')} />
            <span>
              <strong>Upload a document</strong> <span className="muted">A graph in the JSON format of docs/graph-format.md.</span>
            </span>
          </label>
          {source === 'upload' && (
            <Field
              label="Graph document"
              type="file"
              accept="application/json,.json"
              onChange={(e) => setFile(e.target.files?.[0] ?? null)}
            />
          )}
        </fieldset>
        <Field label="Name" required value={name} onChange={(e) => setName(e.target.value)} error={fieldError(error, 'name')} />
        <Field
          label="Description (optional)"
          value={description}
          onChange={(e) => setDescription(e.target.value)}
          error={fieldError(error, 'description')}
        />
        <label className="check">
          <input type="checkbox" checked={isAgent} onChange={(e) => setAgent(e.target.checked)} />
          Publish as a custom agent
        </label>
        {isAgent && (
          <Field
            label="Agent id"
            hint="Other graphs nest the agent by this id; left empty, it is made from the name."
            value={agentId}
            onChange={(e) => setAgentId(e.target.value)}
            error={fieldError(error, 'agent_id')}
          />
        )}
        <label className="check">
          <input type="checkbox" checked={isPublic} onChange={(e) => setPublic(e.target.checked)} />
          Public (readable by everyone)
        </label>
        {formError(error, fields) && <ProblemNotice problem={error} />}
        {diagnostics.length > 0 && <Diagnostics items={diagnostics} />}
        <div className="actions">
          <button type="submit" className="primary" disabled={busy}>
            {busy ? 'Creating…' : 'Create graph'}
          </button>
          <button type="button" onClick={onCancel}>
            Cancel
          </button>
        </div>
      </form>
    </section>
  );
}
