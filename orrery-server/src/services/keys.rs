//! API keys: made with a random secret shown once and stored as a hash with a visible prefix,
//! held atomically to the plan's count, revoked everywhere at once (a marker in the shared
//! cache ends cached lookups on every instance), rotated in one transaction. One audit event
//! per change, however many requests race.

use std::time::Duration;

use orrery_core::plan::LimitKind;
use orrery_core::store::{ApiKey, StoreError};
use uuid::Uuid;

use crate::auth::{API_KEY_PREFIX, key_display_prefix, random_token, secret_hash};
use crate::events::{AuditEvent, record};
use crate::http::error::ApiError;
use crate::services::graphs::{Actor, plan_limit};
use crate::shared::Shared;
use crate::storage::Db;

/// The longest key name, in characters.
pub const NAME_MAX_CHARS: usize = 100;
/// How long a revoked key's marker outlives every cached lookup of it.
const REVOKED_MARKER_TTL: Duration = Duration::from_secs(120);

/// A key with its secret, the only time the secret is seen.
#[derive(Debug)]
pub struct NewKey {
    /// The key.
    pub key: ApiKey,
    /// `ork_…`.
    pub secret: String,
}

/// The API keys service. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Keys {
    store: Db,
    shared: Shared,
}

impl Keys {
    /// The service over its dependencies.
    pub fn new(store: Db, shared: Shared) -> Keys {
        Keys { store, shared }
    }

    /// Makes a key named `name` (1 to [`NAME_MAX_CHARS`] characters, no control characters).
    pub async fn create(&self, actor: Actor, name: &str) -> Result<NewKey, ApiError> {
        let name = name.trim();
        if name.is_empty()
            || name.chars().count() > NAME_MAX_CHARS
            || name.chars().any(char::is_control)
        {
            return Err(ApiError::field(
                "name",
                format!("must be 1 to {NAME_MAX_CHARS} characters without control characters"),
            ));
        }
        let secret = random_token(API_KEY_PREFIX);
        let key = self
            .store
            .create_api_key(
                actor.id,
                name,
                &key_display_prefix(&secret),
                &secret_hash(&secret),
                actor.plan.limits().allowance(LimitKind::ApiKeys),
            )
            .await
            .map_err(|e| match e {
                StoreError::Quota { limit, .. } => {
                    ApiError::PlanLimit(plan_limit(actor.plan, LimitKind::ApiKeys, limit))
                }
                other => other.into(),
            })?;
        record(
            &*self.store,
            Some(actor.id),
            None,
            AuditEvent::KeyCreated {
                key_id: key.id,
                prefix: key.prefix.clone(),
            },
        )
        .await?;
        Ok(NewKey { key, secret })
    }

    /// The actor's keys, newest first, revoked ones included.
    pub async fn list(&self, actor: Actor) -> Result<Vec<ApiKey>, ApiError> {
        Ok(self.store.list_api_keys(actor.id).await?)
    }

    /// Revokes one of the actor's keys: it stops working at once on every instance. Revoking
    /// a revoked key is fine and writes no second event.
    pub async fn revoke(&self, actor: Actor, id: Uuid) -> Result<(), ApiError> {
        let revoked = self.store.revoke_api_key(actor.id, id).await?;
        self.mark_revoked(id).await;
        if revoked {
            record(
                &*self.store,
                Some(actor.id),
                None,
                AuditEvent::KeyRevoked { key_id: id },
            )
            .await?;
        }
        Ok(())
    }

    /// Replaces one of the actor's keys with a new secret; the old one stops working.
    pub async fn rotate(&self, actor: Actor, id: Uuid) -> Result<NewKey, ApiError> {
        let secret = random_token(API_KEY_PREFIX);
        let key = self
            .store
            .rotate_api_key(
                actor.id,
                id,
                &key_display_prefix(&secret),
                &secret_hash(&secret),
            )
            .await?;
        self.mark_revoked(id).await;
        record(
            &*self.store,
            Some(actor.id),
            None,
            AuditEvent::KeyRotated {
                old_key_id: id,
                key_id: key.id,
            },
        )
        .await?;
        Ok(NewKey { key, secret })
    }

    async fn mark_revoked(&self, id: Uuid) {
        self.shared
            .set(&revoked_key_marker(id), vec![1], REVOKED_MARKER_TTL)
            .await;
    }
}

/// The cache key marking a revoked API key.
pub fn revoked_key_marker(id: Uuid) -> String {
    format!("revoked-key:{id}")
}
