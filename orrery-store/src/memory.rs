//! [`MemoryStore`]: every storage trait of `orrery-core` over plain maps in memory, with the
//! semantics of the SQL stores (the conformance suite runs every case on all three), for tests
//! and embedders that want no database.
//!
//! All data sits behind one mutex that no call holds across an `await`: each call is one
//! atomic step, which is what the SQL stores' transactions and conditional statements give.
//! Inputs go through the same checks (`limits`, `graphs::prepare`) as the SQL stores, and
//! times are truncated to the microsecond as both databases store them.

use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use orrery_core::billing::SubscriptionState;
use orrery_core::store::BillingRecord;
use orrery_core::store::{
    AgentCaller, ApiKey, ApiKeyStore, Constraint, EmailOutbox, EmailStatus, EmailTemplate,
    EmailTemplateStore, Entity, EventFilter, Granularity, GraphFilter, GraphRecord, GraphStore,
    GraphSummary, GraphUpdate, GraphVersion, MonitoringEvent, MonitoringStore, NewEmail, NewGraph,
    NewUser, OutboxEmail, Page, Paged, Prunable, RefreshUse, RetentionStore, SessionStats,
    StoreError, StoreResult, SubscriptionRecord, SubscriptionStore, Theme, TokenStore, UsageBucket,
    UsageRecord, UsageStore, User, UserFilter, UserPatch, UserStore, VersionSummary,
};
use orrery_core::{Digest, Graph};
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;
use time::{Date, Duration, OffsetDateTime, Time};
use uuid::Uuid;

use crate::db::{Ts, page_bounds};
use crate::graphs::prepare;
use crate::limits::{
    self, MAX_DESCRIPTION, MAX_EMAIL, MAX_ENDPOINT, MAX_ERROR, MAX_NAME, MAX_SMALL_JSON,
    MAX_TEMPLATE, MAX_TOKEN,
};
use crate::pack::{self, Stored};
use crate::retention::{NO_KEY, first_day, midnight};
use crate::usage::period_start;
use crate::users::{check_secretish, normalize_email};
use crate::{Backend, StoreOptions};

/// The store in memory: cheap to clone (clones share the data), `Send` and `Sync`. It starts
/// with the email templates the migrations seed, and forgets everything when the last clone
/// is dropped.
#[derive(Clone)]
pub struct MemoryStore {
    state: Arc<Mutex<State>>,
    options: StoreOptions,
}

impl Default for MemoryStore {
    fn default() -> MemoryStore {
        MemoryStore::new(StoreOptions::default())
    }
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // No data: it holds hashes and mail variables, which stay out of logs.
        f.debug_struct("MemoryStore")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl MemoryStore {
    /// An empty store (but for the seeded email templates) that enforces `options`' limits;
    /// the connection settings in them do not apply.
    pub fn new(options: StoreOptions) -> MemoryStore {
        let state = State {
            templates: seeded_templates(),
            ..State::default()
        };
        MemoryStore {
            state: Arc::new(Mutex::new(state)),
            options,
        }
    }

    /// Another handle on the same data with other options (what connecting to the same
    /// database again is for the SQL stores).
    pub fn with_options(&self, options: StoreOptions) -> MemoryStore {
        MemoryStore {
            state: Arc::clone(&self.state),
            options,
        }
    }

    /// Always [`Backend::Memory`].
    pub fn backend(&self) -> Backend {
        Backend::Memory
    }

    /// The options the store was made with.
    pub fn options(&self) -> &StoreOptions {
        &self.options
    }

    /// Always answers: there is nothing to reach.
    pub async fn ping(&self) -> StoreResult<()> {
        Ok(())
    }

    /// Does nothing: there are no migrations to apply (kept so that callers treat every store
    /// alike).
    pub async fn migrate(&self) -> StoreResult<()> {
        Ok(())
    }

    /// Does nothing: there are no connections to close; the data lives as long as a clone.
    pub async fn close(&self) {}

    /// How many records the store holds, per table of the SQL schema they stand for
    /// (`users`, `graph_versions`, `api_key_usage`…): for tests that check that nothing is
    /// left behind where no trait method looks.
    pub fn row_counts(&self) -> BTreeMap<&'static str, u64> {
        let s = self.lock();
        let n = |len: usize| len as u64;
        BTreeMap::from([
            ("users", n(s.users.len())),
            ("graphs", n(s.graphs.len())),
            (
                "graph_versions",
                n(s.graphs.values().map(|g| g.versions.len()).sum()),
            ),
            (
                "graph_agent_refs",
                n(s.graphs.values().map(|g| g.refs.len()).sum()),
            ),
            ("subscriptions", n(s.subscriptions.len())),
            ("processed_webhook_events", n(s.webhook_events.len())),
            ("monitoring_logs", n(s.events.len())),
            ("api_keys", n(s.keys.len())),
            ("api_key_usage", n(s.usage.len())),
            ("usage_daily", n(s.daily.len())),
            ("email_templates", n(s.templates.len())),
            ("refresh_tokens", n(s.refresh.len())),
            ("password_reset_tokens", n(s.resets.len())),
            ("email_change_tokens", n(s.email_changes.len())),
            ("billing_records", n(s.billing_records.len())),
            ("email_outbox", n(s.outbox.len())),
        ])
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while the lock was held cannot leave a half-made change: every call checks
        // everything before it writes.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Everything the store holds, one map per table of the SQL schema.
#[derive(Default)]
struct State {
    users: HashMap<Uuid, User>,
    graphs: HashMap<Uuid, GraphEntry>,
    keys: HashMap<Uuid, KeyEntry>,
    refresh: HashMap<[u8; 32], RefreshEntry>,
    resets: HashMap<[u8; 32], ResetEntry>,
    email_changes: HashMap<[u8; 32], EmailChangeEntry>,
    billing_records: Vec<BillingRecord>,
    /// By account.
    subscriptions: BTreeMap<Uuid, SubscriptionState>,
    webhook_events: HashMap<String, (String, OffsetDateTime)>,
    events: Vec<MonitoringEvent>,
    /// In insertion order (the SQL tables' serial id).
    usage: Vec<UsageRecord>,
    /// What retention rolled up: by (account, UTC day since the epoch, key or [`NO_KEY`]).
    daily: BTreeMap<(Uuid, i64, Uuid), DailyTotals>,
    templates: BTreeMap<String, EmailTemplate>,
    outbox: HashMap<Uuid, OutboxEntry>,
}

struct GraphEntry {
    /// The head: metadata and document (`record.stored_bytes` is `document_bytes` plus the
    /// versions' stored sizes).
    record: GraphRecord,
    /// Bytes of the head document's JSON text.
    document_bytes: u64,
    /// Every kept version, oldest first.
    versions: Vec<VersionEntry>,
    /// `(node, agent id, pinned digest)` of the head.
    refs: Vec<(String, String, Option<Digest>)>,
}

#[derive(Clone)]
struct VersionEntry {
    digest: Digest,
    parent: Option<Digest>,
    author_id: Uuid,
    created_at: OffsetDateTime,
    node_count: u64,
    /// Packed as the SQL stores pack it (`pack`), so sizes and quotas agree.
    stored: Stored,
}

impl GraphEntry {
    /// The text of version `seq`.
    fn text_of(&self, seq: i64) -> StoreResult<String> {
        let rows: Vec<Stored> = self.versions.iter().map(|v| v.stored.clone()).collect();
        pack::text_of(&rows, seq)
    }

    fn version_bytes(&self) -> u64 {
        self.versions.iter().map(|v| count(v.stored.size())).sum()
    }
}

struct KeyEntry {
    key: ApiKey,
    hash: [u8; 32],
}

#[derive(Clone, Copy, Default)]
struct DailyTotals {
    api_calls: u64,
    duration_ms: u64,
    graphs_created: u64,
}

struct RefreshEntry {
    family: Uuid,
    user_id: Uuid,
    expires_at: OffsetDateTime,
    used_at: Option<OffsetDateTime>,
    revoked_at: Option<OffsetDateTime>,
}

struct ResetEntry {
    user_id: Uuid,
    expires_at: OffsetDateTime,
    used_at: Option<OffsetDateTime>,
}

struct EmailChangeEntry {
    user_id: Uuid,
    new_email: String,
    expires_at: OffsetDateTime,
    used_at: Option<OffsetDateTime>,
}

struct OutboxEntry {
    email: OutboxEmail,
    dedupe_key: Option<String>,
    lease_owner: Option<String>,
    lease_until: Option<OffsetDateTime>,
}

impl State {
    fn readable(&self, id: Uuid, viewer: Option<Uuid>) -> Option<&GraphEntry> {
        self.graphs
            .get(&id)
            .filter(|g| g.record.is_public || Some(g.record.owner_id) == viewer)
    }

    fn user_exists(&self, id: Uuid) -> StoreResult<()> {
        if !self.users.contains_key(&id) {
            return Err(StoreError::NotFound(Entity::User));
        }
        Ok(())
    }

    fn graph_name_taken(&self, owner: Uuid, name: &str, except: Option<Uuid>) -> bool {
        self.graphs.values().any(|g| {
            g.record.owner_id == owner && g.record.name == name && Some(g.record.id) != except
        })
    }

    fn agent_id_taken(&self, agent_id: &str, except: Option<Uuid>) -> bool {
        self.graphs
            .values()
            .any(|g| g.record.agent_id.as_deref() == Some(agent_id) && Some(g.record.id) != except)
    }

    /// Bytes `owner`'s graphs take in storage.
    fn stored_bytes(&self, owner: Uuid) -> u64 {
        self.graphs
            .values()
            .filter(|g| g.record.owner_id == owner)
            .map(|g| g.record.stored_bytes)
            .sum()
    }

    /// Removes a graph; the events that name it keep their row without it (`on delete set
    /// null`).
    fn remove_graph(&mut self, id: Uuid) {
        self.graphs.remove(&id);
        for event in &mut self.events {
            if event.graph_id == Some(id) {
                event.graph_id = None;
            }
        }
    }
}

#[async_trait::async_trait]
impl UserStore for MemoryStore {
    async fn create_user(&self, user: NewUser) -> StoreResult<User> {
        let email = normalize_email(&user.email)?;
        limits::required("name", &user.name, MAX_NAME)?;
        check_secretish(user.password_hash.as_deref(), user.google_sub.as_deref())?;
        let mut s = self.lock();
        if s.users.values().any(|u| u.email == email) {
            return Err(StoreError::Conflict(Constraint::Email));
        }
        if let Some(sub) = &user.google_sub
            && s.users.values().any(|u| u.google_sub.as_ref() == Some(sub))
        {
            return Err(StoreError::Conflict(Constraint::GoogleAccount));
        }
        let created = User {
            id: Uuid::now_v7(),
            email,
            name: user.name,
            password_hash: user.password_hash,
            google_sub: user.google_sub,
            role: user.role,
            plan: user.plan,
            trial_ends_at: user.trial_ends_at.map(at),
            billing_customer_id: None,
            created_at: now(),
            last_seen_at: None,
            theme: Theme::System,
            updated_at: now(),
        };
        s.users.insert(created.id, created.clone());
        Ok(created)
    }

    async fn user(&self, id: Uuid) -> StoreResult<User> {
        self.lock()
            .users
            .get(&id)
            .cloned()
            .ok_or(StoreError::NotFound(Entity::User))
    }

    async fn user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        let email = email.trim().to_lowercase();
        Ok(self
            .lock()
            .users
            .values()
            .find(|u| u.email == email)
            .cloned())
    }

    async fn user_by_google_sub(&self, sub: &str) -> StoreResult<Option<User>> {
        Ok(self
            .lock()
            .users
            .values()
            .find(|u| u.google_sub.as_deref() == Some(sub))
            .cloned())
    }

    async fn update_user(&self, id: Uuid, patch: UserPatch) -> StoreResult<User> {
        if let Some(name) = &patch.name {
            limits::required("name", name, MAX_NAME)?;
        }
        check_secretish(patch.password_hash.as_deref(), patch.google_sub.as_deref())?;
        if let Some(customer) = &patch.billing_customer_id {
            limits::required("billing customer id", customer, MAX_TOKEN)?;
        }
        let mut s = self.lock();
        s.user_exists(id)?;
        let others = || s.users.values().filter(|u| u.id != id);
        if let Some(sub) = &patch.google_sub
            && others().any(|u| u.google_sub.as_ref() == Some(sub))
        {
            return Err(StoreError::Conflict(Constraint::GoogleAccount));
        }
        if let Some(customer) = &patch.billing_customer_id
            && others().any(|u| u.billing_customer_id.as_ref() == Some(customer))
        {
            return Err(StoreError::Conflict(Constraint::BillingCustomer));
        }
        let user = s
            .users
            .get_mut(&id)
            .ok_or(StoreError::NotFound(Entity::User))?;
        if patch != UserPatch::default() {
            user.updated_at = now();
        }
        if let Some(theme) = patch.theme {
            user.theme = theme;
        }
        if let Some(name) = patch.name {
            user.name = name;
        }
        if let Some(hash) = patch.password_hash {
            user.password_hash = Some(hash);
        }
        if let Some(sub) = patch.google_sub {
            user.google_sub = Some(sub);
        }
        if let Some(role) = patch.role {
            user.role = role;
        }
        if let Some(plan) = patch.plan {
            user.plan = plan;
        }
        if let Some(trial) = patch.trial_ends_at {
            user.trial_ends_at = trial.map(at);
        }
        if let Some(customer) = patch.billing_customer_id {
            user.billing_customer_id = Some(customer);
        }
        Ok(user.clone())
    }

    async fn touch_user(&self, id: Uuid, when: OffsetDateTime) -> StoreResult<()> {
        let mut s = self.lock();
        let user = s
            .users
            .get_mut(&id)
            .ok_or(StoreError::NotFound(Entity::User))?;
        user.last_seen_at = Some(at(when));
        Ok(())
    }

    async fn list_users(&self, filter: &UserFilter) -> StoreResult<Paged<User>> {
        let search = filter.search.as_deref().map(str::to_lowercase);
        let within = |t: Option<OffsetDateTime>, (from, to): (OffsetDateTime, OffsetDateTime)| {
            t.is_some_and(|t| at(from) <= t && t < at(to))
        };
        let s = self.lock();
        let mut users: Vec<&User> = s
            .users
            .values()
            .filter(|u| {
                search.as_deref().is_none_or(|needle| {
                    u.email.to_lowercase().contains(needle)
                        || u.name.to_lowercase().contains(needle)
                })
            })
            .filter(|u| filter.plan.is_none_or(|plan| u.plan == plan))
            .filter(|u| {
                filter
                    .trial_ends_between
                    .is_none_or(|range| within(u.trial_ends_at, range))
            })
            .filter(|u| {
                filter
                    .active_since
                    .is_none_or(|since| u.last_seen_at.is_some_and(|t| t >= at(since)))
            })
            .filter(|u| {
                filter
                    .created_between
                    .is_none_or(|range| within(Some(u.created_at), range))
            })
            .collect();
        users.sort_by_key(|x| Reverse((x.created_at, x.id)));
        Ok(page_of(users, filter.page, |u| (*u).clone()))
    }

    async fn delete_user(&self, id: Uuid) -> StoreResult<()> {
        let mut guard = self.lock();
        let s = &mut *guard;
        let Some(user) = s.users.remove(&id) else {
            return Err(StoreError::NotFound(Entity::User));
        };
        if let Some(customer_id) = user.billing_customer_id {
            s.billing_records.push(BillingRecord {
                id: Uuid::now_v7(),
                customer_id,
                subscription_id: s.subscriptions.get(&id).map(|x| x.subscription_id.clone()),
                plan: user.plan,
                account_created_at: user.created_at,
                deleted_at: now(),
            });
        }
        // Everything the account owns goes with it, as the SQL schema's cascades do.
        let graphs: Vec<Uuid> = s
            .graphs
            .values()
            .filter(|g| g.record.owner_id == id)
            .map(|g| g.record.id)
            .collect();
        for graph in graphs {
            s.remove_graph(graph);
        }
        s.subscriptions.remove(&id);
        s.events.retain(|e| e.user_id != Some(id));
        s.keys.retain(|_, k| k.key.user_id != id);
        let keys = &s.keys;
        s.usage
            .retain(|u| u.user_id != id && u.api_key_id.is_none_or(|k| keys.contains_key(&k)));
        s.daily.retain(|(user, _, _), _| *user != id);
        s.refresh.retain(|_, t| t.user_id != id);
        s.resets.retain(|_, t| t.user_id != id);
        s.email_changes.retain(|_, t| t.user_id != id);
        s.outbox.retain(|_, m| m.email.user_id != Some(id));
        Ok(())
    }

    async fn export_user(&self, id: Uuid) -> StoreResult<Value> {
        let s = self.lock();
        export(&s, id)
    }

    async fn create_email_change(
        &self,
        user: Uuid,
        new_email: &str,
        hash: &[u8; 32],
        expires_at: OffsetDateTime,
    ) -> StoreResult<()> {
        let new_email = normalize_email(new_email)?;
        let mut s = self.lock();
        s.user_exists(user)?;
        if s.email_changes.contains_key(hash) {
            return Err(StoreError::Conflict(Constraint::EmailChangeToken));
        }
        s.email_changes.insert(
            *hash,
            EmailChangeEntry {
                user_id: user,
                new_email,
                expires_at: at(expires_at),
                used_at: None,
            },
        );
        Ok(())
    }

    async fn confirm_email_change(
        &self,
        hash: &[u8; 32],
        when: OffsetDateTime,
    ) -> StoreResult<Option<User>> {
        let when = at(when);
        let mut s = self.lock();
        let (user, email) = match s.email_changes.get(hash) {
            Some(t) if t.used_at.is_none() && t.expires_at > when => {
                (t.user_id, t.new_email.clone())
            }
            _ => return Ok(None),
        };
        if s.users.values().any(|u| u.id != user && u.email == email) {
            return Err(StoreError::Conflict(Constraint::Email));
        }
        let Some(account) = s.users.get_mut(&user) else {
            return Ok(None);
        };
        account.email = email;
        account.updated_at = when;
        let account = account.clone();
        for t in s.email_changes.values_mut().filter(|t| t.user_id == user) {
            t.used_at.get_or_insert(when);
        }
        Ok(Some(account))
    }

    async fn billing_records(&self, page: Page) -> StoreResult<Paged<BillingRecord>> {
        let s = self.lock();
        let mut records = s.billing_records.clone();
        records.sort_by_key(|r| std::cmp::Reverse((r.deleted_at, r.id)));
        let total = records.len() as u64;
        let (limit, offset) = crate::db::page_bounds(page);
        let items = records
            .into_iter()
            .skip(usize::try_from(offset).unwrap_or(usize::MAX))
            .take(usize::try_from(limit).unwrap_or(0))
            .collect();
        Ok(Paged { items, total })
    }
}

#[async_trait::async_trait]
impl GraphStore for MemoryStore {
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
        let document_bytes = doc.json.len() as u64;
        let new_bytes = document_bytes + packed.len() as u64;
        let mut s = self.lock();
        s.user_exists(graph.owner_id)?;
        if let Some(max) = graph.max_graphs {
            let owned = s
                .graphs
                .values()
                .filter(|g| g.record.owner_id == graph.owner_id)
                .count() as u64;
            if owned >= max {
                return Err(StoreError::Quota {
                    resource: "graphs",
                    limit: max,
                });
            }
        }
        if let Some(max) = graph.max_stored_bytes
            && s.stored_bytes(graph.owner_id) + new_bytes > max
        {
            return Err(StoreError::Quota {
                resource: "stored bytes",
                limit: max,
            });
        }
        if s.graph_name_taken(graph.owner_id, &graph.name, None) {
            return Err(StoreError::Conflict(Constraint::GraphName));
        }
        if let Some(agent_id) = &graph.agent_id
            && s.agent_id_taken(agent_id, None)
        {
            return Err(StoreError::Conflict(Constraint::AgentId));
        }
        let created = now();
        let node_count = count(doc.node_count);
        let record = GraphRecord {
            id: Uuid::now_v7(),
            owner_id: graph.owner_id,
            name: graph.name,
            description: graph.description,
            agent_id: graph.agent_id,
            is_public: graph.is_public,
            head: doc.digest,
            revision: 1,
            version_count: 1,
            node_count,
            stored_bytes: new_bytes,
            document: graph.document,
            created_at: created,
            updated_at: created,
        };
        let version = VersionEntry {
            digest: doc.digest,
            parent: None,
            author_id: graph.owner_id,
            created_at: created,
            node_count,
            stored: Stored {
                seq: 1,
                base_seq: None,
                packed: Some(packed),
                document: None,
            },
        };
        s.graphs.insert(
            record.id,
            GraphEntry {
                record: record.clone(),
                document_bytes,
                versions: vec![version],
                refs: doc.refs,
            },
        );
        Ok(record)
    }

    async fn graph(&self, id: Uuid, viewer: Option<Uuid>) -> StoreResult<GraphRecord> {
        let s = self.lock();
        let graph = s
            .readable(id, viewer)
            .ok_or(StoreError::NotFound(Entity::Graph))?;
        Ok(graph.record.clone())
    }

    async fn graph_summary(&self, id: Uuid, viewer: Option<Uuid>) -> StoreResult<GraphSummary> {
        let s = self.lock();
        let graph = s
            .readable(id, viewer)
            .ok_or(StoreError::NotFound(Entity::Graph))?;
        Ok(graph.record.summary())
    }

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
        // The expensive part of packing, before the lock: the new head's whole frame.
        let packed = doc.as_ref().map(|d| pack::whole(&d.json)).transpose()?;
        for event in &update.events {
            limits::required("event kind", &event.kind, MAX_TOKEN)?;
            limits::json("event data", &event.data.to_string(), MAX_SMALL_JSON)?;
        }
        let mut s = self.lock();
        let (head, revision) = match s.graphs.get(&id) {
            Some(g) if g.record.owner_id == owner => (g.record.head, g.record.revision),
            _ => return Err(StoreError::NotFound(Entity::Graph)),
        };
        if update.base.is_some_and(|base| base != head) {
            return Err(StoreError::Conflict(Constraint::GraphVersion));
        }
        if update.revision.is_some_and(|r| r != revision) {
            return Err(StoreError::Conflict(Constraint::GraphRevision));
        }
        // Every check before the first write: a refused update changes nothing.
        if let Some(name) = &update.name
            && s.graph_name_taken(owner, name, Some(id))
        {
            return Err(StoreError::Conflict(Constraint::GraphName));
        }
        if let Some(Some(agent_id)) = &update.agent_id
            && s.agent_id_taken(agent_id, Some(id))
        {
            return Err(StoreError::Conflict(Constraint::AgentId));
        }
        let used_before = s.stored_bytes(owner);
        let graph = s
            .graphs
            .get(&id)
            .ok_or(StoreError::NotFound(Entity::Graph))?;
        let agent = match &update.agent_id {
            Some(agent) => agent.clone(),
            None => graph.record.agent_id.clone(),
        };
        // The new state of the versions, worked out on a copy: a refused update (over the
        // quota) changes nothing.
        let mut versions: Vec<VersionEntry> = Vec::new();
        let mut refs = None;
        let changed = now();
        let new_version = doc
            .as_ref()
            .zip(packed)
            .filter(|(doc, _)| doc.digest != head);
        if let Some((doc, packed)) = new_version {
            versions = graph.versions.clone();
            let old = graph.versions.last().map_or(0, |v| v.stored.seq);
            let seq = old + 1;
            if let Some(last) = versions.last_mut()
                && !pack::stays_whole(old)
            {
                let text = pack::text_of(std::slice::from_ref(&last.stored), old)?;
                last.stored.packed = Some(pack::delta(&text, &doc.json)?);
                last.stored.base_seq = Some(seq);
                last.stored.document = None;
            }
            versions.push(VersionEntry {
                digest: doc.digest,
                parent: Some(head),
                author_id: update.author_id,
                created_at: changed,
                node_count: count(doc.node_count),
                stored: Stored {
                    seq,
                    base_seq: None,
                    packed: Some(packed),
                    document: None,
                },
            });
            refs = Some(doc.refs.clone());
            if let Some(max) = update.max_versions.map(|m| m.max(1) as usize)
                && versions.len() > max
            {
                // Versions a head pins through this graph's agent id stay; this graph's own
                // new head counts with its new refs.
                let mut pinned: Vec<Digest> = Vec::new();
                if let Some(agent) = &agent {
                    for g in s.graphs.values() {
                        let head_refs = if g.record.id == id {
                            &doc.refs
                        } else {
                            &g.refs
                        };
                        pinned.extend(
                            head_refs
                                .iter()
                                .filter(|(_, a, _)| a == agent)
                                .filter_map(|(_, _, p)| *p),
                        );
                    }
                }
                let excess = versions.len() - max;
                let doomed: Vec<i64> = versions[..versions.len() - 1]
                    .iter()
                    .filter(|v| !pinned.contains(&v.digest))
                    .take(excess)
                    .map(|v| v.stored.seq)
                    .collect();
                for victim in doomed {
                    let rows: Vec<Stored> = versions.iter().map(|v| v.stored.clone()).collect();
                    for v in versions.iter_mut() {
                        if v.stored.base_seq == Some(victim) {
                            let text = pack::text_of(&rows, v.stored.seq)?;
                            v.stored.packed = Some(pack::whole(&text)?);
                            v.stored.base_seq = None;
                            v.stored.document = None;
                        }
                    }
                    versions.retain(|v| v.stored.seq != victim);
                }
            }
        }
        let document_bytes = doc
            .as_ref()
            .map_or(graph.document_bytes, |d| d.json.len() as u64);
        let version_bytes = if refs.is_some() {
            versions.iter().map(|v| count(v.stored.size())).sum()
        } else {
            graph.version_bytes()
        };
        let before = graph.record.stored_bytes;
        let after = document_bytes + version_bytes;
        if let Some(max) = update.max_stored_bytes
            && doc.is_some()
            && after > before
            && used_before - before + after > max
        {
            return Err(StoreError::Quota {
                resource: "stored bytes",
                limit: max,
            });
        }
        let graph = s
            .graphs
            .get_mut(&id)
            .ok_or(StoreError::NotFound(Entity::Graph))?;
        if let Some(refs) = refs {
            graph.versions = versions;
            graph.refs = refs;
        }
        if let (Some(doc), Some(document)) = (doc, update.document) {
            // A document with the head's digest differs only in positions or ui data: it
            // replaces the head document but is not a new version.
            graph.record.head = doc.digest;
            graph.record.node_count = count(doc.node_count);
            graph.record.document = document;
        }
        graph.document_bytes = document_bytes;
        graph.record.version_count = graph.versions.len() as u64;
        graph.record.stored_bytes = after;
        let record = &mut graph.record;
        record.updated_at = changed;
        record.revision += 1;
        if let Some(name) = update.name {
            record.name = name;
        }
        if let Some(description) = update.description {
            record.description = description;
        }
        if let Some(agent_id) = update.agent_id {
            record.agent_id = agent_id;
        }
        if let Some(is_public) = update.is_public {
            record.is_public = is_public;
        }
        let record = record.clone();
        for event in update.events {
            s.events.push(MonitoringEvent {
                id: Uuid::now_v7(),
                user_id: Some(update.author_id),
                graph_id: Some(id),
                kind: event.kind,
                data: event.data,
                at: changed,
            });
        }
        Ok(record)
    }

    async fn delete_graph(&self, id: Uuid, owner: Uuid) -> StoreResult<()> {
        let mut s = self.lock();
        match s.graphs.get(&id) {
            Some(g) if g.record.owner_id == owner => {}
            _ => return Err(StoreError::NotFound(Entity::Graph)),
        }
        s.remove_graph(id);
        Ok(())
    }

    async fn list_graphs(&self, filter: &GraphFilter) -> StoreResult<Paged<GraphSummary>> {
        let search = filter.search.as_deref().map(str::to_lowercase);
        let s = self.lock();
        let mut graphs: Vec<&GraphRecord> = s
            .graphs
            .values()
            .map(|g| &g.record)
            .filter(|g| match (filter.owner_id, filter.include_public) {
                (Some(owner), true) => g.owner_id == owner || g.is_public,
                (Some(owner), false) => g.owner_id == owner,
                (None, true) => g.is_public,
                (None, false) => true,
            })
            .filter(|g| {
                search.as_deref().is_none_or(|needle| {
                    g.name.to_lowercase().contains(needle)
                        || g.description
                            .as_deref()
                            .is_some_and(|d| d.to_lowercase().contains(needle))
                })
            })
            .filter(|g| {
                filter
                    .custom_agent
                    .is_none_or(|custom| g.agent_id.is_some() == custom)
            })
            .filter(|g| filter.public.is_none_or(|public| g.is_public == public))
            .collect();
        graphs.sort_by_key(|x| Reverse((x.updated_at, x.id)));
        Ok(page_of(graphs, filter.page, |g| g.summary()))
    }

    async fn count_graphs(&self, owner: Uuid) -> StoreResult<u64> {
        let s = self.lock();
        Ok(s.graphs
            .values()
            .filter(|g| g.record.owner_id == owner)
            .count() as u64)
    }

    async fn stored_bytes(&self, owner: Uuid) -> StoreResult<u64> {
        Ok(self.lock().stored_bytes(owner))
    }

    async fn versions(
        &self,
        id: Uuid,
        viewer: Option<Uuid>,
        page: Page,
    ) -> StoreResult<Paged<VersionSummary>> {
        let s = self.lock();
        let graph = s
            .readable(id, viewer)
            .ok_or(StoreError::NotFound(Entity::Graph))?;
        let newest_first: Vec<&VersionEntry> = graph.versions.iter().rev().collect();
        let mut paged = page_of(newest_first, page, |v| VersionSummary {
            graph_id: id,
            digest: v.digest,
            parent: v.parent,
            author_id: v.author_id,
            created_at: v.created_at,
            node_count: v.node_count,
        });
        paged.total = graph.record.version_count;
        Ok(paged)
    }

    async fn version(
        &self,
        id: Uuid,
        viewer: Option<Uuid>,
        digest: Digest,
    ) -> StoreResult<GraphVersion> {
        let s = self.lock();
        let graph = s
            .readable(id, viewer)
            .ok_or(StoreError::NotFound(Entity::GraphVersion))?;
        let version = graph
            .versions
            .iter()
            .rev()
            .find(|v| v.digest == digest)
            .ok_or(StoreError::NotFound(Entity::GraphVersion))?;
        let text = graph.text_of(version.stored.seq)?;
        Ok(GraphVersion {
            graph_id: id,
            digest: version.digest,
            parent: version.parent,
            author_id: version.author_id,
            created_at: version.created_at,
            document: Graph::from_json(&text)
                .map_err(|e| crate::db::corrupt("graph version", e))?,
        })
    }

    async fn agent(&self, agent_id: &str, viewer: Option<Uuid>) -> StoreResult<GraphRecord> {
        let s = self.lock();
        s.graphs
            .values()
            .map(|g| &g.record)
            .find(|g| {
                g.agent_id.as_deref() == Some(agent_id)
                    && (g.is_public || Some(g.owner_id) == viewer)
            })
            .cloned()
            .ok_or(StoreError::NotFound(Entity::Agent))
    }

    async fn callers(&self, agent_id: &str, viewer: Option<Uuid>) -> StoreResult<Vec<AgentCaller>> {
        let s = self.lock();
        let mut callers: Vec<AgentCaller> =
            s.graphs
                .values()
                .filter(|g| g.record.is_public || Some(g.record.owner_id) == viewer)
                .flat_map(|g| {
                    g.refs.iter().filter(|(_, agent, _)| agent == agent_id).map(
                        |(node, _, pinned)| AgentCaller {
                            graph_id: g.record.id,
                            owner_id: g.record.owner_id,
                            head: g.record.head,
                            node: node.clone(),
                            pinned: *pinned,
                        },
                    )
                })
                .collect();
        callers.sort_by(|a, b| (a.graph_id, &a.node).cmp(&(b.graph_id, &b.node)));
        Ok(callers)
    }

    async fn count_callers(&self, agent_id: &str) -> StoreResult<u64> {
        let s = self.lock();
        Ok(s.graphs
            .values()
            .filter(|g| g.refs.iter().any(|(_, agent, _)| agent == agent_id))
            .count() as u64)
    }
}

#[async_trait::async_trait]
impl ApiKeyStore for MemoryStore {
    async fn create_api_key(
        &self,
        user: Uuid,
        name: &str,
        prefix: &str,
        hash: &[u8; 32],
        max_live: Option<u64>,
    ) -> StoreResult<ApiKey> {
        limits::required("key name", name, MAX_NAME)?;
        limits::required("key prefix", prefix, MAX_TOKEN)?;
        let mut s = self.lock();
        s.user_exists(user)?;
        if let Some(max) = max_live {
            let live = s
                .keys
                .values()
                .filter(|k| k.key.user_id == user && k.key.revoked_at.is_none())
                .count() as u64;
            if live >= max {
                return Err(StoreError::Quota {
                    resource: "api keys",
                    limit: max,
                });
            }
        }
        insert_key(&mut s, user, name, prefix, hash, now())
    }

    async fn api_key_by_hash(&self, hash: &[u8; 32]) -> StoreResult<Option<ApiKey>> {
        let s = self.lock();
        Ok(s.keys
            .values()
            .find(|k| &k.hash == hash && k.key.revoked_at.is_none())
            .map(|k| k.key.clone()))
    }

    async fn list_api_keys(&self, user: Uuid) -> StoreResult<Vec<ApiKey>> {
        let s = self.lock();
        let mut keys: Vec<ApiKey> = s
            .keys
            .values()
            .filter(|k| k.key.user_id == user)
            .map(|k| k.key.clone())
            .collect();
        keys.sort_by_key(|x| Reverse((x.created_at, x.id)));
        Ok(keys)
    }

    async fn count_api_keys(&self, user: Uuid) -> StoreResult<u64> {
        let s = self.lock();
        Ok(s.keys
            .values()
            .filter(|k| k.key.user_id == user && k.key.revoked_at.is_none())
            .count() as u64)
    }

    async fn revoke_api_key(&self, user: Uuid, id: Uuid) -> StoreResult<bool> {
        let mut s = self.lock();
        let key = match s.keys.get_mut(&id) {
            Some(k) if k.key.user_id == user => &mut k.key,
            _ => return Err(StoreError::NotFound(Entity::ApiKey)),
        };
        if key.revoked_at.is_some() {
            return Ok(false);
        }
        key.revoked_at = Some(now());
        Ok(true)
    }

    async fn rotate_api_key(
        &self,
        user: Uuid,
        id: Uuid,
        prefix: &str,
        hash: &[u8; 32],
    ) -> StoreResult<ApiKey> {
        limits::required("key prefix", prefix, MAX_TOKEN)?;
        let mut s = self.lock();
        // Only a live key rotates: a revoked one may have been revoked because it leaked.
        let name = match s.keys.get(&id) {
            Some(k) if k.key.user_id == user && k.key.revoked_at.is_none() => k.key.name.clone(),
            _ => return Err(StoreError::NotFound(Entity::ApiKey)),
        };
        let at = now();
        let new = insert_key(&mut s, user, &name, prefix, hash, at)?;
        if let Some(old) = s.keys.get_mut(&id) {
            old.key.revoked_at = Some(at);
        }
        Ok(new)
    }

    async fn touch_api_key(&self, id: Uuid, when: OffsetDateTime) -> StoreResult<()> {
        let mut s = self.lock();
        let key = s
            .keys
            .get_mut(&id)
            .ok_or(StoreError::NotFound(Entity::ApiKey))?;
        key.key.last_used_at = Some(at(when));
        Ok(())
    }
}

#[async_trait::async_trait]
impl TokenStore for MemoryStore {
    async fn create_refresh_token(
        &self,
        user: Uuid,
        family: Uuid,
        hash: &[u8; 32],
        expires_at: OffsetDateTime,
    ) -> StoreResult<()> {
        let mut s = self.lock();
        // A family that reuse detection revoked takes no new tokens.
        if s.refresh
            .values()
            .any(|t| t.family == family && t.revoked_at.is_some())
        {
            return Err(StoreError::Conflict(Constraint::RefreshTokenFamily));
        }
        s.user_exists(user)?;
        if s.refresh.contains_key(hash) {
            return Err(StoreError::Conflict(Constraint::RefreshToken));
        }
        s.refresh.insert(
            *hash,
            RefreshEntry {
                family,
                user_id: user,
                expires_at: at(expires_at),
                used_at: None,
                revoked_at: None,
            },
        );
        Ok(())
    }

    async fn use_refresh_token(
        &self,
        hash: &[u8; 32],
        when: OffsetDateTime,
    ) -> StoreResult<RefreshUse> {
        let when = at(when);
        let mut s = self.lock();
        let Some(token) = s.refresh.get(hash) else {
            return Ok(RefreshUse::Invalid);
        };
        let (family, user_id) = (token.family, token.user_id);
        let family_revoked = s
            .refresh
            .values()
            .any(|t| t.family == family && t.revoked_at.is_some());
        if family_revoked {
            return Ok(RefreshUse::Invalid);
        }
        if token.used_at.is_some() {
            // Someone presents a token that was already exchanged: end the whole session.
            for t in s.refresh.values_mut().filter(|t| t.family == family) {
                t.revoked_at.get_or_insert(when);
            }
            tracing::warn!(user_id = %user_id, family = %family,
                "refresh token reused: family revoked");
            return Ok(RefreshUse::Reused { user_id });
        }
        if token.expires_at <= when {
            return Ok(RefreshUse::Invalid);
        }
        if let Some(token) = s.refresh.get_mut(hash) {
            token.used_at = Some(when);
        }
        Ok(RefreshUse::Rotated { user_id, family })
    }

    async fn revoke_refresh_family(&self, family: Uuid) -> StoreResult<()> {
        let when = now();
        let mut s = self.lock();
        for t in s.refresh.values_mut().filter(|t| t.family == family) {
            t.revoked_at.get_or_insert(when);
        }
        Ok(())
    }

    async fn revoke_user_refresh_tokens(&self, user: Uuid) -> StoreResult<()> {
        let when = now();
        let mut s = self.lock();
        for t in s.refresh.values_mut().filter(|t| t.user_id == user) {
            t.revoked_at.get_or_insert(when);
        }
        Ok(())
    }

    async fn create_reset_token(
        &self,
        user: Uuid,
        hash: &[u8; 32],
        expires_at: OffsetDateTime,
    ) -> StoreResult<()> {
        let mut s = self.lock();
        s.user_exists(user)?;
        if s.resets.contains_key(hash) {
            return Err(StoreError::Conflict(Constraint::PasswordResetToken));
        }
        s.resets.insert(
            *hash,
            ResetEntry {
                user_id: user,
                expires_at: at(expires_at),
                used_at: None,
            },
        );
        Ok(())
    }

    async fn consume_reset_token(
        &self,
        hash: &[u8; 32],
        when: OffsetDateTime,
    ) -> StoreResult<Option<Uuid>> {
        let when = at(when);
        let mut s = self.lock();
        let user = match s.resets.get(hash) {
            Some(t) if t.used_at.is_none() && t.expires_at > when => t.user_id,
            _ => return Ok(None),
        };
        // One reset ends every other outstanding link of the account.
        for t in s.resets.values_mut().filter(|t| t.user_id == user) {
            t.used_at.get_or_insert(when);
        }
        Ok(Some(user))
    }
}

#[async_trait::async_trait]
impl SubscriptionStore for MemoryStore {
    async fn apply_subscription(&self, user: Uuid, state: &SubscriptionState) -> StoreResult<bool> {
        limits::required("subscription id", &state.subscription_id, MAX_TOKEN)?;
        limits::required("customer id", &state.customer_id, MAX_TOKEN)?;
        let state = SubscriptionState {
            current_period_end: state.current_period_end.map(at),
            observed_at: at(state.observed_at),
            ..state.clone()
        };
        let mut s = self.lock();
        s.user_exists(user)?;
        // Equal times apply (a replay is a no-op); an older state never replaces a newer one.
        if s.subscriptions
            .get(&user)
            .is_some_and(|stored| stored.observed_at > state.observed_at)
        {
            return Ok(false);
        }
        if s.subscriptions
            .iter()
            .any(|(owner, sub)| *owner != user && sub.subscription_id == state.subscription_id)
        {
            return Err(StoreError::Conflict(Constraint::Subscription));
        }
        s.subscriptions.insert(user, state);
        Ok(true)
    }

    async fn subscription(&self, user: Uuid) -> StoreResult<Option<SubscriptionRecord>> {
        let s = self.lock();
        Ok(s.subscriptions.get(&user).map(|state| SubscriptionRecord {
            user_id: user,
            state: state.clone(),
        }))
    }

    async fn subscription_by_provider_id(
        &self,
        subscription_id: &str,
    ) -> StoreResult<Option<SubscriptionRecord>> {
        let s = self.lock();
        Ok(s.subscriptions
            .iter()
            .find(|(_, sub)| sub.subscription_id == subscription_id)
            .map(|(user, state)| SubscriptionRecord {
                user_id: *user,
                state: state.clone(),
            }))
    }

    async fn user_by_customer(&self, customer_id: &str) -> StoreResult<Option<Uuid>> {
        let s = self.lock();
        let by_user = s
            .users
            .values()
            .find(|u| u.billing_customer_id.as_deref() == Some(customer_id))
            .map(|u| u.id);
        Ok(by_user.or_else(|| {
            s.subscriptions
                .iter()
                .find(|(_, sub)| sub.customer_id == customer_id)
                .map(|(user, _)| *user)
        }))
    }

    async fn active_subscriptions(&self) -> StoreResult<Vec<SubscriptionRecord>> {
        let s = self.lock();
        Ok(s.subscriptions
            .iter()
            .filter(|(_, sub)| sub.status.grants_plan())
            .map(|(user, state)| SubscriptionRecord {
                user_id: *user,
                state: state.clone(),
            })
            .collect())
    }

    async fn record_webhook_event(
        &self,
        event_id: &str,
        event_type: &str,
        when: OffsetDateTime,
    ) -> StoreResult<bool> {
        limits::required("event id", event_id, MAX_TOKEN)?;
        limits::required("event type", event_type, MAX_TOKEN)?;
        let mut s = self.lock();
        if s.webhook_events.contains_key(event_id) {
            return Ok(false);
        }
        s.webhook_events
            .insert(event_id.to_owned(), (event_type.to_owned(), at(when)));
        Ok(true)
    }

    async fn forget_webhook_event(&self, event_id: &str) -> StoreResult<()> {
        self.lock().webhook_events.remove(event_id);
        Ok(())
    }
}

#[async_trait::async_trait]
impl UsageStore for MemoryStore {
    async fn record_usage(&self, record: &UsageRecord) -> StoreResult<()> {
        limits::required("endpoint", &record.endpoint, MAX_ENDPOINT)?;
        limits::required("method", &record.method, MAX_TOKEN)?;
        let mut s = self.lock();
        // The key must be the account's own: usage is never booked on another account's key.
        if !key_is_theirs(&s, record) {
            return Err(StoreError::NotFound(Entity::ApiKey));
        }
        s.user_exists(record.user_id)?;
        s.usage.push(stored_usage(record));
        Ok(())
    }

    async fn record_usages(&self, records: &[UsageRecord]) -> StoreResult<u64> {
        for record in records {
            limits::required("endpoint", &record.endpoint, MAX_ENDPOINT)?;
            limits::required("method", &record.method, MAX_TOKEN)?;
        }
        let mut s = self.lock();
        let mut written = 0;
        for record in records {
            if s.users.contains_key(&record.user_id) && key_is_theirs(&s, record) {
                s.usage.push(stored_usage(record));
                written += 1;
            }
        }
        Ok(written)
    }

    async fn count_usage(
        &self,
        user: Uuid,
        key: Option<Uuid>,
        from: OffsetDateTime,
        to: OffsetDateTime,
    ) -> StoreResult<u64> {
        let s = self.lock();
        let rolled: u64 = daily_in(&s, user, from, to)
            .filter(|((_, _, k), _)| key.is_none_or(|key| key == *k))
            .map(|(_, t)| t.api_calls)
            .sum();
        Ok(usage_in(&s, from, to)
            .filter(|u| u.user_id == user && key.is_none_or(|k| u.api_key_id == Some(k)))
            .count() as u64
            + rolled)
    }

    async fn usage_time(
        &self,
        user: Uuid,
        from: OffsetDateTime,
        to: OffsetDateTime,
    ) -> StoreResult<u64> {
        let s = self.lock();
        let rolled: u64 = daily_in(&s, user, from, to)
            .map(|(_, t)| t.duration_ms)
            .sum();
        Ok(usage_in(&s, from, to)
            .filter(|u| u.user_id == user)
            .map(|u| u64::from(u.duration_ms))
            .sum::<u64>()
            + rolled)
    }

    async fn usage_history(
        &self,
        user: Uuid,
        from: OffsetDateTime,
        to: OffsetDateTime,
        granularity: Granularity,
    ) -> StoreResult<Vec<UsageBucket>> {
        let s = self.lock();
        let mut buckets = BTreeMap::<Date, (u64, u64)>::new();
        for ((_, day, _), totals) in daily_in(&s, user, from, to) {
            let day = OffsetDateTime::UNIX_EPOCH.date() + Duration::days(*day);
            let bucket = buckets.entry(period_start(day, granularity)).or_default();
            bucket.0 += totals.api_calls;
            bucket.1 += totals.graphs_created;
        }
        for usage in usage_in(&s, from, to).filter(|u| u.user_id == user) {
            let day = usage.at.to_offset(time::UtcOffset::UTC).date();
            buckets.entry(period_start(day, granularity)).or_default().0 += 1;
        }
        let created = s.events.iter().filter(|e| {
            e.user_id == Some(user) && e.kind == "graph.created" && e.at >= from && e.at < to
        });
        for event in created {
            let day = event.at.to_offset(time::UtcOffset::UTC).date();
            buckets.entry(period_start(day, granularity)).or_default().1 += 1;
        }
        Ok(buckets
            .into_iter()
            .map(|(start, (api_calls, graphs_created))| UsageBucket {
                period_start: start.with_time(Time::MIDNIGHT).assume_utc(),
                api_calls,
                graphs_created,
            })
            .collect())
    }

    async fn total_usage(&self, from: OffsetDateTime, to: OffsetDateTime) -> StoreResult<u64> {
        let s = self.lock();
        let (first, end) = (first_day(from), first_day(to));
        let rolled: u64 = s
            .daily
            .iter()
            .filter(|((_, day, _), _)| first <= *day && *day < end)
            .map(|(_, t)| t.api_calls)
            .sum();
        Ok(usage_in(&s, from, to).count() as u64 + rolled)
    }

    async fn session_stats(
        &self,
        from: OffsetDateTime,
        to: OffsetDateTime,
        idle: Duration,
    ) -> StoreResult<SessionStats> {
        let idle = idle.whole_microseconds();
        let s = self.lock();
        let mut calls: BTreeMap<Uuid, Vec<i128>> = BTreeMap::new();
        for usage in usage_in(&s, from, to) {
            calls
                .entry(usage.user_id)
                .or_default()
                .push(usage.at.unix_timestamp_nanos() / 1_000);
        }
        // A call starts a session when its account's previous call is more than `idle`
        // before it; a session lasts from its first call to its last.
        let mut stats = SessionStats::default();
        let mut total_micros = 0i128;
        for times in calls.values_mut() {
            times.sort_unstable();
            let mut start = times[0];
            for pair in times.windows(2) {
                if pair[1] - pair[0] > idle {
                    stats.sessions += 1;
                    total_micros += pair[0] - start;
                    start = pair[1];
                }
            }
            stats.sessions += 1;
            total_micros += times[times.len() - 1] - start;
        }
        stats.total_seconds = u64::try_from(total_micros / 1_000_000).unwrap_or(0);
        Ok(stats)
    }
}

#[async_trait::async_trait]
impl MonitoringStore for MemoryStore {
    async fn record_event(
        &self,
        user: Option<Uuid>,
        graph: Option<Uuid>,
        kind: &str,
        data: Value,
    ) -> StoreResult<MonitoringEvent> {
        limits::required("event kind", kind, MAX_TOKEN)?;
        limits::json("event data", &data.to_string(), MAX_SMALL_JSON)?;
        let mut s = self.lock();
        let user_missing = user.is_some_and(|u| !s.users.contains_key(&u));
        let graph_missing = graph.is_some_and(|g| !s.graphs.contains_key(&g));
        if user_missing || graph_missing {
            return Err(StoreError::NotFound(Entity::UserOrGraph));
        }
        let event = MonitoringEvent {
            id: Uuid::now_v7(),
            user_id: user,
            graph_id: graph,
            kind: kind.to_owned(),
            data,
            at: now(),
        };
        s.events.push(event.clone());
        Ok(event)
    }

    async fn list_events(&self, filter: &EventFilter) -> StoreResult<Paged<MonitoringEvent>> {
        let s = self.lock();
        let mut events: Vec<&MonitoringEvent> = s
            .events
            .iter()
            .filter(|e| filter.user_id.is_none_or(|u| e.user_id == Some(u)))
            .filter(|e| filter.graph_id.is_none_or(|g| e.graph_id == Some(g)))
            .filter(|e| filter.kind.as_ref().is_none_or(|k| &e.kind == k))
            .collect();
        events.sort_by_key(|x| Reverse((x.at, x.id)));
        Ok(page_of(events, filter.page, |e| (*e).clone()))
    }
}

#[async_trait::async_trait]
impl EmailTemplateStore for MemoryStore {
    async fn template(&self, name: &str) -> StoreResult<EmailTemplate> {
        self.lock()
            .templates
            .get(name)
            .cloned()
            .ok_or(StoreError::NotFound(Entity::EmailTemplate))
    }

    async fn list_templates(&self) -> StoreResult<Vec<EmailTemplate>> {
        Ok(self.lock().templates.values().cloned().collect())
    }

    async fn save_template(&self, template: &EmailTemplate) -> StoreResult<()> {
        limits::required("template name", &template.name, MAX_NAME)?;
        limits::required("template subject", &template.subject, MAX_TEMPLATE)?;
        limits::optional("template html", &template.html, MAX_TEMPLATE)?;
        limits::optional("template text", &template.text, MAX_TEMPLATE)?;
        for variable in &template.variables {
            limits::required("template variable", variable, MAX_TOKEN)?;
        }
        self.lock()
            .templates
            .insert(template.name.clone(), template.clone());
        Ok(())
    }
}

#[async_trait::async_trait]
impl EmailOutbox for MemoryStore {
    async fn enqueue_email(
        &self,
        email: NewEmail,
        when: OffsetDateTime,
    ) -> StoreResult<Option<Uuid>> {
        limits::required("recipient", &email.to, MAX_EMAIL)?;
        limits::required("template name", &email.template, MAX_NAME)?;
        if let Some(key) = &email.dedupe_key {
            limits::required("dedupe key", key, MAX_TOKEN)?;
        }
        limits::json(
            "mail variables",
            &email.variables.to_string(),
            MAX_SMALL_JSON,
        )?;
        let when = at(when);
        let mut s = self.lock();
        if let Some(key) = &email.dedupe_key
            && s.outbox
                .values()
                .any(|m| m.dedupe_key.as_ref() == Some(key))
        {
            return Ok(None);
        }
        if let Some(user) = email.user_id {
            s.user_exists(user)?;
        }
        let id = Uuid::now_v7();
        s.outbox.insert(
            id,
            OutboxEntry {
                email: OutboxEmail {
                    id,
                    user_id: email.user_id,
                    to: email.to,
                    template: email.template,
                    variables: email.variables,
                    status: EmailStatus::Pending,
                    attempts: 0,
                    next_attempt_at: when,
                    last_error: None,
                    created_at: when,
                    sent_at: None,
                },
                dedupe_key: email.dedupe_key,
                lease_owner: None,
                lease_until: None,
            },
        );
        Ok(Some(id))
    }

    async fn lease_emails(
        &self,
        owner: &str,
        when: OffsetDateTime,
        lease_for: Duration,
        limit: u32,
    ) -> StoreResult<Vec<OutboxEmail>> {
        limits::required("lease owner", owner, MAX_TOKEN)?;
        let when = at(when);
        let until = at(when + lease_for);
        let mut s = self.lock();
        let mut due: Vec<(OffsetDateTime, Uuid)> = s
            .outbox
            .values()
            .filter(|m| {
                m.email.status == EmailStatus::Pending
                    && m.email.next_attempt_at <= when
                    && m.lease_until.is_none_or(|lease| lease <= when)
            })
            .map(|m| (m.email.next_attempt_at, m.email.id))
            .collect();
        due.sort();
        due.truncate(limit.min(1_000) as usize);
        let mut leased = Vec::with_capacity(due.len());
        for (_, id) in due {
            if let Some(mail) = s.outbox.get_mut(&id) {
                mail.lease_owner = Some(owner.to_owned());
                mail.lease_until = Some(until);
                mail.email.attempts += 1;
                leased.push(mail.email.clone());
            }
        }
        Ok(leased)
    }

    async fn mark_email_sent(
        &self,
        id: Uuid,
        owner: &str,
        when: OffsetDateTime,
    ) -> StoreResult<()> {
        let mut s = self.lock();
        let mail = leased_by(&mut s, id, owner)?;
        mail.email.status = EmailStatus::Sent;
        mail.email.sent_at = Some(at(when));
        mail.email.last_error = None;
        Ok(())
    }

    async fn reschedule_email(
        &self,
        id: Uuid,
        owner: &str,
        error: &str,
        retry_at: OffsetDateTime,
    ) -> StoreResult<()> {
        let mut s = self.lock();
        let mail = leased_by(&mut s, id, owner)?;
        mail.email.next_attempt_at = at(retry_at);
        mail.email.last_error = Some(limits::truncate(error, MAX_ERROR));
        Ok(())
    }

    async fn fail_email(&self, id: Uuid, owner: &str, error: &str) -> StoreResult<()> {
        let mut s = self.lock();
        let mail = leased_by(&mut s, id, owner)?;
        mail.email.status = EmailStatus::Failed;
        mail.email.last_error = Some(limits::truncate(error, MAX_ERROR));
        Ok(())
    }

    async fn list_emails(
        &self,
        status: Option<EmailStatus>,
        page: Page,
    ) -> StoreResult<Paged<OutboxEmail>> {
        let s = self.lock();
        let mut mails: Vec<&OutboxEmail> = s
            .outbox
            .values()
            .map(|m| &m.email)
            .filter(|m| status.is_none_or(|status| m.status == status))
            .collect();
        mails.sort_by_key(|x| Reverse((x.created_at, x.id)));
        Ok(page_of(mails, page, |m| (*m).clone()))
    }
}

/// `when` as the SQL stores keep it: UTC, whole microseconds.
fn at(when: OffsetDateTime) -> OffsetDateTime {
    Ts::new(when).0
}

fn now() -> OffsetDateTime {
    Ts::now().0
}

fn count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}

/// One page of `items` (already in order) and their total, with the SQL stores' bounds.
fn page_of<T, U>(items: Vec<T>, page: Page, map: impl Fn(&T) -> U) -> Paged<U> {
    let (limit, offset) = page_bounds(page);
    let total = items.len() as u64;
    let items = items
        .iter()
        .skip(usize::try_from(offset).unwrap_or(usize::MAX))
        .take(usize::try_from(limit).unwrap_or(usize::MAX))
        .map(map)
        .collect();
    Paged { items, total }
}

fn insert_key(
    s: &mut State,
    user: Uuid,
    name: &str,
    prefix: &str,
    hash: &[u8; 32],
    created_at: OffsetDateTime,
) -> StoreResult<ApiKey> {
    s.user_exists(user)?;
    if s.keys.values().any(|k| &k.hash == hash) {
        return Err(StoreError::Conflict(Constraint::ApiKey));
    }
    let key = ApiKey {
        id: Uuid::now_v7(),
        user_id: user,
        name: name.to_owned(),
        prefix: prefix.to_owned(),
        created_at,
        last_used_at: None,
        revoked_at: None,
    };
    s.keys.insert(
        key.id,
        KeyEntry {
            key: key.clone(),
            hash: *hash,
        },
    );
    Ok(key)
}

fn key_is_theirs(s: &State, record: &UsageRecord) -> bool {
    record.api_key_id.is_none_or(|key| {
        s.keys
            .get(&key)
            .is_some_and(|k| k.key.user_id == record.user_id)
    })
}

#[async_trait::async_trait]
impl RetentionStore for MemoryStore {
    async fn prune(&self, what: Prunable, before: OffsetDateTime, batch: u32) -> StoreResult<u64> {
        let limit = batch.max(1) as usize;
        // Microseconds, as the SQL stores compare.
        let before = at(before);
        let mut guard = self.lock();
        let s = &mut *guard;
        let removed = match what {
            Prunable::UsageRecords => {
                let before = at(midnight(before));
                // Oldest first by insertion order, as the SQL stores take them (serial id).
                let mut taken = 0;
                let mut kept = Vec::with_capacity(s.usage.len());
                for usage in s.usage.drain(..) {
                    if taken < limit && usage.at < before {
                        taken += 1;
                        let totals = s
                            .daily
                            .entry((
                                usage.user_id,
                                day_of(usage.at),
                                usage.api_key_id.unwrap_or(NO_KEY),
                            ))
                            .or_default();
                        totals.api_calls += 1;
                        totals.duration_ms += u64::from(usage.duration_ms);
                    } else {
                        kept.push(usage);
                    }
                }
                s.usage = kept;
                taken
            }
            Prunable::Events => {
                let before = at(midnight(before));
                let mut old: Vec<(OffsetDateTime, Uuid)> = s
                    .events
                    .iter()
                    .filter(|e| e.at < before)
                    .map(|e| (e.at, e.id))
                    .collect();
                old.sort_unstable();
                old.truncate(limit);
                let gone: std::collections::HashSet<Uuid> = old.iter().map(|(_, id)| *id).collect();
                for event in s.events.iter().filter(|e| gone.contains(&e.id)) {
                    if let (Some(user), "graph.created") = (event.user_id, event.kind.as_str()) {
                        s.daily
                            .entry((user, day_of(event.at), NO_KEY))
                            .or_default()
                            .graphs_created += 1;
                    }
                }
                s.events.retain(|e| !gone.contains(&e.id));
                gone.len()
            }
            Prunable::FinishedMail => {
                let mut old: Vec<(OffsetDateTime, Uuid)> = s
                    .outbox
                    .values()
                    .filter(|m| {
                        m.email.status != EmailStatus::Pending && m.email.created_at < before
                    })
                    .map(|m| (m.email.created_at, m.email.id))
                    .collect();
                old.sort_unstable();
                old.truncate(limit);
                for (_, id) in &old {
                    s.outbox.remove(id);
                }
                old.len()
            }
            Prunable::SpentTokens => {
                let spent = |t: Option<OffsetDateTime>| t.is_some_and(|t| t < before);
                let mut left = limit;
                let mut take = |hashes: Vec<[u8; 32]>| {
                    let hashes: Vec<[u8; 32]> = hashes.into_iter().take(left).collect();
                    left -= hashes.len();
                    hashes
                };
                let refresh = take(
                    s.refresh
                        .iter()
                        .filter(|(_, t)| {
                            t.expires_at < before || spent(t.used_at) || spent(t.revoked_at)
                        })
                        .map(|(h, _)| *h)
                        .collect(),
                );
                let resets = take(
                    s.resets
                        .iter()
                        .filter(|(_, t)| t.expires_at < before || spent(t.used_at))
                        .map(|(h, _)| *h)
                        .collect(),
                );
                let changes = take(
                    s.email_changes
                        .iter()
                        .filter(|(_, t)| t.expires_at < before || spent(t.used_at))
                        .map(|(h, _)| *h)
                        .collect(),
                );
                for h in &refresh {
                    s.refresh.remove(h);
                }
                for h in &resets {
                    s.resets.remove(h);
                }
                for h in &changes {
                    s.email_changes.remove(h);
                }
                refresh.len() + resets.len() + changes.len()
            }
            Prunable::WebhookReceipts => {
                let mut old: Vec<(OffsetDateTime, String)> = s
                    .webhook_events
                    .iter()
                    .filter(|(_, (_, processed))| *processed < before)
                    .map(|(id, (_, processed))| (*processed, id.clone()))
                    .collect();
                old.sort_unstable();
                old.truncate(limit);
                for (_, id) in &old {
                    s.webhook_events.remove(id);
                }
                old.len()
            }
        };
        Ok(removed as u64)
    }
}

fn stored_usage(record: &UsageRecord) -> UsageRecord {
    UsageRecord {
        at: at(record.at),
        ..record.clone()
    }
}

/// The rolled-up totals of `user` for the days that start in `[from, to)`.
fn daily_in(
    s: &State,
    user: Uuid,
    from: OffsetDateTime,
    to: OffsetDateTime,
) -> impl Iterator<Item = (&(Uuid, i64, Uuid), &DailyTotals)> {
    let (first, end) = (first_day(from), first_day(to));
    s.daily
        .range((user, first, Uuid::nil())..)
        .take_while(move |((u, day, _), _)| *u == user && *day < end)
}

/// The UTC day (since the epoch) of `at`.
fn day_of(at: OffsetDateTime) -> i64 {
    i64::from(at.to_offset(time::UtcOffset::UTC).date().to_julian_day())
        - i64::from(OffsetDateTime::UNIX_EPOCH.date().to_julian_day())
}

fn usage_in(
    s: &State,
    from: OffsetDateTime,
    to: OffsetDateTime,
) -> impl Iterator<Item = &UsageRecord> {
    let (from, to) = (at(from), at(to));
    s.usage.iter().filter(move |u| from <= u.at && u.at < to)
}

fn leased_by<'s>(s: &'s mut State, id: Uuid, owner: &str) -> StoreResult<&'s mut OutboxEntry> {
    let mail = s
        .outbox
        .get_mut(&id)
        .filter(|m| {
            m.lease_owner.as_deref() == Some(owner) && m.email.status == EmailStatus::Pending
        })
        .ok_or(StoreError::NotFound(Entity::LeasedEmail))?;
    mail.lease_owner = None;
    mail.lease_until = None;
    Ok(mail)
}

/// The account export, in the same shape as `export.rs` writes it.
fn export(s: &State, id: Uuid) -> StoreResult<Value> {
    let user = s.users.get(&id).ok_or(StoreError::NotFound(Entity::User))?;
    let mut graphs: Vec<&GraphEntry> = s
        .graphs
        .values()
        .filter(|g| g.record.owner_id == id)
        .collect();
    graphs.sort_by_key(|g| (g.record.created_at, g.record.id));
    let graphs_json: Vec<Value> = graphs
        .iter()
        .map(|g| {
            let versions: Vec<Value> = g
                .versions
                .iter()
                .map(|v| {
                    let text = g.text_of(v.stored.seq)?;
                    Ok(json!({
                        "number": v.stored.seq,
                        "digest": v.digest.to_string(),
                        "parent": v.parent.map(|d| d.to_string()),
                        "author_id": v.author_id,
                        "created_at": ts(v.created_at),
                        "document": serde_json::from_str::<Value>(&text)
                            .map_err(|e| crate::db::corrupt("json", e))?,
                    }))
                })
                .collect::<StoreResult<_>>()?;
            let r = &g.record;
            Ok(json!({
                "id": r.id,
                "name": r.name,
                "description": r.description,
                "agent_id": r.agent_id,
                "is_public": r.is_public,
                "head": r.head.to_string(),
                "created_at": ts(r.created_at),
                "updated_at": ts(r.updated_at),
                "document": document(&r.document)?,
                "versions": versions,
            }))
        })
        .collect::<StoreResult<_>>()?;
    let mut keys: Vec<&ApiKey> = s
        .keys
        .values()
        .map(|k| &k.key)
        .filter(|k| k.user_id == id)
        .collect();
    keys.sort_by_key(|k| (k.created_at, k.id));
    let mut usage: Vec<&UsageRecord> = s.usage.iter().filter(|u| u.user_id == id).collect();
    let usage_daily: Vec<Value> = s
        .daily
        .range((id, i64::MIN, Uuid::nil())..)
        .take_while(|((u, _, _), _)| *u == id)
        .map(|((_, day, key), t)| {
            json!({
                "day": (OffsetDateTime::UNIX_EPOCH.date() + Duration::days(*day)).to_string(),
                "api_key_id": (*key != NO_KEY).then_some(*key),
                "api_calls": t.api_calls,
                "duration_ms": t.duration_ms,
                "graphs_created": t.graphs_created,
            })
        })
        .collect();
    usage.sort_by_key(|u| u.at);
    let mut events: Vec<&MonitoringEvent> =
        s.events.iter().filter(|e| e.user_id == Some(id)).collect();
    events.sort_by_key(|e| (e.at, e.id));
    let mut mails: Vec<&OutboxEmail> = s
        .outbox
        .values()
        .map(|m| &m.email)
        .filter(|m| m.user_id == Some(id))
        .collect();
    mails.sort_by_key(|m| (m.created_at, m.id));
    Ok(json!({
        "format": "orrery-account-export",
        "version": 1,
        "exported_at": ts(now()),
        "user": {
            "id": user.id,
            "email": user.email,
            "name": user.name,
            "role": user.role.as_str(),
            "plan": user.plan.as_str(),
            "trial_ends_at": user.trial_ends_at.map(ts),
            "billing_customer_id": user.billing_customer_id,
            "created_at": ts(user.created_at),
            "last_seen_at": user.last_seen_at.map(ts),
            "theme": user.theme.as_str(),
            "updated_at": ts(user.updated_at),
            "signs_in_with_password": user.password_hash.is_some(),
            "signs_in_with_google": user.google_sub.is_some(),
        },
        "graphs": graphs_json,
        "api_keys": keys.into_iter().map(|k| json!({
            "id": k.id,
            "name": k.name,
            "prefix": k.prefix,
            "created_at": ts(k.created_at),
            "last_used_at": k.last_used_at.map(ts),
            "revoked_at": k.revoked_at.map(ts),
        })).collect::<Vec<_>>(),
        "subscription": s.subscriptions.get(&id).map(|s| json!({
            "subscription_id": s.subscription_id,
            "customer_id": s.customer_id,
            "plan": s.plan.as_str(),
            "status": s.status.as_str(),
            "current_period_end": s.current_period_end.map(ts),
            "cancel_at_period_end": s.cancel_at_period_end,
            "observed_at": ts(s.observed_at),
        })),
        "usage": usage.into_iter().map(|u| json!({
            "api_key_id": u.api_key_id,
            "endpoint": u.endpoint,
            "method": u.method,
            "status": u.status,
            "at": ts(u.at),
            "duration_ms": u.duration_ms,
        })).collect::<Vec<_>>(),
        "usage_daily": usage_daily,
        "events": events.into_iter().map(|e| json!({
            "id": e.id,
            "graph_id": e.graph_id,
            "kind": e.kind,
            "data": e.data,
            "at": ts(e.at),
        })).collect::<Vec<_>>(),
        "emails": mails.into_iter().map(|m| json!({
            "id": m.id,
            "to": m.to,
            "template": m.template,
            "status": m.status.as_str(),
            "created_at": ts(m.created_at),
            "sent_at": m.sent_at.map(ts),
        })).collect::<Vec<_>>(),
    }))
}

/// RFC 3339 text of a stored time.
fn ts(when: OffsetDateTime) -> String {
    when.format(&Rfc3339).unwrap_or_default()
}

/// A document as the JSON value the SQL stores export (its saved text, parsed).
fn document(graph: &Graph) -> StoreResult<Value> {
    serde_json::from_str(&graph.to_json()).map_err(|e| crate::db::corrupt("json", e))
}

/// The email templates the migrations seed, read from the SQLite migrations' `insert into
/// email_templates` statements, so that both kinds of store start with the same ones.
fn seeded_templates() -> BTreeMap<String, EmailTemplate> {
    let mut templates = BTreeMap::new();
    for (_, _, sql) in crate::SQLITE_MIGRATIONS {
        for template in seeds::parse(sql) {
            templates.insert(template.name.clone(), template);
        }
    }
    templates
}

mod seeds {
    //! A reader for the one kind of statement the migrations seed data with: `insert into
    //! email_templates (name, subject, html, text, variables, updated_at) values ('…', '…',
    //! '…', '…', '[…]', <expression>), …;` (SQL string literals, `''` for a quote).

    use orrery_core::store::EmailTemplate;

    const INSERT: &str =
        "insert into email_templates (name, subject, html, text, variables, updated_at) values";

    /// Every template row inserted in `sql`. A statement this reader cannot follow panics:
    /// a seed migration the memory store silently missed would make it differ from the
    /// SQL stores (the unit test below reads every embedded migration).
    pub(super) fn parse(sql: &str) -> Vec<EmailTemplate> {
        let mut templates = Vec::new();
        let mut rest = sql;
        while let Some(at) = rest.find(INSERT) {
            rest = &rest[at + INSERT.len()..];
            loop {
                rest = rest.trim_start();
                rest = rest
                    .strip_prefix('(')
                    .expect("a template row starts with `(`");
                let mut fields = Vec::new();
                for _ in 0..5 {
                    let (field, after) = string_literal(rest.trim_start());
                    fields.push(field);
                    rest = after
                        .trim_start()
                        .strip_prefix(',')
                        .expect("template fields are separated by `,`");
                }
                rest = skip_expression(rest);
                let [name, subject, html, text, variables] =
                    <[String; 5]>::try_from(fields).expect("five fields");
                templates.push(EmailTemplate {
                    name,
                    subject,
                    html,
                    text,
                    variables: serde_json::from_str(&variables)
                        .expect("seeded template variables are a JSON list"),
                    is_active: true,
                });
                rest = rest.trim_start();
                match rest.as_bytes().first() {
                    Some(b',') => rest = &rest[1..],
                    Some(b';') => break,
                    _ => panic!("a template row is followed by `,` or `;`"),
                }
            }
        }
        templates
    }

    /// A SQL string literal at the start of `s`, and what follows it.
    fn string_literal(s: &str) -> (String, &str) {
        let body = s.strip_prefix('\'').expect("a SQL string literal");
        let mut value = String::new();
        let mut chars = body.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            if c != '\'' {
                value.push(c);
                continue;
            }
            if chars.peek().is_some_and(|&(_, next)| next == '\'') {
                chars.next();
                value.push('\'');
                continue;
            }
            return (value, &body[i + 1..]);
        }
        panic!("unterminated SQL string literal");
    }

    /// Skips the last field (an expression with balanced parentheses) and the row's `)`.
    fn skip_expression(s: &str) -> &str {
        let mut depth = 0usize;
        for (i, c) in s.char_indices() {
            match c {
                '(' => depth += 1,
                ')' if depth == 0 => return &s[i + 1..],
                ')' => depth -= 1,
                _ => {}
            }
        }
        panic!("unbalanced template row");
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn seeded_templates_are_read_with_quotes_and_newlines() {
            let sql = "-- x\ninsert into email_templates (name, subject, html, text, variables, \
                       updated_at) values\n('a', 'it''s {{ x }}', '<p>(</p>', 'line\nline', \
                       '[\"x\"]', (unixepoch() * 1000000)),\n ('b', 's', '', 't', '[]', 0);";
            let parsed = parse(sql);
            assert_eq!(parsed.len(), 2);
            assert_eq!(parsed[0].subject, "it's {{ x }}");
            assert_eq!(parsed[0].html, "<p>(</p>");
            assert_eq!(parsed[0].text, "line\nline");
            assert_eq!(parsed[0].variables, ["x"]);
            assert_eq!(parsed[1].name, "b");
        }

        #[test]
        fn every_embedded_migration_parses() {
            let names: Vec<String> = super::super::seeded_templates().into_keys().collect();
            assert!(names.contains(&"welcome".to_owned()), "{names:?}");
            assert!(names.contains(&"password_reset".to_owned()), "{names:?}");
        }
    }
}
