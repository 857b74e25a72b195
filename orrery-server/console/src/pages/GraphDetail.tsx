// `/graphs/{id}`: a graph's metadata, its versions, the diagnostics of its current document and
// the document itself.

import { useState, type FormEvent } from 'react';
import { Link, useParams } from 'react-router';
import { ApiProblem, fieldError, formError } from '../api/problem';
import type { Graph } from '../api/types';
import { Diagnostics } from '../components/Diagnostics';
import { CopyButton, download, Field, TableWrap, Loading, PageTitle, Pagination, ProblemNotice, formatDate, formatNumber, shortDigest } from '../components/ui';
import { Component as NotFound } from './NotFound';
import { api, useSession } from '../state/session';
import { useAction, useLoad } from '../state/useLoad';

export function Component() {
  const { id = '' } = useParams();
  const graph = useLoad(id, () => api.graphs.get(id).then((r) => r.graph));
  if (graph.error instanceof ApiProblem && (graph.error.status === 404 || graph.error.status === 400)) return <NotFound />;
  if (!graph.data) {
    return graph.error ? <ProblemNotice problem={graph.error} onRetry={graph.reload} /> : <Loading />;
  }
  return <GraphPage graph={graph.data} onChange={graph.setData} />;
}

function GraphPage({ graph, onChange }: { graph: Graph; onChange: (g: Graph) => void }) {
  const { user } = useSession();
  const mine = user?.id === graph.owner_id;
  const json = JSON.stringify(graph.graph_data, null, 2);
  return (
    <div>
      <PageTitle>{graph.name}</PageTitle>
      <p>
        <Link to="/graphs">← All graphs</Link>
      </p>
      <section aria-labelledby="meta-title" className="panel">
        <h2 id="meta-title">About</h2>
        <dl className="facts">
          <dt>Description</dt>
          <dd>{graph.description || '—'}</dd>
          <dt>Current version</dt>
          <dd>
            <code title={graph.version}>{shortDigest(graph.version)}</code> ({formatNumber(graph.version_count)} version
            {graph.version_count === 1 ? '' : 's'})
          </dd>
          <dt>Nodes</dt>
          <dd>{formatNumber(graph.node_count)}</dd>
          <dt>Custom agent</dt>
          <dd>{graph.is_custom_agent ? <Link to={`/agents?q=${encodeURIComponent(graph.agent_id ?? '')}`}>{graph.agent_id}</Link> : 'No'}</dd>
          <dt>Visibility</dt>
          <dd>{graph.is_public ? 'Public' : 'Private'}</dd>
          <dt>Created</dt>
          <dd>{formatDate(graph.created_at, true)}</dd>
          <dt>Updated</dt>
          <dd>{formatDate(graph.updated_at, true)}</dd>
        </dl>
        {mine && <EditDetails graph={graph} onChange={onChange} />}
      </section>
      <Validation graph={graph} />
      <Versions graph={graph} />
      <section aria-labelledby="json-title" className="panel">
        <h2 id="json-title">Document</h2>
        <div className="actions">
          <CopyButton text={json} label="Copy JSON" />
          <button type="button" onClick={() => download(`${graph.name}.json`, new Blob([json], { type: 'application/json' }))}>
            Download JSON
          </button>
        </div>
        {/* A focusable region, so keyboard users can scroll it. */}
        <pre className="json" tabIndex={0} role="region" aria-label="Graph document (JSON)">
          {json}
        </pre>
      </section>
    </div>
  );
}

function EditDetails({ graph, onChange }: { graph: Graph; onChange: (g: Graph) => void }) {
  const [name, setName] = useState(graph.name);
  const [description, setDescription] = useState(graph.description ?? '');
  const [saved, setSaved] = useState(false);
  const { run, busy, error } = useAction(() =>
    api.graphs.update(graph.id, { name, description: description.trim() || null }),
  );
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setSaved(false);
    const r = await run();
    if (r) {
      onChange({ ...graph, ...r.graph });
      setSaved(true);
    }
  };
  return (
    <details className="edit">
      <summary>Rename or describe</summary>
      <form onSubmit={submit} noValidate className="form">
        {formError(error, ['name', 'description']) && <ProblemNotice problem={error} />}
        <Field label="Name" value={name} onChange={(e) => setName(e.target.value)} error={fieldError(error, 'name')} />
        <Field
          label="Description"
          value={description}
          onChange={(e) => setDescription(e.target.value)}
          error={fieldError(error, 'description')}
        />
        <button type="submit" className="primary" disabled={busy}>
          Save
        </button>
        <span role="status">{saved ? 'Saved.' : ''}</span>
      </form>
    </details>
  );
}

function Validation({ graph }: { graph: Graph }) {
  const result = useLoad(graph.version, () => api.graphs.validate(graph.graph_data));
  return (
    <section aria-labelledby="diag-title" className="panel">
      <h2 id="diag-title">Diagnostics</h2>
      {result.error ? (
        <ProblemNotice problem={result.error} onRetry={result.reload} />
      ) : !result.data ? (
        <Loading label="Validating…" />
      ) : result.data.diagnostics.length === 0 ? (
        <p>No problems: the current version is valid and has no warnings.</p>
      ) : (
        <>
          <p>
            {result.data.valid ? 'Valid, with ' : 'Not valid: '}
            {result.data.diagnostics.length} diagnostic{result.data.diagnostics.length === 1 ? '' : 's'}.
          </p>
          <Diagnostics items={result.data.diagnostics} />
        </>
      )}
    </section>
  );
}

function Versions({ graph }: { graph: Graph }) {
  const [page, setPage] = useState(1);
  const versions = useLoad(`${graph.id}|${graph.version}|${page}`, () => api.graphs.versions(graph.id, { page, limit: 10 }));
  return (
    <section aria-labelledby="versions-title" className="panel">
      <h2 id="versions-title">Versions</h2>
      {versions.error ? <ProblemNotice problem={versions.error} onRetry={versions.reload} /> : null}
      {versions.data ? (
        <>
          <TableWrap label="Versions">
            <table>
              <caption className="visually-hidden">Versions, newest first</caption>
              <thead>
                <tr>
                  <th scope="col">Version</th>
                  <th scope="col">Saved</th>
                  <th scope="col">Nodes</th>
                  <th scope="col">Made from</th>
                </tr>
              </thead>
              <tbody>
                {versions.data.versions.map((v) => (
                  <tr key={v.version}>
                    <td>
                      <code title={v.version}>{shortDigest(v.version)}</code>
                      {v.version === graph.version && <span className="badge">current</span>}
                    </td>
                    <td>{formatDate(v.created_at, true)}</td>
                    <td>{formatNumber(v.node_count)}</td>
                    <td>{v.parent ? <code title={v.parent}>{shortDigest(v.parent)}</code> : '—'}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </TableWrap>
          <Pagination page={page} total={versions.data.total} limit={10} onPage={setPage} />
        </>
      ) : (
        !versions.error && <Loading />
      )}
    </section>
  );
}
