// Validation diagnostics as people read them.

import type { Diagnostic } from '../api/types';

/** Diagnostics as the validator reports them: code, severity, where, what and how to fix. */
export function Diagnostics({ items }: { items: Diagnostic[] }) {
  return (
    <ul className="diagnostics" aria-label="Diagnostics">
      {items.map((d, i) => (
        <li key={i} className={`diagnostic diagnostic-${d.severity}`}>
          <p>
            <strong>
              {d.severity}[{d.code}]
            </strong>{' '}
            {locationText(d.location)}: {d.message}
          </p>
          {d.help && <p className="muted">{d.help}</p>}
        </li>
      ))}
    </ul>
  );
}

/** `{path: [{node: "a", …}], node: "b", port: "in"}` → `a/b.in`. */
export function locationText(location: Record<string, unknown>): string {
  const path = Array.isArray(location.path)
    ? (location.path as unknown[]).map((step) =>
        typeof step === 'object' && step !== null && 'node' in step ? String(step.node) : String(step),
      )
    : [];
  const parts: string[] = [];
  if (typeof location.node === 'string') {
    parts.push(typeof location.port === 'string' ? `${location.node}.${location.port}` : location.node);
  } else if (typeof location.edge === 'number') {
    parts.push(`edges[${location.edge}]`);
  } else if (typeof location.group === 'string') {
    parts.push(location.group);
  }
  const where = [...path, ...parts].join('/');
  return where || 'graph';
}
