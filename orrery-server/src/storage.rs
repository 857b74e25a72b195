//! The storage the server holds: any backend that implements every `orrery-core` storage trait,
//! as a trait object. `orrery-store`'s SQLite and PostgreSQL [`orrery_store::Store`] is the one
//! `orrery serve` opens; an embedder can hand [`crate::startup::Application`] their own.

use std::sync::Arc;

use orrery_core::store::{
    ApiKeyStore, EmailOutbox, EmailTemplateStore, GraphStore, MonitoringStore, StoreResult,
    SubscriptionStore, TokenStore, UsageStore, UserStore,
};

/// Every storage trait, plus what operators need to see of the backend.
#[async_trait::async_trait]
pub trait Storage:
    UserStore
    + GraphStore
    + ApiKeyStore
    + TokenStore
    + SubscriptionStore
    + UsageStore
    + MonitoringStore
    + EmailTemplateStore
    + EmailOutbox
    + Send
    + Sync
    + 'static
{
    /// Checks that the backend answers (readiness probes, health).
    async fn ping(&self) -> StoreResult<()>;
    /// The backend's name for operators (`sqlite`, `postgres`, …).
    fn backend_name(&self) -> &'static str;
}

/// The storage as the server shares it.
pub type Db = Arc<dyn Storage>;

#[async_trait::async_trait]
impl Storage for orrery_store::Store {
    async fn ping(&self) -> StoreResult<()> {
        orrery_store::Store::ping(self).await
    }

    fn backend_name(&self) -> &'static str {
        self.backend().as_str()
    }
}

impl std::fmt::Debug for dyn Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Storage({})", self.backend_name())
    }
}
