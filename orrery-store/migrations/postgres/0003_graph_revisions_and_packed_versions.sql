-- graph revisions, stored sizes and compact versions (the sqlite migration does the same).
--
-- revision counts every change of a graph (document, name, description, visibility, agent
-- id): the api's etag and if-match precondition, which the document's digest alone is not.
-- document_bytes is the size of graph_data as written, version_bytes the sum of the kept
-- versions' stored_bytes: storage quotas add both up per owner, so the store keeps them in
-- step with every write instead of measuring documents.
alter table graphs
    add column revision bigint not null default 1,
    add column document_bytes bigint not null default 0,
    add column version_bytes bigint not null default 0;

-- versions are zstd frames (packed), whole or as a delta against the newer version base_seq;
-- rows written before this migration keep their text in document, which becomes optional.
alter table graph_versions
    alter column document drop not null,
    add column packed bytea,
    add column base_seq bigint,
    add column stored_bytes bigint;
update graph_versions set stored_bytes = octet_length(document);
alter table graph_versions
    alter column stored_bytes set not null,
    add constraint graph_versions_body check (document is not null or packed is not null);
-- packed frames do not compress further: keep them out of toast's compression.
alter table graph_versions alter column packed set storage external;

-- the jsonb text differs a little from what was written (spaces); the next save sets it
-- exactly.
update graphs set
    document_bytes = octet_length(graph_data::text),
    version_bytes = coalesce(
        (select sum(v.stored_bytes) from graph_versions v where v.graph_id = graphs.id), 0);
