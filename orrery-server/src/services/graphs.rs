//! Graphs and custom agents: creating, changing, cloning and deleting graphs under the plan's
//! limits — names and descriptions, parsing and validating the document (with the agents it
//! nests), publishing as a custom agent, the callers check before an agent's interface
//! changes, the version preconditions, the metrics and the audit events. Handlers parse a
//! request into these inputs and build views of the results.

use std::sync::Arc;

use orrery_core::plan::{LimitExceeded, LimitKind};
use orrery_core::store::{Constraint, GraphRecord, GraphUpdate, NewGraph, StoreError};
use orrery_core::{Diagnostic, Digest, Plan};
use serde_json::value::RawValue;
use uuid::Uuid;

use crate::events::{AuditEvent, record};
use crate::graphs::{self, check_callers, parse_graph, require_valid};
use crate::http::error::ApiError;
use crate::metrics::Metrics;
use crate::storage::Db;

/// The longest graph name, in characters.
pub const NAME_MAX_CHARS: usize = orrery_core::store::MAX_GRAPH_NAME_CHARS;
/// The longest graph description, in characters.
pub const DESCRIPTION_MAX_CHARS: usize = orrery_core::store::MAX_GRAPH_DESCRIPTION_CHARS;

/// Who is acting, and the plan whose limits apply to them now.
#[derive(Clone, Copy, Debug)]
pub struct Actor {
    /// The account.
    pub id: Uuid,
    /// Its effective plan.
    pub plan: Plan,
}

/// A new graph, as the client sent it.
#[derive(Debug)]
pub struct CreateInput<'a> {
    /// Name (checked here).
    pub name: &'a str,
    /// Description (checked here).
    pub description: Option<String>,
    /// The document, unparsed.
    pub document: &'a RawValue,
    /// Publish as a custom agent (under `agent_id`, or an id made from the name).
    pub is_custom_agent: bool,
    /// The agent id to publish under.
    pub agent_id: Option<String>,
    /// Readable by everyone.
    pub is_public: bool,
}

/// A change to a graph, as the client sent it; `None` leaves a field alone.
#[derive(Debug, Default)]
pub struct UpdateInput<'a> {
    /// New name.
    pub name: Option<&'a str>,
    /// New description (`Some(None)` clears it).
    pub description: Option<Option<String>>,
    /// New document, unparsed.
    pub document: Option<&'a RawValue>,
    /// New visibility.
    pub is_public: Option<bool>,
    /// Publish (`true`) or unpublish (`false`).
    pub is_custom_agent: Option<bool>,
    /// Publish under this id.
    pub agent_id: Option<String>,
    /// Change an agent's interface even when it breaks callers.
    pub force: bool,
}

/// What the client says it saw, checked atomically with the write.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Precondition {
    /// Nothing: last write wins.
    #[default]
    None,
    /// `base_version` in the body: a stale one is a version conflict (409) to merge from.
    BaseVersion(Digest),
    /// `If-Match: *`: the graph must exist.
    Exists,
    /// `If-Match` with these entity tags, or the update is a failed precondition (412): a
    /// revision tag (the `ETag`, `"r12"`) covers the whole graph — document, name, description,
    /// visibility, agent id; a bare version (`"sha256:…"`) covers the document alone.
    IfMatch {
        /// Revisions named (`"r12"`): the graph must be at one of them.
        revisions: Vec<u64>,
        /// Versions named: the document must be at one of them.
        versions: Vec<Digest>,
        /// `base_version` from the body as well, checked too.
        base: Option<Digest>,
    },
}

/// A saved graph and the warnings its validation gave (none when it was not revalidated).
#[derive(Debug)]
pub struct Saved {
    /// The graph now.
    pub record: GraphRecord,
    /// Warnings, when the document was checked.
    pub warnings: Option<Vec<Diagnostic>>,
}

/// Why a graph operation failed.
#[derive(Debug, thiserror::Error)]
pub enum GraphError {
    /// A field breaks a rule.
    #[error("{field}: {message}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// Why.
        message: String,
    },
    /// The name (or agent id) is taken.
    #[error("{0}")]
    Taken(&'static str),
    /// The plan does not allow it.
    #[error("{0}")]
    PlanLimit(LimitExceeded),
    /// `base_version` is not the current version.
    #[error("the graph has changed since version {base}")]
    Stale {
        /// What the client sent.
        base: Digest,
        /// The current version.
        current: Digest,
    },
    /// `If-Match` names neither the current revision nor the current version.
    #[error("the graph has changed since the revision or version If-Match names")]
    PreconditionFailed {
        /// The current version.
        current: Digest,
        /// The current revision (the ETag is `"r{revision}"`).
        revision: u64,
    },
    /// Everything else the shared graph rules answer (invalid documents, breaking changes,
    /// not found, storage).
    #[error(transparent)]
    Other(#[from] ApiError),
}

impl From<StoreError> for GraphError {
    fn from(e: StoreError) -> GraphError {
        GraphError::Other(e.into())
    }
}

impl From<GraphError> for ApiError {
    fn from(e: GraphError) -> ApiError {
        match e {
            GraphError::Invalid { field, message } => ApiError::field(field, message),
            GraphError::Taken(message) => ApiError::Conflict(message.into()),
            GraphError::PlanLimit(limit) => ApiError::PlanLimit(limit),
            GraphError::Stale { base, current } => ApiError::VersionConflict {
                base: base.to_string(),
                current: current.to_string(),
            },
            GraphError::PreconditionFailed { current, revision } => ApiError::PreconditionFailed {
                current: current.to_string(),
                revision,
            },
            GraphError::Other(e) => e,
        }
    }
}

/// The graphs service. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Graphs {
    store: Db,
    metrics: Arc<Metrics>,
    max_document_bytes: usize,
}

impl Graphs {
    /// The service over its dependencies; documents are parsed up to `max_document_bytes`.
    pub fn new(store: Db, metrics: Arc<Metrics>, max_document_bytes: usize) -> Graphs {
        Graphs {
            store,
            metrics,
            max_document_bytes,
        }
    }

    /// Validates a document without saving it: its digest and every diagnostic.
    pub async fn validate(
        &self,
        actor: Actor,
        document: &RawValue,
    ) -> Result<(Digest, Vec<Diagnostic>), GraphError> {
        let graph = parse_graph(document, actor.plan, self.max_document_bytes)?;
        let diagnostics =
            graphs::validate(&*self.store, Some(actor.id), actor.plan, &graph, None).await?;
        Ok((graph.digest(), diagnostics))
    }

    /// Creates a graph: its first version, published as an agent when asked. Refused with every
    /// diagnostic when the document has errors, and atomically held to the plan's graph count.
    pub async fn create(&self, actor: Actor, input: CreateInput<'_>) -> Result<Saved, GraphError> {
        let name = check_name(input.name)?;
        let description = check_description(input.description)?;
        let graph = parse_graph(input.document, actor.plan, self.max_document_bytes)?;
        let agent_id = match (input.is_custom_agent, input.agent_id) {
            (_, Some(id)) => Some(check_agent_id(&id)?),
            (true, None) => Some(slug(&name)?),
            (false, None) => None,
        };
        let warnings = require_valid(
            graphs::validate(
                &*self.store,
                Some(actor.id),
                actor.plan,
                &graph,
                agent_id.as_deref(),
            )
            .await?,
        )?;
        let record = self
            .store
            .create_graph(NewGraph {
                owner_id: actor.id,
                name,
                description,
                agent_id,
                is_public: input.is_public,
                document: graph,
                max_graphs: actor.plan.limits().allowance(LimitKind::Graphs),
                max_stored_bytes: actor.plan.limits().stored_bytes,
            })
            .await
            .map_err(graph_store_error(
                actor.plan,
                "a graph with this name, or an agent with this id, already exists",
            ))?;
        self.metrics.graph_versions.inc();
        record_graph(
            &self.store,
            actor.id,
            record.id,
            AuditEvent::GraphCreated {
                version: record.head.to_string(),
                nodes: record.node_count as usize,
            },
        )
        .await?;
        if let Some(agent) = &record.agent_id {
            record_graph(
                &self.store,
                actor.id,
                record.id,
                AuditEvent::AgentPublished {
                    agent_id: agent.clone(),
                },
            )
            .await?;
        }
        Ok(Saved {
            record,
            warnings: Some(warnings),
        })
    }

    /// Changes a graph the actor owns. A new document is a new version; it is validated, and
    /// when the graph is a published agent whose interface changes, its callers are checked
    /// first (refused when they break, unless `force`). A rename or a visibility change alone
    /// is not revalidated: the graph was valid when saved, even if the plan has shrunk since.
    pub async fn update(
        &self,
        actor: Actor,
        id: Uuid,
        input: UpdateInput<'_>,
        precondition: Precondition,
    ) -> Result<Saved, GraphError> {
        // A change of name, description or visibility neither reads nor parses the document.
        let needs_document =
            input.document.is_some() || input.agent_id.is_some() || input.is_custom_agent.is_some();
        let (current, current_document) = if needs_document {
            let record = self.store.graph(id, Some(actor.id)).await?;
            (record.summary(), Some(record.document))
        } else {
            (self.store.graph_summary(id, Some(actor.id)).await?, None)
        };
        if current.owner_id != actor.id {
            return Err(ApiError::NotFound("graph").into());
        }
        // What the store checks atomically with the write: of the tags named, only the
        // current ones can succeed; a revision covers the whole graph.
        let (base, revision) = match &precondition {
            Precondition::None | Precondition::Exists => (None, None),
            Precondition::BaseVersion(base) => (Some(*base), None),
            Precondition::IfMatch {
                revisions,
                versions,
                base,
            } => {
                if revisions.contains(&current.revision) {
                    (*base, Some(current.revision))
                } else if versions.contains(&current.head) {
                    (Some(base.unwrap_or(current.head)), None)
                } else {
                    return Err(GraphError::PreconditionFailed {
                        current: current.head,
                        revision: current.revision,
                    });
                }
            }
        };
        let name = input.name.map(check_name).transpose()?;
        let description = input.description.map(check_description).transpose()?;
        let agent_id = match (input.is_custom_agent, input.agent_id) {
            (Some(false), _) => Some(None),
            (_, Some(id)) => Some(Some(check_agent_id(&id)?)),
            (Some(true), None) if current.agent_id.is_none() => {
                Some(Some(slug(name.as_deref().unwrap_or(&current.name))?))
            }
            _ => None,
        };
        let document = input
            .document
            .map(|raw| parse_graph(raw, actor.plan, self.max_document_bytes))
            .transpose()?;
        let published = agent_id.clone().unwrap_or_else(|| current.agent_id.clone());
        let effective = document.as_ref().or(current_document.as_ref());
        let warnings = if let Some(effective) = effective
            && (document.is_some() || agent_id.is_some())
        {
            let diagnostics = graphs::validate(
                &*self.store,
                Some(actor.id),
                actor.plan,
                effective,
                published.as_deref(),
            )
            .await?;
            Some(require_valid(diagnostics)?)
        } else {
            None
        };
        if let (Some(agent), Some(new), Some(old)) =
            (&current.agent_id, &document, &current_document)
            && published.as_deref() == Some(agent.as_str())
            && !input.force
        {
            let check = check_callers(&*self.store, actor.id, agent, old, new).await?;
            if check.blocks() {
                return Err(ApiError::BreakingChange {
                    agent: agent.clone(),
                    change: check.change,
                    broken: check.broken,
                    hidden: check.hidden,
                }
                .into());
            }
        }
        let new_version = document
            .as_ref()
            .is_some_and(|d| d.digest() != current.head);
        // The audit trail is written in the update's transaction. The version is the new
        // document's digest, or, for a change of name, description or visibility (which keeps
        // the head), the head read above.
        let version = document.as_ref().map_or(current.head, |d| d.digest());
        let mut events = vec![
            AuditEvent::GraphUpdated {
                version: version.to_string(),
                new_version,
            }
            .into_new_event(),
        ];
        if let Some(Some(agent)) = &agent_id
            && current.agent_id.as_deref() != Some(agent.as_str())
        {
            events.push(
                AuditEvent::AgentPublished {
                    agent_id: agent.clone(),
                }
                .into_new_event(),
            );
        }
        let limits = actor.plan.limits();
        let saved = self
            .store
            .update_graph(
                id,
                actor.id,
                GraphUpdate {
                    base,
                    revision,
                    author_id: actor.id,
                    name,
                    description,
                    agent_id: agent_id.clone(),
                    is_public: input.is_public,
                    document,
                    max_stored_bytes: limits.stored_bytes,
                    max_versions: Some(limits.versions_per_graph),
                    events,
                },
            )
            .await;
        let record = match saved {
            Ok(record) => record,
            Err(StoreError::Conflict(Constraint::GraphVersion | Constraint::GraphRevision)) => {
                let now = self.store.graph_summary(id, Some(actor.id)).await?;
                return Err(match precondition {
                    Precondition::IfMatch { .. } => GraphError::PreconditionFailed {
                        current: now.head,
                        revision: now.revision,
                    },
                    _ => GraphError::Stale {
                        base: base.unwrap_or(current.head),
                        current: now.head,
                    },
                });
            }
            Err(e) => {
                return Err(graph_store_error(
                    actor.plan,
                    "a graph with this name, or an agent with this id, already exists",
                )(e));
            }
        };
        if new_version {
            self.metrics.graph_versions.inc();
        }
        Ok(Saved { record, warnings })
    }

    /// Deletes a graph the actor owns, with its versions.
    pub async fn delete(&self, actor: Actor, id: Uuid) -> Result<(), GraphError> {
        self.store.delete_graph(id, actor.id).await?;
        record(
            &*self.store,
            Some(actor.id),
            None,
            AuditEvent::GraphDeleted { graph_id: id },
        )
        .await?;
        Ok(())
    }

    /// Copies a graph the actor can read into a new private graph of theirs.
    pub async fn clone_graph(
        &self,
        actor: Actor,
        id: Uuid,
        name: Option<&str>,
    ) -> Result<Saved, GraphError> {
        let source = self.store.graph(id, Some(actor.id)).await?;
        let name = match name {
            Some(name) => check_name(name)?,
            None => check_name(
                &format!("Copy of {}", source.name)
                    .chars()
                    .take(NAME_MAX_CHARS)
                    .collect::<String>(),
            )?,
        };
        actor
            .plan
            .check(LimitKind::NodesPerGraph, source.node_count)
            .map_err(GraphError::PlanLimit)?;
        let warnings = require_valid(
            graphs::validate(
                &*self.store,
                Some(actor.id),
                actor.plan,
                &source.document,
                None,
            )
            .await?,
        )?;
        let record = self
            .store
            .create_graph(NewGraph {
                owner_id: actor.id,
                name,
                description: source.description.clone(),
                agent_id: None,
                is_public: false,
                document: source.document,
                max_graphs: actor.plan.limits().allowance(LimitKind::Graphs),
                max_stored_bytes: actor.plan.limits().stored_bytes,
            })
            .await
            .map_err(graph_store_error(
                actor.plan,
                "a graph with this name already exists",
            ))?;
        record_graph(
            &self.store,
            actor.id,
            record.id,
            AuditEvent::GraphCloned { from: id },
        )
        .await?;
        Ok(Saved {
            record,
            warnings: Some(warnings),
        })
    }
}

async fn record_graph(
    store: &Db,
    user: Uuid,
    graph: Uuid,
    event: AuditEvent,
) -> Result<(), GraphError> {
    record(&**store, Some(user), Some(graph), event).await?;
    Ok(())
}

/// A store error of a graph write: a quota (graphs, stored bytes) is the plan's 402, a
/// conflict is `taken`.
fn graph_store_error(plan: Plan, taken: &'static str) -> impl Fn(StoreError) -> GraphError {
    move |e| match e {
        StoreError::Quota {
            resource: "stored bytes",
            limit,
        } => GraphError::PlanLimit(plan_limit(plan, LimitKind::StoredBytes, limit)),
        StoreError::Quota { limit, .. } => {
            GraphError::PlanLimit(plan_limit(plan, LimitKind::Graphs, limit))
        }
        StoreError::Conflict(_) => GraphError::Taken(taken),
        other => other.into(),
    }
}

/// The plan-limit problem for a [`StoreError::Quota`] of `limit` (the plan's allowance of
/// `kind`, which the store checked atomically): the same one a count over the allowance gives.
pub fn plan_limit(plan: Plan, kind: LimitKind, limit: u64) -> LimitExceeded {
    let needed = limit.saturating_add(1);
    plan.check(kind, needed).err().unwrap_or(LimitExceeded {
        kind,
        plan,
        allowed: limit,
        needed,
        upgrade_to: None,
    })
}

/// A trimmed graph name of 1 to [`NAME_MAX_CHARS`] characters without control characters.
pub fn check_name(raw: &str) -> Result<String, GraphError> {
    let name = raw.trim();
    if name.is_empty()
        || name.chars().count() > NAME_MAX_CHARS
        || name.chars().any(char::is_control)
    {
        return Err(GraphError::Invalid {
            field: "name",
            message: format!("must be 1 to {NAME_MAX_CHARS} characters without control characters"),
        });
    }
    Ok(name.to_owned())
}

/// A description of at most [`DESCRIPTION_MAX_CHARS`] characters; blank is none.
pub fn check_description(raw: Option<String>) -> Result<Option<String>, GraphError> {
    match raw {
        Some(d) if d.chars().count() > DESCRIPTION_MAX_CHARS => Err(GraphError::Invalid {
            field: "description",
            message: format!("must be at most {DESCRIPTION_MAX_CHARS} characters"),
        }),
        Some(d) if d.trim().is_empty() => Ok(None),
        other => Ok(other),
    }
}

/// An agent id as the graph format defines it.
pub fn check_agent_id(raw: &str) -> Result<String, GraphError> {
    orrery_core::id::check_name(raw).map_err(|e| GraphError::Invalid {
        field: "agent_id",
        message: e.to_string(),
    })?;
    Ok(raw.to_owned())
}

/// An agent id made from a name: lowercase letters, digits and `_`.
pub fn slug(name: &str) -> Result<String, GraphError> {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('_') && !out.is_empty() {
            out.push('_');
        }
    }
    let out: String = out.trim_end_matches('_').chars().take(64).collect();
    if out.is_empty() {
        return Err(GraphError::Invalid {
            field: "agent_id",
            message: "the name has no letters or digits to make an agent id from; send agent_id"
                .into(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_make_agent_ids() {
        assert_eq!(slug("Billing Bot (v2)").unwrap(), "billing_bot_v2");
        assert!(slug("!!!").is_err());
    }

    #[test]
    fn names_and_descriptions_have_one_limit() {
        assert!(check_name(&"n".repeat(NAME_MAX_CHARS)).is_ok());
        assert!(check_name(&"n".repeat(NAME_MAX_CHARS + 1)).is_err());
        assert!(check_name(" \t").is_err());
        assert!(check_description(Some("d".repeat(DESCRIPTION_MAX_CHARS))).is_ok());
        assert!(check_description(Some("d".repeat(DESCRIPTION_MAX_CHARS + 1))).is_err());
        assert_eq!(check_description(Some("  ".into())).unwrap(), None);
    }
}
