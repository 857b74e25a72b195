-- graph revisions, stored sizes and compact versions (the postgres migration does the same).
--
-- revision counts every change of a graph (document, name, description, visibility, agent
-- id): the api's etag and if-match precondition, which the document's digest alone is not.
-- document_bytes is the size of graph_data as written, version_bytes the sum of the kept
-- versions' stored_bytes: storage quotas add both up per owner, so the store keeps them in
-- step with every write instead of measuring documents.
alter table graphs add column revision integer not null default 1;
alter table graphs add column document_bytes integer not null default 0;
alter table graphs add column version_bytes integer not null default 0;

-- versions are zstd frames (packed), whole or as a delta against the newer version base_seq;
-- rows written before this migration keep their text in document, which becomes optional.
-- sqlite cannot drop a not null, so the table is rebuilt (nothing references it).
create table graph_versions_packed (
    graph_id blob not null references graphs (id) on delete cascade,
    seq integer not null,
    digest blob not null,
    parent blob,
    -- no foreign key: the author of a version stays recorded after their account is gone.
    author_id blob not null,
    created_at integer not null,
    node_count integer not null,
    -- the document exactly as saved, in rows from before packing.
    document text,
    -- the document as a zstd frame; a delta when base_seq is set.
    packed blob,
    -- the version of the same graph whose text is this frame's prefix.
    base_seq integer,
    -- bytes of packed (or of document): what quotas count.
    stored_bytes integer not null,
    constraint graph_versions_pkey primary key (graph_id, seq),
    constraint graph_versions_body check (document is not null or packed is not null)
) strict;

insert into graph_versions_packed (graph_id, seq, digest, parent, author_id, created_at,
    node_count, document, packed, base_seq, stored_bytes)
select graph_id, seq, digest, parent, author_id, created_at, node_count, document, null, null,
    length(cast(document as blob))
from graph_versions;

drop table graph_versions;
alter table graph_versions_packed rename to graph_versions;
create index graph_versions_digest on graph_versions (graph_id, digest);

update graphs set
    document_bytes = length(cast(graph_data as blob)),
    version_bytes = coalesce(
        (select sum(v.stored_bytes) from graph_versions v where v.graph_id = graphs.id), 0);
