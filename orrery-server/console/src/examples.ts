// The example graphs of the repository (examples/graphs), bundled as lazy chunks: one is
// fetched only when someone creates a graph from it.

const files = import.meta.glob<string>('../../../examples/graphs/{*.json,agents/*.json}', {
  query: '?raw',
  import: 'default',
});

export interface Example {
  key: string;
  title: string;
  description: string;
  /** Published as a custom agent under this id. */
  agentId?: string;
  load: () => Promise<unknown>;
}

const known: Omit<Example, 'load'>[] = [
  { key: 'rag-pipeline', title: 'RAG pipeline', description: 'Retrieve, rerank and answer with citations.' },
  { key: 'support-triage', title: 'Support triage', description: 'Classify tickets and route them to the right reply.' },
  {
    key: 'agents/researcher',
    title: 'Researcher (custom agent)',
    description: 'Searches and summarises a topic; other graphs nest it as “researcher”.',
    agentId: 'researcher',
  },
  {
    key: 'agents/writer',
    title: 'Writer (custom agent)',
    description: 'Drafts a report from notes; other graphs nest it as “writer”.',
    agentId: 'writer',
  },
  { key: 'planner', title: 'Planner', description: 'Nests the Researcher and Writer agents (create those first).' },
  { key: 'generated-1000', title: 'Generated, 1,000 nodes', description: 'A large generated graph.' },
];

export const examples: Example[] = known.flatMap((e) => {
  const load = files[`../../../examples/graphs/${e.key}.json`];
  return load ? [{ ...e, load: async () => JSON.parse(await load()) as unknown }] : [];
});
