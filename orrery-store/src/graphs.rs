//! Graphs and their versions: [`GraphStore`].
//!
//! A save works out everything it can before it opens a transaction (the document's JSON, its
//! digest, the agents it uses), then, in one transaction: locks the graph's row, checks the
//! version the client saw against the head, writes the new immutable version, rewrites the
//! agent references, and moves the head. A stale base is a `Conflict`; a failure anywhere
//! leaves nothing behind.

use orrery_core::document::AgentVersion;
use orrery_core::store::{
    AgentCaller, GraphFilter, GraphRecord, GraphStore, GraphSummary, GraphUpdate, GraphVersion,
    NewGraph, Page, Paged, StoreError, StoreResult, VersionSummary,
};
use orrery_core::{Digest, Graph};
use uuid::Uuid;

use crate::Store;
use crate::db::{
    DbResult, JsonStr, JsonText, Ts, contains_pattern, corrupt, count, lock_owner, page_bounds,
    row, with_db,
};
use crate::limits::{self, MAX_DESCRIPTION, MAX_NAME};

/// The columns of a graph without its document, in [`SummaryRow`] order.
macro_rules! summary_columns {
    () => {
        "id, owner_id, name, description, agent_id, is_public, head, version_count, node_count, \
         created_at, updated_at"
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
        version_count: i64,
        node_count: i64,
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
        version_count: i64,
        node_count: i64,
        created_at: Ts,
        updated_at: Ts,
        graph_data: JsonText,
    }
}

row! {
    struct HeadRow {
        head: Vec<u8>,
        version_count: i64,
    }
}

row! {
    struct VersionRow {
        graph_id: Uuid,
        digest: Vec<u8>,
        parent: Option<Vec<u8>>,
        author_id: Uuid,
        created_at: Ts,
        document: String,
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
        let id = Uuid::now_v7();
        tracing::Span::current().record("graph_id", tracing::field::display(id));
        let now = Ts::now();
        with_db!(self, |db, pg| {
            use crate::db::BeginWrite as _;
            let mut tx = db.begin_write().await.db()?;
            if let Some(max) = graph.max_graphs {
                lock_owner!(tx, pg, graph.owner_id);
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
            sqlx::query(
                "insert into graphs (id, owner_id, name, description, agent_id, is_public, head, \
                 version_count, node_count, graph_data, created_at, updated_at) \
                 values ($1, $2, $3, $4, $5, $6, $7, 1, $8, $9, $10, $10)",
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
            .bind(now)
            .execute(&mut *tx)
            .await
            .db()
            .map_err(missing("user"))?;
            sqlx::query(
                "insert into graph_versions (graph_id, seq, digest, parent, author_id, \
                 created_at, node_count, document) values ($1, 1, $2, null, $3, $4, $5, $6)",
            )
            .bind(id)
            .bind(&doc.digest.as_bytes()[..])
            .bind(graph.owner_id)
            .bind(now)
            .bind(doc.node_count)
            .bind(&doc.json)
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
            version_count: 1,
            node_count: count(doc.node_count),
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
        row.ok_or(StoreError::NotFound("graph"))?.try_into()
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
        let doc = update
            .document
            .as_ref()
            .map(|d| prepare(d, self.options.max_document_bytes))
            .transpose()?;
        let now = Ts::now();
        let row = with_db!(self, |db, pg| {
            use crate::db::BeginWrite as _;
            let mut tx = db.begin_write().await.db()?;
            // The row lock (PostgreSQL; SQLite's `begin immediate` already serialises writers)
            // makes concurrent saves from the same base queue here, and all but the first then
            // see a head that is no longer their base.
            let lock = if pg {
                "select head, version_count from graphs where id = $1 and owner_id = $2 for update"
            } else {
                "select head, version_count from graphs where id = $1 and owner_id = $2"
            };
            let current = sqlx::query_as::<_, HeadRow>(lock)
                .bind(id)
                .bind(owner)
                .fetch_optional(&mut *tx)
                .await
                .db()?
                .ok_or(StoreError::NotFound("graph"))?;
            let head = digest(current.head)?;
            if update.base.is_some_and(|base| base != head) {
                return Err(StoreError::Conflict("graph version"));
            }
            let mut version_count = current.version_count;
            let new_version = doc.as_ref().filter(|doc| doc.digest != head);
            if let Some(doc) = new_version {
                version_count += 1;
                sqlx::query(
                    "insert into graph_versions (graph_id, seq, digest, parent, author_id, \
                     created_at, node_count, document) values ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(id)
                .bind(version_count)
                .bind(&doc.digest.as_bytes()[..])
                .bind(&head.as_bytes()[..])
                .bind(update.author_id)
                .bind(now)
                .bind(doc.node_count)
                .bind(&doc.json)
                .execute(&mut *tx)
                .await
                .db()?;
                sqlx::query("delete from graph_agent_refs where graph_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .db()?;
                insert_refs!(tx, id, doc.refs);
            }
            let mut qb = sqlx::QueryBuilder::new("update graphs set updated_at = ");
            qb.push_bind(now);
            if let Some(name) = &update.name {
                qb.push(", name = ").push_bind(name);
            }
            if let Some(description) = &update.description {
                qb.push(", description = ").push_bind(description);
            }
            if let Some(agent_id) = &update.agent_id {
                qb.push(", agent_id = ").push_bind(agent_id);
            }
            if let Some(is_public) = update.is_public {
                qb.push(", is_public = ").push_bind(is_public);
            }
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
                    .push_bind(JsonStr(&doc.json));
            }
            // Conditional on the head read above: never a lost update, even without the lock.
            qb.push(" where id = ")
                .push_bind(id)
                .push(" and head = ")
                .push_bind(head.as_bytes().to_vec())
                .push(concat!(" returning ", summary_columns!()));
            let row = qb
                .build_query_as::<SummaryRow>()
                .fetch_optional(&mut *tx)
                .await
                .db()?
                .ok_or(StoreError::Conflict("graph version"))?;
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
            version_count: count(row.version_count),
            node_count: summary.node_count,
            document,
            created_at: summary.created_at,
            updated_at: summary.updated_at,
        })
    }

    #[tracing::instrument(skip_all, fields(graph_id = %id, owner_id = %owner))]
    async fn delete_graph(&self, id: Uuid, owner: Uuid) -> StoreResult<()> {
        // Versions and agent references cascade.
        let done = with_db!(self, |db, pg| {
            sqlx::query("delete from graphs where id = $1 and owner_id = $2")
                .bind(id)
                .bind(owner)
                .execute(db)
                .await
                .db()?
                .rows_affected()
        });
        if done == 0 {
            return Err(StoreError::NotFound("graph"));
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
            let total = total.ok_or(StoreError::NotFound("graph"))?;
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
        let row = with_db!(self, |db, pg| {
            sqlx::query_as::<_, VersionRow>(
                "select v.graph_id, v.digest, v.parent, v.author_id, v.created_at, \
                 v.document from graph_versions v join graphs g on g.id = v.graph_id \
                 where v.graph_id = $1 and v.digest = $2 and (g.is_public or g.owner_id = $3) \
                 order by v.seq desc limit 1",
            )
            .bind(id)
            .bind(&digest_wanted.as_bytes()[..])
            .bind(viewer)
            .fetch_optional(db)
            .await
            .db()?
        });
        let row = row.ok_or(StoreError::NotFound("graph version"))?;
        Ok(GraphVersion {
            graph_id: row.graph_id,
            digest: digest(row.digest)?,
            parent: row.parent.map(digest).transpose()?,
            author_id: row.author_id,
            created_at: row.created_at.into(),
            document: Graph::from_json(&row.document).map_err(|e| corrupt("graph version", e))?,
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
        row.ok_or(StoreError::NotFound("agent"))?.try_into()
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
            node_count: count(row.node_count),
            created_at: row.created_at.into(),
            updated_at: row.updated_at.into(),
        })
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
            version_count: count(row.version_count),
            node_count: count(row.node_count),
            document: Graph::from_json(&row.graph_data.0).map_err(|e| corrupt("graph", e))?,
            created_at: row.created_at.into(),
            updated_at: row.updated_at.into(),
        })
    }
}

/// A digest from its stored bytes.
pub(crate) fn digest(bytes: Vec<u8>) -> StoreResult<Digest> {
    let bytes: [u8; 32] = bytes
        .try_into()
        .map_err(|b: Vec<u8>| corrupt("digest", format!("{} bytes", b.len())))?;
    Ok(Digest::from_bytes(bytes))
}

/// Maps the `NotFound` of a foreign key violation to the row that was missing.
pub(crate) fn missing(what: &'static str) -> impl Fn(StoreError) -> StoreError {
    move |e| match e {
        StoreError::NotFound(_) => StoreError::NotFound(what),
        e => e,
    }
}
