//! The services over the in-memory store, for unit tests of their rules: no database, no
//! network, milliseconds per test. The API suite checks the same rules through HTTP on SQLite
//! and PostgreSQL.

use std::sync::Arc;
use std::time::Instant;

use orrery_core::Plan;
use orrery_core::store::{EventFilter, NewUser, Page, Role, User};
use orrery_store::{MemoryStore, StoreOptions};
use secrecy::SecretString;

use crate::auth::{AccessTokens, Passwords};
use crate::mail::{MemoryMailer, Outbox};
use crate::metrics::Metrics;
use crate::services::accounts::{AccountRules, Accounts};
use crate::services::admin::Admin;
use crate::services::billing::Billing;
use crate::services::usage::Usage;
use crate::settings::Settings;
use crate::shared::Shared;
use crate::storage::Db;

/// Every service over one fresh in-memory store.
pub struct Fixture {
    pub store: Db,
    pub billing: Billing,
    pub admin: Admin,
    pub usage: Usage,
}

impl Fixture {
    /// A fresh store and the services over it (billing without a provider).
    pub fn new() -> Fixture {
        let settings = Settings::default();
        let store: Db = Arc::new(MemoryStore::new(StoreOptions::default()));
        let shared = Shared::local();
        let outbox = Outbox::new(store.clone(), Arc::new(tokio::sync::Notify::new()));
        let accounts = Accounts::new(
            store.clone(),
            Passwords::new(8, 1).expect("argon2 parameters"),
            AccessTokens::new(
                &SecretString::from("a test secret of enough length".to_owned()),
                time::Duration::minutes(15),
            ),
            shared.clone(),
            outbox.clone(),
            Arc::new(Metrics::default()),
            AccountRules::of(&settings),
        );
        let billing = Billing::new(
            store.clone(),
            accounts.clone(),
            outbox,
            None,
            "https://orrery.example/",
            Vec::new(),
        );
        let admin = Admin::new(
            store.clone(),
            accounts.clone(),
            shared,
            billing.clone(),
            Arc::new(MemoryMailer::default()),
            false,
            Instant::now(),
        );
        Fixture {
            usage: Usage::new(store.clone()),
            store,
            billing,
            admin,
        }
    }

    /// An account on `plan`, made directly in the store.
    pub async fn user(&self, email: &str, plan: Plan, role: Role) -> User {
        self.store
            .create_user(NewUser {
                email: email.to_owned(),
                name: email.to_owned(),
                password_hash: None,
                google_sub: None,
                role,
                plan,
                trial_ends_at: None,
            })
            .await
            .expect("create a user")
    }

    /// The templates of the mails queued so far, oldest first.
    pub async fn mails(&self) -> Vec<String> {
        let page = self
            .store
            .list_emails(
                None,
                Page {
                    page: 1,
                    limit: 100,
                },
            )
            .await
            .expect("list mails");
        page.items.into_iter().rev().map(|m| m.template).collect()
    }

    /// The kinds of the audit events recorded so far for `user`.
    pub async fn events(&self, user: uuid::Uuid) -> Vec<String> {
        let page = self
            .store
            .list_events(&EventFilter {
                user_id: Some(user),
                page: Page {
                    page: 1,
                    limit: 100,
                },
                ..EventFilter::default()
            })
            .await
            .expect("list events");
        page.items.into_iter().rev().map(|e| e.kind).collect()
    }
}
