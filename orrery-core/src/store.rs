//! Storage traits: what the server needs from a database, implemented by `orrery-store` over
//! SQLite and PostgreSQL. Records are plain data; ids are UUIDs made by the store.
//!
//! Every method that reads or changes one account's data takes the owner, so a store call can
//! never reach another account's private rows; "not yours" and "not there" are the same
//! [`StoreError::NotFound`].

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::billing::SubscriptionState;
use crate::digest::Digest;
use crate::document::Graph;
use crate::plan::Plan;

/// Everything a store call can fail with. Backends box their errors; no SQL reaches callers.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// No such row, or it belongs to another account (callers cannot tell which).
    #[error("{0} not found")]
    NotFound(Entity),
    /// The write conflicts with what is stored: a unique value taken, or a stale version.
    #[error("{0} conflicts with the stored data")]
    Conflict(Constraint),
    /// The write would exceed a limit of the store itself (sizes, counts).
    #[error("{0}")]
    Limit(String),
    /// The input breaks a rule of the store: an empty name, a malformed agent id.
    #[error("{0}")]
    Invalid(String),
    /// The owner already has `limit` of `resource` (`graphs`, `api keys`), the most the caller
    /// allowed: the count and the insert are one atomic step, so concurrent creates never go
    /// over it.
    #[error("the limit of {limit} {resource} is reached")]
    Quota {
        /// What was being created, plural (`graphs`, `api keys`).
        resource: &'static str,
        /// The most the owner may have.
        limit: u64,
    },
    /// The backend cannot be reached right now: no connection became free in time, the
    /// connection was refused, reset or lost, or the database is shutting down or starting.
    /// Worth retrying shortly; the cause is for the logs.
    #[error("storage backend is unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The backend failed; the cause is for the logs, never for users.
    #[error("storage backend failed")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// `Result` with [`StoreError`].
pub type StoreResult<T> = Result<T, StoreError>;

/// What a [`StoreError::NotFound`] did not find.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Entity {
    /// An account.
    User,
    /// A graph.
    Graph,
    /// A version of a graph.
    GraphVersion,
    /// A published agent.
    Agent,
    /// An API key.
    ApiKey,
    /// A mail template.
    EmailTemplate,
    /// A mail of the outbox under the caller's lease.
    LeasedEmail,
    /// The account or the graph an audit event refers to.
    UserOrGraph,
    /// A row another one refers to (a foreign key the backend could not attribute).
    ReferencedRow,
}

impl Entity {
    /// Its name in messages (`graph version`).
    pub fn as_str(self) -> &'static str {
        match self {
            Entity::User => "user",
            Entity::Graph => "graph",
            Entity::GraphVersion => "graph version",
            Entity::Agent => "agent",
            Entity::ApiKey => "api key",
            Entity::EmailTemplate => "email template",
            Entity::LeasedEmail => "leased email",
            Entity::UserOrGraph => "user or graph",
            Entity::ReferencedRow => "referenced row",
        }
    }
}

impl std::fmt::Display for Entity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a [`StoreError::Conflict`] ran into: a unique value that is taken, or a base that is
/// no longer current.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Constraint {
    /// The email address belongs to another account.
    Email,
    /// The Google account is linked to another account.
    GoogleAccount,
    /// The payment provider's customer belongs to another account.
    BillingCustomer,
    /// The owner has a graph of this name.
    GraphName,
    /// Another graph is published under this agent id.
    AgentId,
    /// The graph's head is not the version the write was based on, or the version exists.
    GraphVersion,
    /// The graph's revision is not the one the write was based on (another save came first).
    GraphRevision,
    /// The API key's hash is taken.
    ApiKey,
    /// The refresh token's hash is taken.
    RefreshToken,
    /// The refresh token's family has been revoked (reuse detection).
    RefreshTokenFamily,
    /// The password reset token's hash is taken.
    PasswordResetToken,
    /// The email-change token's hash is taken.
    EmailChangeToken,
    /// The subscription belongs to another account.
    Subscription,
    /// A mail with this dedupe key is in the outbox.
    OutboxEmail,
    /// A mail template of this name exists.
    EmailTemplate,
    /// A unique constraint the store has no name for.
    Other,
}

impl Constraint {
    /// Its name in messages (`graph name`).
    pub fn as_str(self) -> &'static str {
        match self {
            Constraint::Email | Constraint::OutboxEmail => "email",
            Constraint::GoogleAccount => "google account",
            Constraint::BillingCustomer => "billing customer",
            Constraint::GraphName => "graph name",
            Constraint::AgentId => "agent id",
            Constraint::GraphVersion => "graph version",
            Constraint::GraphRevision => "graph revision",
            Constraint::ApiKey => "api key",
            Constraint::RefreshToken => "refresh token",
            Constraint::RefreshTokenFamily => "refresh token family",
            Constraint::PasswordResetToken => "password reset token",
            Constraint::EmailChangeToken => "email change token",
            Constraint::Subscription => "subscription",
            Constraint::EmailTemplate => "email template",
            Constraint::Other => "row",
        }
    }
}

impl std::fmt::Display for Constraint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A user's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A customer.
    User,
    /// An operator of the service.
    Admin,
}

impl Role {
    /// The role's name in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Admin => "admin",
        }
    }
}

/// A page request: 1-based page number and page size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page {
    /// 1-based.
    pub page: u32,
    /// Items per page.
    pub limit: u32,
}

impl Default for Page {
    fn default() -> Page {
        Page { page: 1, limit: 20 }
    }
}

impl Page {
    /// Rows to skip.
    pub fn offset(&self) -> u64 {
        u64::from(self.page.saturating_sub(1)) * u64::from(self.limit)
    }
}

/// One page of results and the total across all pages.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Paged<T> {
    /// This page.
    pub items: Vec<T>,
    /// How many there are in all.
    pub total: u64,
}

/// An account. Serializing leaves the credentials out (and deserializing leaves them `None`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Its id.
    pub id: Uuid,
    /// Lowercased email address, unique.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Argon2id PHC string; `None` for accounts that only sign in with Google.
    #[serde(skip)]
    pub password_hash: Option<String>,
    /// Google's subject id, for Google sign-in.
    #[serde(skip)]
    pub google_sub: Option<String>,
    /// User or admin.
    pub role: Role,
    /// The plan the account pays for (or free).
    pub plan: Plan,
    /// When the trial of the pro plan ends, when the account has had one.
    pub trial_ends_at: Option<OffsetDateTime>,
    /// The payment provider's customer id, once created.
    pub billing_customer_id: Option<String>,
    /// When the account was created.
    pub created_at: OffsetDateTime,
    /// When the account last signed in or called the API.
    pub last_seen_at: Option<OffsetDateTime>,
    /// The console's colours.
    #[serde(default)]
    pub theme: Theme,
    /// When the account last changed (name, email, password, theme, plan, role, trial).
    #[serde(default = "epoch")]
    pub updated_at: OffsetDateTime,
}

fn epoch() -> OffsetDateTime {
    OffsetDateTime::UNIX_EPOCH
}

/// The console's colours, saved on the account.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Theme {
    /// Light.
    Light,
    /// Dark.
    Dark,
    /// Whatever the device prefers.
    #[default]
    System,
}

impl Theme {
    /// The theme's name in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Theme::Light => "light",
            Theme::Dark => "dark",
            Theme::System => "system",
        }
    }

    /// The theme of this name (`light`, `dark`, `system`).
    pub fn parse(name: &str) -> Option<Theme> {
        match name {
            "light" => Some(Theme::Light),
            "dark" => Some(Theme::Dark),
            "system" => Some(Theme::System),
            _ => None,
        }
    }
}

/// What creating an account needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewUser {
    /// Email (stored lowercased).
    pub email: String,
    /// Display name.
    pub name: String,
    /// Argon2id PHC string.
    pub password_hash: Option<String>,
    /// Google subject id.
    pub google_sub: Option<String>,
    /// Role.
    pub role: Role,
    /// Plan.
    pub plan: Plan,
    /// End of the trial.
    pub trial_ends_at: Option<OffsetDateTime>,
}

/// A change to an account; `None` leaves a field alone.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserPatch {
    /// New name.
    pub name: Option<String>,
    /// New password hash.
    pub password_hash: Option<String>,
    /// New Google subject id.
    pub google_sub: Option<String>,
    /// New role.
    pub role: Option<Role>,
    /// New plan.
    pub plan: Option<Plan>,
    /// New trial end (`Some(None)` removes it).
    pub trial_ends_at: Option<Option<OffsetDateTime>>,
    /// New payment provider customer id.
    pub billing_customer_id: Option<String>,
    /// New theme.
    pub theme: Option<Theme>,
}

/// Which users to list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserFilter {
    /// Substring of email or name, case-insensitive.
    pub search: Option<String>,
    /// Only this plan.
    pub plan: Option<Plan>,
    /// Only accounts whose trial ends in `[from, to)` (for trial reminders and expiry).
    pub trial_ends_between: Option<(OffsetDateTime, OffsetDateTime)>,
    /// Only accounts seen (signed in or called the API) at or after this time.
    pub active_since: Option<OffsetDateTime>,
    /// Only accounts created in `[from, to)` (for growth figures).
    pub created_between: Option<(OffsetDateTime, OffsetDateTime)>,
    /// Which page.
    pub page: Page,
}

/// Accounts.
#[async_trait::async_trait]
pub trait UserStore: Send + Sync {
    /// Creates an account; `Conflict` when the email is taken.
    async fn create_user(&self, user: NewUser) -> StoreResult<User>;
    /// The account with this id.
    async fn user(&self, id: Uuid) -> StoreResult<User>;
    /// The account with this email (any case).
    async fn user_by_email(&self, email: &str) -> StoreResult<Option<User>>;
    /// The account with this Google subject id.
    async fn user_by_google_sub(&self, sub: &str) -> StoreResult<Option<User>>;
    /// Changes an account.
    async fn update_user(&self, id: Uuid, patch: UserPatch) -> StoreResult<User>;
    /// Records activity now.
    async fn touch_user(&self, id: Uuid, at: OffsetDateTime) -> StoreResult<()>;
    /// Lists accounts, newest first.
    async fn list_users(&self, filter: &UserFilter) -> StoreResult<Paged<User>>;
    /// Deletes an account and everything it owns, in one transaction. An account that had a
    /// payment provider customer leaves a [`BillingRecord`] (no name, no email), as accounting
    /// needs.
    async fn delete_user(&self, id: Uuid) -> StoreResult<()>;
    /// Everything one account owns, as JSON: profile, graphs with versions, keys (without
    /// hashes), subscription, usage and events.
    async fn export_user(&self, id: Uuid) -> StoreResult<Value>;
    /// Stores an email-change token: following it gives `user` the address `new_email`.
    async fn create_email_change(
        &self,
        user: Uuid,
        new_email: &str,
        hash: &[u8; 32],
        expires_at: OffsetDateTime,
    ) -> StoreResult<()>;
    /// Uses an email-change token once: the account takes its new address (and every other
    /// outstanding change of the account is used up). `None` when the token is unknown, used
    /// or expired; `Conflict` when another account has the address by now.
    async fn confirm_email_change(
        &self,
        hash: &[u8; 32],
        now: OffsetDateTime,
    ) -> StoreResult<Option<User>>;
    /// The billing records deleted accounts left, newest first.
    async fn billing_records(&self, page: Page) -> StoreResult<Paged<BillingRecord>>;
}

/// What is kept of a deleted account that had a payment provider customer: enough to match
/// the provider's invoices, nothing that names a person.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BillingRecord {
    /// The record's id.
    pub id: Uuid,
    /// The provider's customer id (its invoices carry it).
    pub customer_id: String,
    /// The last subscription, if there was one.
    pub subscription_id: Option<String>,
    /// The plan the account had.
    pub plan: Plan,
    /// When the account was created.
    pub account_created_at: OffsetDateTime,
    /// When it was deleted.
    pub deleted_at: OffsetDateTime,
}

/// A graph as stored: its metadata and current version.
#[derive(Clone, Debug, PartialEq)]
pub struct GraphRecord {
    /// Its id.
    pub id: Uuid,
    /// The owning account.
    pub owner_id: Uuid,
    /// Name, unique per owner.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// The agent id it is published under, when it is a custom agent.
    pub agent_id: Option<String>,
    /// Readable by everyone.
    pub is_public: bool,
    /// The current version.
    pub head: Digest,
    /// Counts every change (document, name, description, visibility, agent id): the whole
    /// graph's version for `If-Match`, where `head` is the document's alone.
    pub revision: u64,
    /// How many versions it keeps (older ones beyond the plan's count are pruned).
    pub version_count: u64,
    /// Nodes in the current version.
    pub node_count: u64,
    /// Bytes the graph takes in storage: its current document plus every kept version as
    /// stored (compressed, older versions as deltas). What storage quotas count.
    pub stored_bytes: u64,
    /// The current document.
    pub document: Graph,
    /// When it was created.
    pub created_at: OffsetDateTime,
    /// When it last changed.
    pub updated_at: OffsetDateTime,
}

impl GraphRecord {
    /// Everything but the document.
    pub fn summary(&self) -> GraphSummary {
        GraphSummary {
            id: self.id,
            owner_id: self.owner_id,
            name: self.name.clone(),
            description: self.description.clone(),
            agent_id: self.agent_id.clone(),
            is_public: self.is_public,
            head: self.head,
            revision: self.revision,
            node_count: self.node_count,
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

/// A graph in a list: everything but the document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GraphSummary {
    /// Its id.
    pub id: Uuid,
    /// The owning account.
    pub owner_id: Uuid,
    /// Name.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// The agent id, when published.
    pub agent_id: Option<String>,
    /// Readable by everyone.
    pub is_public: bool,
    /// The current version.
    pub head: Digest,
    /// Counts every change (see [`GraphRecord::revision`]).
    pub revision: u64,
    /// Nodes in the current version.
    pub node_count: u64,
    /// When it was created.
    pub created_at: OffsetDateTime,
    /// When it last changed.
    pub updated_at: OffsetDateTime,
}

/// One immutable version of a graph.
#[derive(Clone, Debug, PartialEq)]
pub struct GraphVersion {
    /// The graph.
    pub graph_id: Uuid,
    /// This version's digest.
    pub digest: Digest,
    /// The version it was made from.
    pub parent: Option<Digest>,
    /// Who saved it.
    pub author_id: Uuid,
    /// When.
    pub created_at: OffsetDateTime,
    /// The document as saved.
    pub document: Graph,
}

/// One version of a graph in a list: everything but the document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionSummary {
    /// The graph.
    pub graph_id: Uuid,
    /// This version's digest.
    pub digest: Digest,
    /// The version it was made from.
    pub parent: Option<Digest>,
    /// Who saved it.
    pub author_id: Uuid,
    /// When.
    pub created_at: OffsetDateTime,
    /// Nodes in this version.
    pub node_count: u64,
}

/// What creating a graph needs.
#[derive(Clone, Debug, PartialEq)]
pub struct NewGraph {
    /// The owning account.
    pub owner_id: Uuid,
    /// Name, unique per owner.
    pub name: String,
    /// Free text.
    pub description: Option<String>,
    /// Publish it as this agent id.
    pub agent_id: Option<String>,
    /// Readable by everyone.
    pub is_public: bool,
    /// The first version.
    pub document: Graph,
    /// The most graphs the owner may have (the plan's limit); `None` for no limit. A create
    /// that would go over it is a [`StoreError::Quota`], even among concurrent creates.
    pub max_graphs: Option<u64>,
    /// The most bytes the owner's graphs may take in storage (see
    /// [`GraphRecord::stored_bytes`]); `None` for no limit. Going over it is a
    /// [`StoreError::Quota`] of `stored bytes`, counted atomically with the insert.
    pub max_stored_bytes: Option<u64>,
}

/// A change to a graph; `None` leaves a field alone. A new document becomes a new version.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GraphUpdate {
    /// The version the client saw; a different head is a `Conflict` (never a lost update).
    pub base: Option<Digest>,
    /// The revision the client saw (name, description and visibility included); a different
    /// one is a [`Constraint::GraphRevision`] conflict, checked atomically with the write.
    pub revision: Option<u64>,
    /// Who is saving.
    pub author_id: Uuid,
    /// New name.
    pub name: Option<String>,
    /// New description (`Some(None)` clears it).
    pub description: Option<Option<String>>,
    /// Publish under an agent id (`Some(None)` unpublishes).
    pub agent_id: Option<Option<String>>,
    /// New visibility.
    pub is_public: Option<bool>,
    /// New document.
    pub document: Option<Graph>,
    /// The most bytes the owner's graphs may take in storage; a write that grows them past it
    /// is a [`StoreError::Quota`] of `stored bytes` and changes nothing. `None` for no limit.
    pub max_stored_bytes: Option<u64>,
    /// The most versions the graph keeps: a new version prunes the oldest beyond it in the
    /// same transaction, except versions that a graph's head pins through this graph's agent
    /// id (a pinned version stays readable). `None` keeps every version.
    pub max_versions: Option<u64>,
    /// Events recorded with the change, in its transaction (the author's and the graph's):
    /// an update is never saved without its audit trail, nor the trail without the update.
    pub events: Vec<NewEvent>,
}

/// An event to record together with a change (see [`GraphUpdate::events`]).
#[derive(Clone, Debug, PartialEq)]
pub struct NewEvent {
    /// What happened (`graph.updated`…).
    pub kind: String,
    /// Details; never secrets.
    pub data: Value,
}

/// Which graphs to list. `owner_id` and `include_public` pick the set: an owner's graphs, "mine
/// or public" (both), public graphs only (`include_public` alone), or every graph (neither: for
/// operators only).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GraphFilter {
    /// Only this owner's.
    pub owner_id: Option<Uuid>,
    /// Also public graphs of others (with `owner_id`: "mine or public"; alone: public only).
    pub include_public: bool,
    /// Substring of name or description, case-insensitive.
    pub search: Option<String>,
    /// Only custom agents (or only plain graphs).
    pub custom_agent: Option<bool>,
    /// Only public (or only private) graphs.
    pub public: Option<bool>,
    /// Which page.
    pub page: Page,
}

/// A graph whose current version uses an agent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentCaller {
    /// The calling graph.
    pub graph_id: Uuid,
    /// Its owner.
    pub owner_id: Uuid,
    /// Its current version.
    pub head: Digest,
    /// The `subgraph` node.
    pub node: String,
    /// The version it pins, or `None` for latest.
    pub pinned: Option<Digest>,
}

/// Graphs and their versions.
#[async_trait::async_trait]
pub trait GraphStore: Send + Sync {
    /// Creates a graph with its first version; `Conflict` when the owner has a graph of that
    /// name or the agent id is taken, `Limit` when the document is over the store's size limit,
    /// `Quota` when the owner already has `graph.max_graphs` graphs (counted atomically with
    /// the insert), [`Entity::User`] not found when the owner does not exist.
    async fn create_graph(&self, graph: NewGraph) -> StoreResult<GraphRecord>;
    /// A graph that `viewer` may read (their own, or public).
    async fn graph(&self, id: Uuid, viewer: Option<Uuid>) -> StoreResult<GraphRecord>;
    /// What [`GraphStore::graph`] says about the graph, without its document: for changes
    /// that do not need it (a rename), so they neither read nor parse the document. The
    /// default reads the whole record.
    async fn graph_summary(&self, id: Uuid, viewer: Option<Uuid>) -> StoreResult<GraphSummary> {
        Ok(self.graph(id, viewer).await?.summary())
    }
    /// Changes `owner`'s graph; a new document is written as a new version in the same
    /// transaction as the head update (and the pruning of versions beyond
    /// `update.max_versions`). A [`Constraint::GraphVersion`] conflict when `update.base` is not
    /// the head, a [`Constraint::GraphRevision`] conflict when `update.revision` is not the revision (another save
    /// came first), `Quota` when the owner's stored bytes would grow past
    /// `update.max_stored_bytes`; a document with the head's digest (moved nodes, ui data)
    /// replaces the head document without a new version. Every successful call bumps the
    /// revision.
    async fn update_graph(
        &self,
        id: Uuid,
        owner: Uuid,
        update: GraphUpdate,
    ) -> StoreResult<GraphRecord>;
    /// Deletes `owner`'s graph with its versions.
    async fn delete_graph(&self, id: Uuid, owner: Uuid) -> StoreResult<()>;
    /// Lists graphs, most recently changed first.
    async fn list_graphs(&self, filter: &GraphFilter) -> StoreResult<Paged<GraphSummary>>;
    /// How many graphs `owner` has.
    async fn count_graphs(&self, owner: Uuid) -> StoreResult<u64>;
    /// Bytes `owner`'s graphs take in storage: the sum of their [`GraphRecord::stored_bytes`].
    async fn stored_bytes(&self, owner: Uuid) -> StoreResult<u64>;
    /// The versions of a graph `viewer` may read, newest first, without documents.
    async fn versions(
        &self,
        id: Uuid,
        viewer: Option<Uuid>,
        page: Page,
    ) -> StoreResult<Paged<VersionSummary>>;
    /// One version of a graph `viewer` may read (the newest with this digest, when a graph
    /// went back to an earlier content).
    async fn version(
        &self,
        id: Uuid,
        viewer: Option<Uuid>,
        digest: Digest,
    ) -> StoreResult<GraphVersion>;
    /// The graph published under `agent_id`, when `viewer` may read it.
    async fn agent(&self, agent_id: &str, viewer: Option<Uuid>) -> StoreResult<GraphRecord>;
    /// Every graph `viewer` may read (their own, or public) whose current version uses
    /// `agent_id`, with the node and pinned version: one indexed query.
    async fn callers(&self, agent_id: &str, viewer: Option<Uuid>) -> StoreResult<Vec<AgentCaller>>;
    /// How many graphs of anyone's use `agent_id` in their current version (a count reveals
    /// no private graph).
    async fn count_callers(&self, agent_id: &str) -> StoreResult<u64>;
}

/// An API key, without its secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ApiKey {
    /// Its id.
    pub id: Uuid,
    /// The owning account.
    pub user_id: Uuid,
    /// A name for people.
    pub name: String,
    /// The first characters of the key, to recognise it.
    pub prefix: String,
    /// When it was made.
    pub created_at: OffsetDateTime,
    /// When it was last used.
    pub last_used_at: Option<OffsetDateTime>,
    /// When it was revoked.
    pub revoked_at: Option<OffsetDateTime>,
}

/// API keys, stored as hashes.
#[async_trait::async_trait]
pub trait ApiKeyStore: Send + Sync {
    /// Stores a new key by its hash; `Quota` when `user` already has `max_live` live keys
    /// (counted atomically with the insert; `None` for no limit), `Conflict` when the hash is
    /// taken, [`Entity::User`] not found when the account does not exist.
    async fn create_api_key(
        &self,
        user: Uuid,
        name: &str,
        prefix: &str,
        hash: &[u8; 32],
        max_live: Option<u64>,
    ) -> StoreResult<ApiKey>;
    /// The live (not revoked) key with this hash.
    async fn api_key_by_hash(&self, hash: &[u8; 32]) -> StoreResult<Option<ApiKey>>;
    /// `user`'s keys, newest first, revoked ones included.
    async fn list_api_keys(&self, user: Uuid) -> StoreResult<Vec<ApiKey>>;
    /// How many live keys `user` has.
    async fn count_api_keys(&self, user: Uuid) -> StoreResult<u64>;
    /// Revokes one of `user`'s keys: `true` when this call revoked a live key, `false` when it
    /// was already revoked (the first revocation time stays), `NotFound` when it is not
    /// `user`'s or not there.
    async fn revoke_api_key(&self, user: Uuid, id: Uuid) -> StoreResult<bool>;
    /// Revokes one of `user`'s keys and stores its replacement, in one transaction.
    async fn rotate_api_key(
        &self,
        user: Uuid,
        id: Uuid,
        prefix: &str,
        hash: &[u8; 32],
    ) -> StoreResult<ApiKey>;
    /// Records use of a key.
    async fn touch_api_key(&self, id: Uuid, at: OffsetDateTime) -> StoreResult<()>;
}

/// How using a refresh token went.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RefreshUse {
    /// The token was live; it is now used, and the caller issues the next one in its family.
    Rotated {
        /// The account.
        user_id: Uuid,
        /// The token family.
        family: Uuid,
    },
    /// The token was already used: its whole family is now revoked.
    Reused {
        /// The account.
        user_id: Uuid,
    },
    /// No such token, or expired or revoked.
    Invalid,
}

/// Refresh tokens (rotating, in families) and password-reset tokens, stored as hashes.
#[async_trait::async_trait]
pub trait TokenStore: Send + Sync {
    /// Stores a refresh token of `family`.
    async fn create_refresh_token(
        &self,
        user: Uuid,
        family: Uuid,
        hash: &[u8; 32],
        expires_at: OffsetDateTime,
    ) -> StoreResult<()>;
    /// Uses a refresh token once (see [`RefreshUse`]).
    async fn use_refresh_token(
        &self,
        hash: &[u8; 32],
        now: OffsetDateTime,
    ) -> StoreResult<RefreshUse>;
    /// Revokes a whole family (sign-out).
    async fn revoke_refresh_family(&self, family: Uuid) -> StoreResult<()>;
    /// Revokes every refresh token of an account (password change).
    async fn revoke_user_refresh_tokens(&self, user: Uuid) -> StoreResult<()>;
    /// Stores a password-reset token.
    async fn create_reset_token(
        &self,
        user: Uuid,
        hash: &[u8; 32],
        expires_at: OffsetDateTime,
    ) -> StoreResult<()>;
    /// Uses a password-reset token once; the account it was for, if live.
    async fn consume_reset_token(
        &self,
        hash: &[u8; 32],
        now: OffsetDateTime,
    ) -> StoreResult<Option<Uuid>>;
}

/// A subscription record: the provider's latest state for an account.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubscriptionRecord {
    /// The account.
    pub user_id: Uuid,
    /// The provider's state.
    pub state: SubscriptionState,
}

/// Subscriptions and processed webhook events.
#[async_trait::async_trait]
pub trait SubscriptionStore: Send + Sync {
    /// Stores `state` for `user` unless a newer one is stored; returns whether it was applied.
    async fn apply_subscription(&self, user: Uuid, state: &SubscriptionState) -> StoreResult<bool>;
    /// The subscription of an account.
    async fn subscription(&self, user: Uuid) -> StoreResult<Option<SubscriptionRecord>>;
    /// The subscription with this provider id.
    async fn subscription_by_provider_id(
        &self,
        subscription_id: &str,
    ) -> StoreResult<Option<SubscriptionRecord>>;
    /// The account with this provider customer id.
    async fn user_by_customer(&self, customer_id: &str) -> StoreResult<Option<Uuid>>;
    /// Every subscription whose plan applies now (for revenue figures).
    async fn active_subscriptions(&self) -> StoreResult<Vec<SubscriptionRecord>>;
    /// Records a webhook event id; `false` when it was already recorded (a replay).
    async fn record_webhook_event(
        &self,
        event_id: &str,
        event_type: &str,
        at: OffsetDateTime,
    ) -> StoreResult<bool>;
    /// Forgets a recorded event id, so that a delivery whose processing failed is processed
    /// again when the provider retries it.
    async fn forget_webhook_event(&self, event_id: &str) -> StoreResult<()>;
}

/// One authenticated API call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageRecord {
    /// The account.
    pub user_id: Uuid,
    /// The key used, if any.
    pub api_key_id: Option<Uuid>,
    /// The route pattern (`/api/graphs/{id}`), never the raw path.
    pub endpoint: String,
    /// HTTP method.
    pub method: String,
    /// Response status.
    pub status: u16,
    /// When.
    pub at: OffsetDateTime,
    /// How long it took, in milliseconds.
    pub duration_ms: u32,
}

/// How to group usage history.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Granularity {
    /// Per UTC day.
    Day,
    /// Per ISO week (starting Monday).
    Week,
    /// Per calendar month.
    Month,
}

/// Usage in one period.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UsageBucket {
    /// Start of the period (UTC midnight).
    pub period_start: OffsetDateTime,
    /// API calls in it.
    pub api_calls: u64,
    /// Graphs created in it (`graph.created` events of the monitoring log).
    pub graphs_created: u64,
}

/// API usage counters and history.
///
/// Counts include the daily totals that retention rolled old records up into
/// ([`RetentionStore::prune`]): a day's totals count when the day starts inside the range, so
/// counts over whole UTC days (months, history) are exact however old the records are.
/// [`UsageStore::session_stats`] needs the records themselves and covers only those kept.
#[async_trait::async_trait]
pub trait UsageStore: Send + Sync {
    /// Records a call.
    async fn record_usage(&self, record: &UsageRecord) -> StoreResult<()>;
    /// Records many calls in one transaction (the server's background writer batches them);
    /// a record booked on another account's key is skipped. Returns how many were written.
    async fn record_usages(&self, records: &[UsageRecord]) -> StoreResult<u64>;
    /// Calls by `user` (and `key`, when given) in `[from, to)`.
    async fn count_usage(
        &self,
        user: Uuid,
        key: Option<Uuid>,
        from: OffsetDateTime,
        to: OffsetDateTime,
    ) -> StoreResult<u64>;
    /// Milliseconds of processing of `user`'s calls in `[from, to)`.
    async fn usage_time(
        &self,
        user: Uuid,
        from: OffsetDateTime,
        to: OffsetDateTime,
    ) -> StoreResult<u64>;
    /// Calls and graphs created by `user` in `[from, to)`, per period; periods with neither
    /// are left out.
    async fn usage_history(
        &self,
        user: Uuid,
        from: OffsetDateTime,
        to: OffsetDateTime,
        granularity: Granularity,
    ) -> StoreResult<Vec<UsageBucket>>;
    /// Calls by everyone in `[from, to)`.
    async fn total_usage(&self, from: OffsetDateTime, to: OffsetDateTime) -> StoreResult<u64>;
    /// Sessions of everyone in `[from, to)`: a session is one account's run of calls with no
    /// pause longer than `idle` between two of them; it lasts from its first call to its last.
    async fn session_stats(
        &self,
        from: OffsetDateTime,
        to: OffsetDateTime,
        idle: time::Duration,
    ) -> StoreResult<SessionStats>;
}

/// How many sessions there were and how long they lasted together (see
/// [`UsageStore::session_stats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SessionStats {
    /// Sessions (a single call is a session of no length).
    pub sessions: u64,
    /// Their lengths added up, in whole seconds.
    pub total_seconds: u64,
}

impl SessionStats {
    /// The mean length of a session in seconds; 0 without sessions.
    pub fn average_seconds(&self) -> f64 {
        if self.sessions == 0 {
            return 0.0;
        }
        self.total_seconds as f64 / self.sessions as f64
    }
}

/// Something that happened, for the account's activity log and the operators.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MonitoringEvent {
    /// Its id.
    pub id: Uuid,
    /// The account it concerns.
    pub user_id: Option<Uuid>,
    /// The graph it concerns.
    pub graph_id: Option<Uuid>,
    /// What happened (`graph.created`, `auth.signin`, `admin.user_updated`…).
    pub kind: String,
    /// Details; never secrets.
    pub data: Value,
    /// When.
    pub at: OffsetDateTime,
}

/// Which events to list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventFilter {
    /// Only this account's (required for user-facing lists).
    pub user_id: Option<Uuid>,
    /// Only this graph's.
    pub graph_id: Option<Uuid>,
    /// Only this kind.
    pub kind: Option<String>,
    /// Which page.
    pub page: Page,
}

/// The monitoring log.
#[async_trait::async_trait]
pub trait MonitoringStore: Send + Sync {
    /// Appends an event.
    async fn record_event(
        &self,
        user: Option<Uuid>,
        graph: Option<Uuid>,
        kind: &str,
        data: Value,
    ) -> StoreResult<MonitoringEvent>;
    /// Lists events, newest first.
    async fn list_events(&self, filter: &EventFilter) -> StoreResult<Paged<MonitoringEvent>>;
}

/// A transactional email template.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailTemplate {
    /// Its key (`welcome`, `password_reset`…).
    pub name: String,
    /// Subject template.
    pub subject: String,
    /// HTML body template.
    pub html: String,
    /// Plain-text body template.
    pub text: String,
    /// The variables the templates may use.
    pub variables: Vec<String>,
    /// Whether mails of this template are sent; a switched-off template sends nothing.
    #[serde(default = "switched_on")]
    pub is_active: bool,
}

fn switched_on() -> bool {
    true
}

/// Email templates.
#[async_trait::async_trait]
pub trait EmailTemplateStore: Send + Sync {
    /// The template with this name.
    async fn template(&self, name: &str) -> StoreResult<EmailTemplate>;
    /// Every template, by name.
    async fn list_templates(&self) -> StoreResult<Vec<EmailTemplate>>;
    /// Replaces a template.
    async fn save_template(&self, template: &EmailTemplate) -> StoreResult<()>;
}

/// A mail to send later, through the outbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewEmail {
    /// The account it is for, when there is one: its mails go when the account goes.
    pub user_id: Option<Uuid>,
    /// The recipient's address.
    pub to: String,
    /// The template's name.
    pub template: String,
    /// The values of the template's variables; never passwords (a reset link is fine).
    pub variables: Value,
    /// At most one mail per key is ever queued (`trial_ending:<user id>`), so a job that runs
    /// twice sends once.
    pub dedupe_key: Option<String>,
}

/// Where a mail of the outbox is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EmailStatus {
    /// Waiting to be sent (or leased by a sender right now).
    Pending,
    /// Sent.
    Sent,
    /// Given up on.
    Failed,
}

impl EmailStatus {
    /// The status's name in the API and the database.
    pub fn as_str(self) -> &'static str {
        match self {
            EmailStatus::Pending => "pending",
            EmailStatus::Sent => "sent",
            EmailStatus::Failed => "failed",
        }
    }
}

/// A mail in the outbox.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OutboxEmail {
    /// Its id.
    pub id: Uuid,
    /// The account it is for.
    pub user_id: Option<Uuid>,
    /// The recipient's address.
    pub to: String,
    /// The template's name.
    pub template: String,
    /// The values of the template's variables.
    pub variables: Value,
    /// Where it is.
    pub status: EmailStatus,
    /// How many times a sender has leased it.
    pub attempts: u32,
    /// Not to be leased before this.
    pub next_attempt_at: OffsetDateTime,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When it was queued.
    pub created_at: OffsetDateTime,
    /// When it was sent.
    pub sent_at: Option<OffsetDateTime>,
}

/// How long to wait before attempt `attempts + 1` of a mail whose attempt `attempts` failed:
/// 30 s doubling each time, at most 6 hours.
pub fn email_backoff(attempts: u32) -> time::Duration {
    let seconds = 30u64.saturating_mul(1u64 << attempts.saturating_sub(1).min(20));
    time::Duration::seconds(seconds.min(6 * 3600) as i64)
}

/// The email outbox: mails are queued in the transaction-safe store and sent by a job that
/// leases them, so a mail survives a restart and several server instances never send one twice.
#[async_trait::async_trait]
pub trait EmailOutbox: Send + Sync {
    /// Queues a mail to be sent from `now` on; `None` when its dedupe key was already queued.
    async fn enqueue_email(
        &self,
        email: NewEmail,
        now: OffsetDateTime,
    ) -> StoreResult<Option<Uuid>>;
    /// Leases up to `limit` pending mails that are due, for `lease_for`, to `owner` (one name
    /// per sender instance): no other sender gets them until the lease runs out. Each lease
    /// counts as an attempt.
    async fn lease_emails(
        &self,
        owner: &str,
        now: OffsetDateTime,
        lease_for: time::Duration,
        limit: u32,
    ) -> StoreResult<Vec<OutboxEmail>>;
    /// Marks a mail leased by `owner` as sent; `NotFound` when the lease was lost.
    async fn mark_email_sent(&self, id: Uuid, owner: &str, at: OffsetDateTime) -> StoreResult<()>;
    /// Gives a mail leased by `owner` back for another attempt at `retry_at` (see
    /// [`email_backoff`]); `NotFound` when the lease was lost.
    async fn reschedule_email(
        &self,
        id: Uuid,
        owner: &str,
        error: &str,
        retry_at: OffsetDateTime,
    ) -> StoreResult<()>;
    /// Gives up on a mail leased by `owner`; `NotFound` when the lease was lost.
    async fn fail_email(&self, id: Uuid, owner: &str, error: &str) -> StoreResult<()>;
    /// Lists mails, newest first (for operators).
    async fn list_emails(
        &self,
        status: Option<EmailStatus>,
        page: Page,
    ) -> StoreResult<Paged<OutboxEmail>>;
}

/// What the retention job removes (see [`RetentionStore::prune`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Prunable {
    /// Records of API calls, rolled up into daily totals per account and key before they go,
    /// so that counts, quotas and history over whole days stay exact.
    UsageRecords,
    /// Monitoring events; `graph.created` events are counted into the daily totals first
    /// (usage history's `graphs_created`).
    Events,
    /// Mails the outbox sent or gave up on (pending mails are never pruned).
    FinishedMail,
    /// Refresh, password-reset and email-change tokens that are spent: used, revoked or
    /// expired.
    SpentTokens,
    /// Receipts of processed payment webhooks (they make a replayed webhook a no-op).
    WebhookReceipts,
}

impl Prunable {
    /// Every kind, in the order the retention job prunes them.
    pub const ALL: [Prunable; 5] = [
        Prunable::UsageRecords,
        Prunable::Events,
        Prunable::FinishedMail,
        Prunable::SpentTokens,
        Prunable::WebhookReceipts,
    ];

    /// Its name in settings, logs and metrics (`usage_records`…).
    pub fn as_str(self) -> &'static str {
        match self {
            Prunable::UsageRecords => "usage_records",
            Prunable::Events => "events",
            Prunable::FinishedMail => "finished_mail",
            Prunable::SpentTokens => "spent_tokens",
            Prunable::WebhookReceipts => "webhook_receipts",
        }
    }
}

/// Removing what has been kept long enough.
#[async_trait::async_trait]
pub trait RetentionStore: Send + Sync {
    /// Removes at most `batch` records of `what` older than `before`, oldest first, in one
    /// transaction, and returns how many went (fewer than `batch`: nothing older is left).
    ///
    /// Usage records and `graph.created` events are moved into daily totals in the same
    /// transaction; `before` is taken back to its UTC midnight for them, so that a day is
    /// rolled up whole and reads over whole days ([`UsageStore`]) are exact: a day's totals
    /// count when the day starts inside the range asked for. Several callers at once (server
    /// instances) never count a record twice. "Older" is, per kind: the call or event time,
    /// the mail's queueing time, the first of a token's use, revocation and expiry (a reused
    /// refresh token is recognised as theft only while its record is kept), the webhook's
    /// processing time.
    async fn prune(&self, what: Prunable, before: OffsetDateTime, batch: u32) -> StoreResult<u64>;
}

/// The longest graph name, in characters: the one number the store and the server check.
pub const MAX_GRAPH_NAME_CHARS: usize = 200;
/// The longest graph description, in characters.
pub const MAX_GRAPH_DESCRIPTION_CHARS: usize = 10_000;
/// The longest display name of an account, in characters.
pub const MAX_USER_NAME_CHARS: usize = 100;
/// The longest email address, in characters (RFC 5321's path limit).
pub const MAX_EMAIL_CHARS: usize = 254;
