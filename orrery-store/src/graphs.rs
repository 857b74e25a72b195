//! Graphs and their versions: [`GraphStore`].
//!
//! A save works out everything it can before it opens a transaction (the document's JSON, its
//! digest, the agents it uses), then, in one transaction: locks the graph's row, checks the
//! version the client saw against the head, writes the new immutable version, rewrites the
//! agent references, and moves the head. A stale base is a `Conflict`; a failure anywhere
//! leaves nothing behind.

use orrery_core::document::AgentVersion;
use orrery_core::store::{
    AgentCaller, Constraint, Entity, GraphFilter, GraphRecord, GraphStore, GraphSummary,
    GraphUpdate, GraphVersion, NewGraph, Page, Paged, StoreError, StoreResult, VersionSummary,
};
use orrery_core::{Digest, Graph};
use uuid::Uuid;

use crate::Store;
use crate::db::{
    DbResult, JsonStr, JsonText, Ts, contains_pattern, corrupt, count, lock_owner, page_bounds,
    row, with_db, with_writer,
};
use crate::events::{checked_events, insert_events};
use crate::limits::{self, MAX_DESCRIPTION, MAX_NAME};
use crate::pack::{self, Stored};

/// The columns of a graph without its document, in [`SummaryRow`] order.
macro_rules! summary_columns {
    () => {
        "id, owner_id, name, description, agent_id, is_public, head, revision, version_count, \
         node_count, document_bytes, version_bytes, created_at, updated_at"
    };
}

row! {
    struct SummaryRow {
        id: Uuid,
        owner_id: Uuid,
        name: String,
        description: Option<String>,
        agent_id: Option<String>,
        is_public: bool,
        head: Vec<u8>,
        revision: i64,
        version_count: i64,
        node_count: i64,
        document_bytes: i64,
        version_bytes: i64,
        created_at: Ts,
        updated_at: Ts,
    }
}

row! {
    struct GraphRow {
        id: Uuid,
        owner_id: Uuid,
        name: String,
        description: Option<String>,
        agent_id: Option<String>,
        is_public: bool,
        head: Vec<u8>,
        revision: i64,
        version_count: i64,
        node_count: i64,
        document_bytes: i64,
        version_bytes: i64,
        created_at: Ts,
        updated_at: Ts,
        graph_data: JsonText,
    }
}

row! {
    struct HeadRow {
        head: Vec<u8>,
        revision: i64,
        version_count: i64,
        agent_id: Option<String>,
        document_bytes: i64,
        version_bytes: i64,
    }
}

row! {
    struct VersionRow {
        graph_id: Uuid,
        seq: i64,
        digest: Vec<u8>,
        parent: Option<Vec<u8>>,
        author_id: Uuid,
        created_at: Ts,
    }
}

row! {
    /// A version's stored text, for [`pack::text_of`].
    struct PackedRow {
        seq: i64,
        base_seq: Option<i64>,
        packed: Option<Vec<u8>>,
        document: Option<String>,
    }
}

row! {
    struct PruneRow {
        seq: i64,
        digest: Vec<u8>,
        stored_bytes: i64,
    }
}

row! {
    struct VersionSummaryRow {
        graph_id: Uuid,
        digest: Vec<u8>,
        parent: Option<Vec<u8>>,
        author_id: Uuid,
        created_at: Ts,
        node_count: i64,
    }
}

row! {
    struct CallerRow {
        graph_id: Uuid,
        owner_id: Uuid,
        head: Vec<u8>,
        node: String,
        pinned: Option<Vec<u8>>,
    }
}

/// A document made ready for the database outside any transaction.
pub(crate) struct Prepared {
    pub(crate) json: String,
    pub(crate) digest: Digest,
    pub(crate) node_count: i64,
    /// `(node, agent id, pinned digest)` of every node that uses a custom agent.
    pub(crate) refs: Vec<(String, String, Option<Digest>)>,
}

/// The bytes an owner's graphs take in storage (`cast`: PostgreSQL's `sum` of bigints is
/// numeric).
const OWNER_BYTES: &str = "select cast(coalesce(sum(document_bytes + version_bytes), 0) as bigint) \
                           from graphs where owner_id = $1";

/// The rows a chain of deltas from version `$2` of graph `$1` can need, up to `$3`
/// ([`pack::chain_end`]).
const CHAIN_ROWS: &str = "select seq, base_seq, packed, document from graph_versions \
                          where graph_id = $1 and seq >= $2 and seq <= $3 order by seq";

/// Agent reference rows per insert statement (4 parameters each, well under both backends'
/// parameter limits).
const REFS_PER_STATEMENT: usize = 1_000;

/// Writes the agent references of a graph's head, in statements of `REFS_PER_STATEMENT` rows,
/// inside the transaction `$tx` (a macro: the transaction's type differs per backend).
macro_rules! insert_refs {
    ($tx:ident, $id:expr, $refs:expr) => {
        for chunk in $refs.chunks(REFS_PER_STATEMENT) {
            let mut qb = sqlx::QueryBuilder::new(
                "insert into graph_agent_refs (graph_id, node, agent_id, pinned) ",
            );
            qb.push_values(chunk, |mut row, (node, agent, pinned)| {
                row.push_bind($id)
                    .push_bind(node)
                    .push_bind(agent)
                    .push_bind(pinned.map(|d| d.as_bytes().to_vec()));
            });
            qb.build().execute(&mut *$tx).await.db()?;
        }
    };
}

/// Appends `, name = …` and the like for each field `$update` (a [`GraphUpdate`]) changes other
/// than the document, to the `update graphs set` being built in `$qb`.
macro_rules! push_field_sets {
    ($qb:ident, $update:expr) => {
        if let Some(name) = &$update.name {
            $qb.push(", name = ").push_bind(name);
        }
        if let Some(description) = &$update.description {
            $qb.push(", description = ").push_bind(description);
        }
        if let Some(agent_id) = &$update.agent_id {
            $qb.push(", agent_id = ").push_bind(agent_id);
        }
        if let Some(is_public) = $update.is_public {
            $qb.push(", is_public = ").push_bind(is_public);
        }
    };
}

#[async_trait::async_trait]
impl GraphStore for Store {
    #[tracing::instrument(skip_all, fields(owner_id = %graph.owner_id, graph_id))]
    async fn create_graph(&self, graph: NewGraph) -> StoreResult<GraphRecord> {
        limits::required("graph name", &graph.name, MAX_NAME)?;
        if let Some(description) = &graph.description {
            limits::optional("graph description", description, MAX_DESCRIPTION)?;
        }
        if let Some(agent_id) = &graph.agent_id {
            limits::agent_id(agent_id)?;
        }
        let doc = prepare(&graph.document, self.options.max_document_bytes)?;
        let packed = pack::whole(&doc.json)?;
        let document_bytes = len_i64(doc.json.len());
        let version_bytes = len_i64(packed.len());
        let id = Uuid::now_v7();
        tracing::Span::current().record("graph_id", tracing::field::display(id));
        let now = Ts::now();
        with_writer!(self, |db, pg| {
            use crate::db::BeginWrite as _;
            let mut tx = db.begin_write().await.db()?;
            if graph.max_graphs.is_some() || graph.max_stored_bytes.is_some() {
                lock_owner!(tx, pg, graph.owner_id);
            }
            if let Some(max) = graph.max_graphs {
                let owned: i64 =
                    sqlx::query_scalar("select count(*) from graphs where owner_id = $1")
                        .bind(graph.owner_id)
                        .fetch_one(&mut *tx)
                        .await
                        .db()?;
                if count(owned) >= max {
                    return Err(StoreError::Quota {
                        resource: "graphs",
                        limit: max,
                    });
                }
            }
            if let Some(max) = graph.max_stored_bytes {
                let used: i64 = sqlx::query_scalar(OWNER_BYTES)
                    .bind(graph.owner_id)
                    .fetch_one(&mut *tx)
                    .await
                    .db()?;
                if count(used.saturating_add(document_bytes + version_bytes)) > max {
                    return Err(StoreError::Quota {
                        resource: "stored bytes",
                        limit: max,
                    });
                }
            }
            sqlx::query(
                "insert into graphs (id, owner_id, name, description, agent_id, is_public, head, \
                 revision, version_count, node_count, graph_data, document_bytes, \
                 version_bytes, created_at, updated_at) \
                 values ($1, $2, $3, $4, $5, $6, $7, 1, 1, $8, $9, $10, $11, $12, $12)",
            )
            .bind(id)
            .bind(graph.owner_id)
            .bind(&graph.name)
            .bind(&graph.description)
            .bind(&graph.agent_id)
            .bind(graph.is_public)
            .bind(&doc.digest.as_bytes()[..])
            .bind(doc.node_count)
            .bind(JsonStr(&doc.json))
            .bind(document_bytes)
            .bind(version_bytes)
            .bind(now)
            .execute(&mut *tx)
            .await
            .db()
            .map_err(missing(Entity::User))?;
            sqlx::query(
                "insert into graph_versions (graph_id, seq, digest, parent, author_id, \
                 created_at, node_count, packed, stored_bytes) \
                 values ($1, 1, $2, null, $3, $4, $5, $6, $7)",
            )
            .bind(id)
            .bind(&doc.digest.as_bytes()[..])
            .bind(graph.owner_id)
            .bind(now)
            .bind(doc.node_count)
            .bind(&packed)
            .bind(version_bytes)
            .execute(&mut *tx)
            .await
            .db()?;
            insert_refs!(tx, id, doc.refs);
            tx.commit().await.db()?;
        });
        Ok(GraphRecord {
            id,
            owner_id: graph.owner_id,
            name: graph.name,
            description: graph.description,
            agent_id: graph.agent_id,
            is_public: graph.is_public,
            head: doc.digest,
            revision: 1,
            version_count: 1,
            node_count: count(doc.node_count),
            stored_bytes: count(document_bytes + version_bytes),
            document: graph.document,
            created_at: now.into(),
            updated_at: now.into(),
        })
    }

    #[tracing::instrument(skip_all, fields(graph_id = %id))]
    async fn graph(&self, id: Uuid, viewer: Option<Uuid>) -> StoreResult<GraphRecord> {
        let sql = concat!(
            "select ",
            summary_columns!(),
            ", graph_data from graphs where id = $1 and (is_public or owner_id = $2)"
        );
        let row = with_db!(self, |db, pg| {
            sqlx::query_as::<_, GraphRow>(sql)
                .bind(id)
                .bind(viewer)
                .fetch_optional(db)
                .await
                .db()?
        });
        row.ok_or(StoreError::NotFound(Entity::Graph))?.try_into()
    }

    #[tracing::instrument(skip_all, fields(graph_id = %id))]
    async fn graph_summary(&self, id: Uuid, viewer: Option<Uuid>) -> StoreResult<GraphSummary> {
        let sql = concat!(
            "select ",
            summary_columns!(),
            " from graphs where id = $1 and (is_public or owner_id = $2)"
        );
        let row = with_db!(self, |db, pg| {
            sqlx::query_as::<_, SummaryRow>(sql)
                .bind(id)
                .bind(viewer)
                .fetch_optional(db)
                .await
                .db()?
        });
        GraphSummary::try_from(&row.ok_or(StoreError::NotFound(Entity::Graph))?)
    }

    #[tracing::instrument(skip_all, fields(graph_id = %id, owner_id = %owner))]
    async fn update_graph(
        &self,
        id: Uuid,
        owner: Uuid,
        update: GraphUpdate,
    ) -> StoreResult<GraphRecord> {
        if let Some(name) = &update.name {
            limits::required("graph name", name, MAX_NAME)?;
        }
        if let Some(Some(description)) = &update.description {
            limits::optional("graph description", description, MAX_DESCRIPTION)?;
        }
        if let Some(Some(agent_id)) = &update.agent_id {
            limits::agent_id(agent_id)?;
        }
        let max_text = self.options.max_document_bytes;
        let doc = update
            .document
            .as_ref()
            .map(|d| prepare(d, max_text))
            .transpose()?;
        // The expensive part of packing, before the transaction: the new head's whole frame.
        let packed = doc.as_ref().map(|d| pack::whole(&d.json)).transpose()?;
        let now = Ts::now();
        let events = checked_events(&update.events)?;
        if doc.is_none() {
            return self
                .update_graph_fields(id, owner, &update, &events, now)
                .await;
        }
        let row = with_writer!(self, |db, pg| {
            use crate::db::BeginWrite as _;
            let mut tx = db.begin_write().await.db()?;
            // The owner first, then the graph (the order creates take too): concurrent saves
            // of one owner queue here, so each counts the bytes the others stored.
            let quota = update.max_stored_bytes.filter(|_| doc.is_some());
            if quota.is_some() {
                lock_owner!(tx, pg, owner);
            }
            // The row lock (PostgreSQL; SQLite's `begin immediate` already serialises writers)
            // makes concurrent saves from the same base queue here, and all but the first then
            // see a head that is no longer their base.
            let lock = if pg {
                "select head, revision, version_count, agent_id, document_bytes, version_bytes \
                 from graphs where id = $1 and owner_id = $2 for update"
            } else {
                "select head, revision, version_count, agent_id, document_bytes, version_bytes \
                 from graphs where id = $1 and owner_id = $2"
            };
            let current = sqlx::query_as::<_, HeadRow>(lock)
                .bind(id)
                .bind(owner)
                .fetch_optional(&mut *tx)
                .await
                .db()?
                .ok_or(StoreError::NotFound(Entity::Graph))?;
            let head = digest(current.head)?;
            if update.base.is_some_and(|base| base != head) {
                return Err(StoreError::Conflict(Constraint::GraphVersion));
            }
            if update
                .revision
                .is_some_and(|revision| i64::try_from(revision) != Ok(current.revision))
            {
                return Err(StoreError::Conflict(Constraint::GraphRevision));
            }
            let mut version_count = current.version_count;
            let mut version_bytes = current.version_bytes;
            let new_version = doc
                .as_ref()
                .zip(packed.as_ref())
                .filter(|(doc, _)| doc.digest != head);
            if let Some((doc, packed)) = new_version {
                let old: Option<i64> =
                    sqlx::query_scalar("select max(seq) from graph_versions where graph_id = $1")
                        .bind(id)
                        .fetch_one(&mut *tx)
                        .await
                        .db()?;
                let old = old.ok_or_else(|| corrupt("graph", "a graph without versions"))?;
                let seq = old + 1;
                // The old head becomes a delta against the new one (or stays whole, every
                // `WHOLE_EVERY` versions; a row from before packing is packed whole).
                let old_row: Stored = sqlx::query_as::<_, PackedRow>(
                    "select seq, base_seq, packed, document from graph_versions \
                     where graph_id = $1 and seq = $2",
                )
                .bind(id)
                .bind(old)
                .fetch_one(&mut *tx)
                .await
                .db()?
                .into();
                let repacked = if !pack::stays_whole(old) {
                    let text = pack::text_of(std::slice::from_ref(&old_row), old)?;
                    Some((pack::delta(&text, &doc.json)?, Some(seq)))
                } else if old_row.packed.is_none() {
                    let text = pack::text_of(std::slice::from_ref(&old_row), old)?;
                    Some((pack::whole(&text)?, None))
                } else {
                    None
                };
                if let Some((frame, base)) = repacked {
                    version_bytes += len_i64(frame.len()) - old_row.size();
                    sqlx::query(
                        "update graph_versions set packed = $1, base_seq = $2, document = null, \
                         stored_bytes = $3 where graph_id = $4 and seq = $5",
                    )
                    .bind(&frame)
                    .bind(base)
                    .bind(len_i64(frame.len()))
                    .bind(id)
                    .bind(old)
                    .execute(&mut *tx)
                    .await
                    .db()?;
                }
                version_count += 1;
                version_bytes += len_i64(packed.len());
                sqlx::query(
                    "insert into graph_versions (graph_id, seq, digest, parent, author_id, \
                     created_at, node_count, packed, stored_bytes) \
                     values ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                )
                .bind(id)
                .bind(seq)
                .bind(&doc.digest.as_bytes()[..])
                .bind(&head.as_bytes()[..])
                .bind(update.author_id)
                .bind(now)
                .bind(doc.node_count)
                .bind(packed)
                .bind(len_i64(packed.len()))
                .execute(&mut *tx)
                .await
                .db()?;
                sqlx::query("delete from graph_agent_refs where graph_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .db()?;
                insert_refs!(tx, id, doc.refs);
                if let Some(max) = update
                    .max_versions
                    .map(|m| i64::try_from(m.max(1)).unwrap_or(i64::MAX))
                    && version_count > max
                {
                    // Versions a head pins through this graph's agent id stay (the refs of
                    // this graph's own new head were written above).
                    let agent = match &update.agent_id {
                        Some(agent) => agent.clone(),
                        None => current.agent_id.clone(),
                    };
                    let pinned: Vec<Vec<u8>> = match agent {
                        Some(agent) => sqlx::query_scalar(
                            "select distinct pinned from graph_agent_refs \
                             where agent_id = $1 and pinned is not null",
                        )
                        .bind(agent)
                        .fetch_all(&mut *tx)
                        .await
                        .db()?,
                        None => Vec::new(),
                    };
                    let older = sqlx::query_as::<_, PruneRow>(
                        "select seq, digest, stored_bytes from graph_versions \
                         where graph_id = $1 and seq < $2 order by seq",
                    )
                    .bind(id)
                    .bind(seq)
                    .fetch_all(&mut *tx)
                    .await
                    .db()?;
                    let excess = usize::try_from(version_count - max).unwrap_or(usize::MAX);
                    let doomed: Vec<&PruneRow> = older
                        .iter()
                        .filter(|v| !pinned.contains(&v.digest))
                        .take(excess)
                        .collect();
                    for victim in doomed {
                        // A kept version whose delta base goes (an older, pinned one) is
                        // packed whole first.
                        let dependents: Vec<i64> = sqlx::query_scalar(
                            "select seq from graph_versions where graph_id = $1 and base_seq = $2",
                        )
                        .bind(id)
                        .bind(victim.seq)
                        .fetch_all(&mut *tx)
                        .await
                        .db()?;
                        for dependent in dependents {
                            let rows: Vec<Stored> = sqlx::query_as::<_, PackedRow>(CHAIN_ROWS)
                                .bind(id)
                                .bind(dependent)
                                .bind(pack::chain_end(dependent))
                                .fetch_all(&mut *tx)
                                .await
                                .db()?
                                .into_iter()
                                .map(Stored::from)
                                .collect();
                            let before = rows
                                .iter()
                                .find(|r| r.seq == dependent)
                                .map_or(0, Stored::size);
                            let frame = pack::whole(&pack::text_of(&rows, dependent)?)?;
                            version_bytes += len_i64(frame.len()) - before;
                            sqlx::query(
                                "update graph_versions set packed = $1, base_seq = null, \
                                 document = null, stored_bytes = $2 \
                                 where graph_id = $3 and seq = $4",
                            )
                            .bind(&frame)
                            .bind(len_i64(frame.len()))
                            .bind(id)
                            .bind(dependent)
                            .execute(&mut *tx)
                            .await
                            .db()?;
                        }
                        sqlx::query("delete from graph_versions where graph_id = $1 and seq = $2")
                            .bind(id)
                            .bind(victim.seq)
                            .execute(&mut *tx)
                            .await
                            .db()?;
                        version_bytes -= victim.stored_bytes;
                        version_count -= 1;
                    }
                }
            }
            let document_bytes = doc
                .as_ref()
                .map_or(current.document_bytes, |d| len_i64(d.json.len()));
            let mut qb = sqlx::QueryBuilder::new("update graphs set updated_at = ");
            qb.push_bind(now).push(", revision = revision + 1");
            push_field_sets!(qb, update);
            if let Some(doc) = &doc {
                // A document with the head's digest differs only in positions or ui data: it
                // replaces the head document but is not a new version.
                qb.push(", head = ")
                    .push_bind(doc.digest.as_bytes().to_vec())
                    .push(", version_count = ")
                    .push_bind(version_count)
                    .push(", node_count = ")
                    .push_bind(doc.node_count)
                    .push(", graph_data = ")
                    .push_bind(JsonStr(&doc.json))
                    .push(", document_bytes = ")
                    .push_bind(document_bytes)
                    .push(", version_bytes = ")
                    .push_bind(version_bytes);
            }
            // Conditional on the revision read above: never a lost update, even without the
            // lock.
            qb.push(" where id = ")
                .push_bind(id)
                .push(" and revision = ")
                .push_bind(current.revision)
                .push(concat!(" returning ", summary_columns!()));
            let row = qb
                .build_query_as::<SummaryRow>()
                .fetch_optional(&mut *tx)
                .await
                .db()?
                .ok_or(StoreError::Conflict(Constraint::GraphVersion))?;
            // Only a write that grows the owner's storage can go over the quota: a smaller
            // document or pruned versions are welcome even on an account over it.
            let grew =
                document_bytes + version_bytes > current.document_bytes + current.version_bytes;
            if let Some(max) = quota
                && grew
            {
                let used: i64 = sqlx::query_scalar(OWNER_BYTES)
                    .bind(owner)
                    .fetch_one(&mut *tx)
                    .await
                    .db()?;
                if count(used) > max {
                    return Err(StoreError::Quota {
                        resource: "stored bytes",
                        limit: max,
                    });
                }
            }
            insert_events!(tx, update.author_id, id, &events);
            tx.commit().await.db()?;
            row
        });
        let document = match update.document {
            Some(document) => document,
            None => self.graph(id, Some(owner)).await?.document,
        };
        let summary = GraphSummary::try_from(&row)?;
        Ok(GraphRecord {
            id: summary.id,
            owner_id: summary.owner_id,
            name: summary.name,
            description: summary.description,
            agent_id: summary.agent_id,
            is_public: summary.is_public,
            head: summary.head,
            revision: summary.revision,
            version_count: count(row.version_count),
            node_count: summary.node_count,
            stored_bytes: count(row.document_bytes + row.version_bytes),
            document,
            created_at: summary.created_at,
            updated_at: summary.updated_at,
        })
    }

    #[tracing::instrument(skip_all, fields(graph_id = %id, owner_id = %owner))]
    async fn delete_graph(&self, id: Uuid, owner: Uuid) -> StoreResult<()> {
        // Versions and agent references cascade.
        let done = with_writer!(self, |db, pg| {
            sqlx::query("delete from graphs where id = $1 and owner_id = $2")
                .bind(id)
                .bind(owner)
                .execute(db)
                .await
                .db()?
                .rows_affected()
        });
        if done == 0 {
            return Err(StoreError::NotFound(Entity::Graph));
        }
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(owner_id = ?filter.owner_id))]
    async fn list_graphs(&self, filter: &GraphFilter) -> StoreResult<Paged<GraphSummary>> {
        let pattern = filter.search.as_deref().map(contains_pattern);
        let (limit, offset) = page_bounds(filter.page);
        let (rows, total) = with_db!(self, |db, pg| {
            let like = if pg { "ilike" } else { "like" };
            let mut page = sqlx::QueryBuilder::new(concat!(
                "select ",
                summary_columns!(),
                " from graphs where true"
            ));
            let mut total = sqlx::QueryBuilder::new("select count(*) from graphs where true");
            for qb in [&mut page, &mut total] {
                match (filter.owner_id, filter.include_public) {
                    (Some(owner), true) => {
                        qb.push(" and (owner_id = ")
                            .push_bind(owner)
                            .push(" or is_public)");
                    }
                    (Some(owner), false) => {
                        qb.push(" and owner_id = ").push_bind(owner);
                    }
                    (None, true) => {
                        qb.push(" and is_public");
                    }
                    (None, false) => {}
                }
                if let Some(pattern) = &pattern {
                    qb.push(format!(" and (name {like} "))
                        .push_bind(pattern.clone())
                        .push(format!(" escape '\\' or description {like} "))
                        .push_bind(pattern.clone())
                        .push(" escape '\\')");
                }
                match filter.custom_agent {
                    Some(true) => qb.push(" and agent_id is not null"),
                    Some(false) => qb.push(" and agent_id is null"),
                    None => qb,
                };
                if let Some(public) = filter.public {
                    qb.push(" and is_public = ").push_bind(public);
                }
            }
            page.push(" order by updated_at desc, id desc limit ")
                .push_bind(limit)
                .push(" offset ")
                .push_bind(offset);
            let rows = page
                .build_query_as::<SummaryRow>()
                .fetch_all(db)
                .await
                .db()?;
            let total: i64 = total.build_query_scalar().fetch_one(db).await.db()?;
            (rows, total)
        });
        Ok(Paged {
            items: rows
                .iter()
                .map(GraphSummary::try_from)
                .collect::<StoreResult<_>>()?,
            total: count(total),
        })
    }

    #[tracing::instrument(skip_all, fields(owner_id = %owner))]
    async fn count_graphs(&self, owner: uuid::Uuid) -> StoreResult<u64> {
        let n: i64 = with_db!(self, |db, pg| {
            sqlx::query_scalar("select count(*) from graphs where owner_id = $1")
                .bind(owner)
                .fetch_one(db)
                .await
                .db()?
        });
        Ok(count(n))
    }

    #[tracing::instrument(skip_all, fields(owner_id = %owner))]
    async fn stored_bytes(&self, owner: Uuid) -> StoreResult<u64> {
        let n: i64 = with_db!(self, |db, pg| {
            sqlx::query_scalar(OWNER_BYTES)
                .bind(owner)
                .fetch_one(db)
                .await
                .db()?
        });
        Ok(count(n))
    }

    #[tracing::instrument(skip_all, fields(graph_id = %id))]
    async fn versions(
        &self,
        id: Uuid,
        viewer: Option<Uuid>,
        page: Page,
    ) -> StoreResult<Paged<VersionSummary>> {
        let (limit, offset) = page_bounds(page);
        let (total, rows) = with_db!(self, |db, pg| {
            let total: Option<i64> = sqlx::query_scalar(
                "select version_count from graphs where id = $1 and (is_public or owner_id = $2)",
            )
            .bind(id)
            .bind(viewer)
            .fetch_optional(db)
            .await
            .db()?;
            let total = total.ok_or(StoreError::NotFound(Entity::Graph))?;
            let rows = sqlx::query_as::<_, VersionSummaryRow>(
                "select graph_id, digest, parent, author_id, created_at, node_count \
                 from graph_versions where graph_id = $1 order by seq desc limit $2 offset $3",
            )
            .bind(id)
            .bind(limit)
            .bind(offset)
            .fetch_all(db)
            .await
            .db()?;
            (total, rows)
        });
        Ok(Paged {
            items: rows
                .into_iter()
                .map(|row| {
                    Ok(VersionSummary {
                        graph_id: row.graph_id,
                        digest: digest(row.digest)?,
                        parent: row.parent.map(digest).transpose()?,
                        author_id: row.author_id,
                        created_at: row.created_at.into(),
                        node_count: count(row.node_count),
                    })
                })
                .collect::<StoreResult<_>>()?,
            total: count(total),
        })
    }

    #[tracing::instrument(skip_all, fields(graph_id = %id, digest = %digest_wanted))]
    async fn version(
        &self,
        id: Uuid,
        viewer: Option<Uuid>,
        digest_wanted: Digest,
    ) -> StoreResult<GraphVersion> {
        let (row, rows) = with_db!(self, |db, pg| {
            let row = sqlx::query_as::<_, VersionRow>(
                "select v.graph_id, v.seq, v.digest, v.parent, v.author_id, v.created_at \
                 from graph_versions v join graphs g on g.id = v.graph_id \
                 where v.graph_id = $1 and v.digest = $2 and (g.is_public or g.owner_id = $3) \
                 order by v.seq desc limit 1",
            )
            .bind(id)
            .bind(&digest_wanted.as_bytes()[..])
            .bind(viewer)
            .fetch_optional(db)
            .await
            .db()?
            .ok_or(StoreError::NotFound(Entity::GraphVersion))?;
            // The version's row and the newer ones its deltas can reach, in one read (a
            // concurrent save only repacks rows, never changes a text).
            let rows = sqlx::query_as::<_, PackedRow>(CHAIN_ROWS)
                .bind(id)
                .bind(row.seq)
                .bind(pack::chain_end(row.seq))
                .fetch_all(db)
                .await
                .db()?;
            (row, rows)
        });
        let rows: Vec<Stored> = rows.into_iter().map(Stored::from).collect();
        let text = pack::text_of(&rows, row.seq)?;
        Ok(GraphVersion {
            graph_id: row.graph_id,
            digest: digest(row.digest)?,
            parent: row.parent.map(digest).transpose()?,
            author_id: row.author_id,
            created_at: row.created_at.into(),
            document: Graph::from_json(&text).map_err(|e| corrupt("graph version", e))?,
        })
    }

    #[tracing::instrument(skip_all, fields(agent_id = %agent_id))]
    async fn agent(&self, agent_id: &str, viewer: Option<Uuid>) -> StoreResult<GraphRecord> {
        let sql = concat!(
            "select ",
            summary_columns!(),
            ", graph_data from graphs where agent_id = $1 and (is_public or owner_id = $2)"
        );
        let row = with_db!(self, |db, pg| {
            sqlx::query_as::<_, GraphRow>(sql)
                .bind(agent_id)
                .bind(viewer)
                .fetch_optional(db)
                .await
                .db()?
        });
        row.ok_or(StoreError::NotFound(Entity::Agent))?.try_into()
    }

    #[tracing::instrument(skip_all, fields(agent_id = %agent_id))]
    async fn callers(&self, agent_id: &str, viewer: Option<Uuid>) -> StoreResult<Vec<AgentCaller>> {
        let rows = with_db!(self, |db, pg| {
            sqlx::query_as::<_, CallerRow>(
                "select r.graph_id, g.owner_id, g.head, r.node, r.pinned \
                 from graph_agent_refs r join graphs g on g.id = r.graph_id \
                 where r.agent_id = $1 and (g.is_public or g.owner_id = $2) \
                 order by r.graph_id, r.node",
            )
            .bind(agent_id)
            .bind(viewer)
            .fetch_all(db)
            .await
            .db()?
        });
        rows.into_iter()
            .map(|row| {
                Ok(AgentCaller {
                    graph_id: row.graph_id,
                    owner_id: row.owner_id,
                    head: digest(row.head)?,
                    node: row.node,
                    pinned: row.pinned.map(digest).transpose()?,
                })
            })
            .collect()
    }

    #[tracing::instrument(skip_all, fields(agent_id = %agent_id))]
    async fn count_callers(&self, agent_id: &str) -> StoreResult<u64> {
        let n: i64 = with_db!(self, |db, pg| {
            sqlx::query_scalar(
                "select count(distinct graph_id) from graph_agent_refs where agent_id = $1",
            )
            .bind(agent_id)
            .fetch_one(db)
            .await
            .db()?
        });
        Ok(count(n))
    }
}

/// The document's JSON, digest and agent references, checked against the size limit (both
/// stores prepare documents here, so they accept the same ones).
pub(crate) fn prepare(graph: &Graph, max_document_bytes: usize) -> StoreResult<Prepared> {
    let json = graph.to_json();
    limits::json("graph document", &json, max_document_bytes)?;
    let refs = graph
        .nodes
        .iter()
        .filter_map(|node| {
            let agent = node.agent.as_ref()?;
            let pinned = match agent.version {
                AgentVersion::Pinned(digest) => Some(digest),
                AgentVersion::Latest => None,
            };
            Some((node.id.clone(), agent.id.clone(), pinned))
        })
        .collect();
    Ok(Prepared {
        json,
        digest: graph.digest(),
        node_count: i64::try_from(graph.nodes.len()).unwrap_or(i64::MAX),
        refs,
    })
}

impl TryFrom<&SummaryRow> for GraphSummary {
    type Error = StoreError;

    fn try_from(row: &SummaryRow) -> StoreResult<GraphSummary> {
        Ok(GraphSummary {
            id: row.id,
            owner_id: row.owner_id,
            name: row.name.clone(),
            description: row.description.clone(),
            agent_id: row.agent_id.clone(),
            is_public: row.is_public,
            head: digest(row.head.clone())?,
            revision: count(row.revision),
            node_count: count(row.node_count),
            created_at: row.created_at.into(),
            updated_at: row.updated_at.into(),
        })
    }
}

impl Store {
    /// An update without a document (name, description, agent id, visibility): one statement,
    /// conditional on the owner, the revision and the head asked for, so it is atomic without
    /// a transaction, and it returns the whole record. Only when it matches no row is the
    /// graph read again, to say why.
    async fn update_graph_fields(
        &self,
        id: Uuid,
        owner: Uuid,
        update: &GraphUpdate,
        events: &[(String, String)],
        now: Ts,
    ) -> StoreResult<GraphRecord> {
        let row = with_writer!(self, |db, pg| {
            let mut qb = sqlx::QueryBuilder::new("update graphs set updated_at = ");
            qb.push_bind(now).push(", revision = revision + 1");
            push_field_sets!(qb, update);
            qb.push(" where id = ")
                .push_bind(id)
                .push(" and owner_id = ")
                .push_bind(owner);
            if let Some(revision) = update.revision {
                qb.push(" and revision = ")
                    .push_bind(i64::try_from(revision).unwrap_or(-1));
            }
            if let Some(base) = update.base {
                qb.push(" and head = ").push_bind(base.as_bytes().to_vec());
            }
            qb.push(concat!(" returning ", summary_columns!(), ", graph_data"));
            if events.is_empty() {
                qb.build_query_as::<GraphRow>()
                    .fetch_optional(db)
                    .await
                    .db()?
            } else {
                use crate::db::BeginWrite as _;
                let mut tx = db.begin_write().await.db()?;
                let row = qb
                    .build_query_as::<GraphRow>()
                    .fetch_optional(&mut *tx)
                    .await
                    .db()?;
                if row.is_some() {
                    insert_events!(tx, update.author_id, id, events);
                    tx.commit().await.db()?;
                }
                row
            }
        });
        if let Some(row) = row {
            return row.try_into();
        }
        let now = with_db!(self, |db, pg| {
            sqlx::query_as::<_, (Vec<u8>, i64)>(
                "select head, revision from graphs where id = $1 and owner_id = $2",
            )
            .bind(id)
            .bind(owner)
            .fetch_optional(db)
            .await
            .db()?
        });
        let (head, revision) = now.ok_or(StoreError::NotFound(Entity::Graph))?;
        if update
            .revision
            .is_some_and(|r| i64::try_from(r) != Ok(revision))
        {
            return Err(StoreError::Conflict(Constraint::GraphRevision));
        }
        if update
            .base
            .is_some_and(|base| base.as_bytes()[..] != head[..])
        {
            return Err(StoreError::Conflict(Constraint::GraphVersion));
        }
        // Changed between the two statements (a concurrent write): the revision asked for is
        // gone either way.
        Err(StoreError::Conflict(Constraint::GraphRevision))
    }
}

impl TryFrom<GraphRow> for GraphRecord {
    type Error = StoreError;

    fn try_from(row: GraphRow) -> StoreResult<GraphRecord> {
        Ok(GraphRecord {
            id: row.id,
            owner_id: row.owner_id,
            name: row.name,
            description: row.description,
            agent_id: row.agent_id,
            is_public: row.is_public,
            head: digest(row.head)?,
            revision: count(row.revision),
            version_count: count(row.version_count),
            node_count: count(row.node_count),
            stored_bytes: count(row.document_bytes + row.version_bytes),
            document: Graph::from_json(&row.graph_data.0).map_err(|e| corrupt("graph", e))?,
            created_at: row.created_at.into(),
            updated_at: row.updated_at.into(),
        })
    }
}

impl From<PackedRow> for Stored {
    fn from(row: PackedRow) -> Stored {
        Stored {
            seq: row.seq,
            base_seq: row.base_seq,
            packed: row.packed,
            document: row.document,
        }
    }
}

/// A length as the database counts it.
pub(crate) fn len_i64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A digest from its stored bytes.
pub(crate) fn digest(bytes: Vec<u8>) -> StoreResult<Digest> {
    let bytes: [u8; 32] = bytes
        .try_into()
        .map_err(|b: Vec<u8>| corrupt("digest", format!("{} bytes", b.len())))?;
    Ok(Digest::from_bytes(bytes))
}

/// Maps the `NotFound` of a foreign key violation to the row that was missing.
pub(crate) fn missing(what: Entity) -> impl Fn(StoreError) -> StoreError {
    move |e| match e {
        StoreError::NotFound(_) => StoreError::NotFound(what),
        e => e,
    }
}
