//! The audit events the server writes to the monitoring log: one enum lists every kind, its
//! payload and its wire name, so a kind cannot be misspelt at a call site and a payload cannot
//! drift from what readers of `/api/events` expect.

use orrery_core::Plan;
use orrery_core::billing::SubscriptionStatus;
use orrery_core::store::{MonitoringStore, Role, StoreResult};
use serde::Serialize;
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

/// How someone signed up or in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SignInMethod {
    /// Email and password.
    Password,
    /// A Google ID token.
    Google,
    /// Created by an operator (`orrery admin create-user`, `POST /api/admin/admins`).
    Admin,
}

/// A `{from, to}` pair in a change record.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Change<T> {
    /// Before.
    pub from: T,
    /// After.
    pub to: T,
}

/// What an admin changed on an account.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct AccountChanges {
    /// The plan.
    pub plan: Option<Change<Plan>>,
    /// The role.
    pub role: Option<Change<Role>>,
    /// The trial end, RFC 3339.
    pub trial_ends_at: Option<Change<Option<String>>>,
}

/// Every kind of audit event, with its payload. The wire name (`kind` in `/api/events`) is the
/// `rename` of each variant.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", content = "data")]
pub enum AuditEvent {
    /// An account was created.
    #[serde(rename = "auth.signup")]
    Signup {
        /// How.
        method: SignInMethod,
    },
    /// Someone signed in.
    #[serde(rename = "auth.signin")]
    Signin {
        /// How.
        method: SignInMethod,
    },
    /// Repeated wrong passwords tripped the account's sign-in throttle.
    #[serde(rename = "auth.signin_throttled")]
    SigninThrottled {
        /// Failed attempts in the current run.
        failures: u64,
    },
    /// A used refresh token came back: its family was revoked.
    #[serde(rename = "auth.refresh_reuse")]
    RefreshReuse {},
    /// A session ended.
    #[serde(rename = "auth.signout")]
    Signout {},
    /// A password-reset mail was requested.
    #[serde(rename = "auth.password_reset_requested")]
    PasswordResetRequested {},
    /// The password was reset through a reset mail.
    #[serde(rename = "auth.password_reset")]
    PasswordReset {},
    /// The account's owner changed its password (with the current one).
    #[serde(rename = "auth.password_changed")]
    PasswordChanged {},
    /// The owner asked to change the account's email (the link went to the new address).
    #[serde(rename = "account.email_change_requested")]
    EmailChangeRequested {},
    /// The owner linked a Google account to the account.
    #[serde(rename = "account.google_linked")]
    GoogleLinked {},
    /// The account's email changed (the link was followed).
    #[serde(rename = "account.email_changed")]
    EmailChanged {},
    /// The owner deleted the account. Recorded without an account (it is gone): the plan it
    /// had, whether a paid subscription was cancelled.
    #[serde(rename = "account.deleted")]
    AccountDeleted {
        /// The plan the account had.
        plan: orrery_core::Plan,
        /// Whether a subscription was cancelled with it.
        subscription_cancelled: bool,
    },
    /// A graph was created.
    #[serde(rename = "graph.created")]
    GraphCreated {
        /// Its first version.
        version: String,
        /// Its node count.
        nodes: usize,
    },
    /// A graph changed.
    #[serde(rename = "graph.updated")]
    GraphUpdated {
        /// Its current version.
        version: String,
        /// Whether the document changed (a new version).
        new_version: bool,
    },
    /// A graph was deleted.
    #[serde(rename = "graph.deleted")]
    GraphDeleted {
        /// Its id.
        graph_id: Uuid,
    },
    /// A graph was cloned from another.
    #[serde(rename = "graph.cloned")]
    GraphCloned {
        /// The graph it was cloned from.
        from: Uuid,
    },
    /// A graph was published as a custom agent, or its interface changed.
    #[serde(rename = "agent.published")]
    AgentPublished {
        /// The agent id.
        agent_id: String,
    },
    /// An API key was created.
    #[serde(rename = "key.created")]
    KeyCreated {
        /// Its id.
        key_id: Uuid,
        /// Its display prefix.
        prefix: String,
    },
    /// An API key was revoked.
    #[serde(rename = "key.revoked")]
    KeyRevoked {
        /// Its id.
        key_id: Uuid,
    },
    /// An API key was replaced by a new one.
    #[serde(rename = "key.rotated")]
    KeyRotated {
        /// The revoked key.
        old_key_id: Uuid,
        /// The new key.
        key_id: Uuid,
    },
    /// A Checkout session was opened.
    #[serde(rename = "billing.checkout_started")]
    CheckoutStarted {
        /// The plan chosen.
        plan: Plan,
    },
    /// An invoice was paid.
    #[serde(rename = "billing.invoice_paid")]
    InvoicePaid {
        /// Cents.
        amount_paid: i64,
        /// The subscription, if any.
        subscription_id: Option<String>,
    },
    /// A payment failed.
    #[serde(rename = "billing.payment_failed")]
    PaymentFailed {
        /// The subscription, if any.
        subscription_id: Option<String>,
    },
    /// The account moved to another plan because of its subscription.
    #[serde(rename = "billing.plan_changed")]
    PlanChanged {
        /// The plan before.
        from: Plan,
        /// The plan after.
        to: Plan,
        /// The subscription.
        subscription_id: String,
        /// Its status.
        status: SubscriptionStatus,
    },
    /// The subscription will end at the end of its period.
    #[serde(rename = "billing.cancel_scheduled")]
    CancelScheduled {
        /// The subscription.
        subscription_id: String,
        /// When it ends.
        #[serde(with = "time::serde::rfc3339::option")]
        ends_at: Option<OffsetDateTime>,
    },
    /// An admin listed accounts.
    #[serde(rename = "admin.users_listed")]
    UsersListed {
        /// The admin.
        admin_id: Uuid,
        /// The page.
        page: u32,
        /// The plan filter.
        plan: Option<Plan>,
        /// The search text.
        search: Option<String>,
    },
    /// An admin changed an account.
    #[serde(rename = "admin.user_updated")]
    UserUpdated {
        /// The admin.
        admin_id: Uuid,
        /// The account.
        user_id: Uuid,
        /// What changed.
        #[serde(flatten)]
        changes: AccountChanges,
    },
    /// An admin exported an account's data.
    #[serde(rename = "admin.user_exported")]
    UserExported {
        /// The admin.
        admin_id: Uuid,
        /// The account.
        user_id: Uuid,
    },
    /// An admin created another admin.
    #[serde(rename = "admin.admin_created")]
    AdminCreated {
        /// The admin who did it.
        admin_id: Uuid,
        /// The new admin.
        user_id: Uuid,
    },
    /// An admin looked at the figures.
    #[serde(rename = "admin.stats_viewed")]
    StatsViewed {
        /// The admin.
        admin_id: Uuid,
        /// Whether the cached figures were recomputed.
        refresh: bool,
    },
    /// An admin looked at system health.
    #[serde(rename = "admin.health_viewed")]
    HealthViewed {
        /// The admin.
        admin_id: Uuid,
        /// Whether everything was healthy.
        ok: bool,
    },
    /// An admin listed the mail templates.
    #[serde(rename = "admin.templates_listed")]
    TemplatesListed {
        /// The admin.
        admin_id: Uuid,
    },
    /// An admin read a mail template.
    #[serde(rename = "admin.template_viewed")]
    TemplateViewed {
        /// The admin.
        admin_id: Uuid,
        /// The template.
        name: String,
    },
    /// An admin changed a mail template.
    #[serde(rename = "admin.template_updated")]
    TemplateUpdated {
        /// The admin.
        admin_id: Uuid,
        /// The template.
        name: String,
    },
}

impl AuditEvent {
    /// The event for a store call that records it in its own transaction
    /// ([`orrery_core::store::GraphUpdate::events`]).
    pub fn into_new_event(self) -> orrery_core::store::NewEvent {
        let (kind, data) = self.into_parts();
        orrery_core::store::NewEvent { kind, data }
    }

    /// The wire name and the payload.
    pub fn into_parts(self) -> (String, Value) {
        match serde_json::to_value(self) {
            Ok(Value::Object(mut map)) => {
                let kind = match map.remove("kind") {
                    Some(Value::String(kind)) => kind,
                    _ => String::new(),
                };
                let data = map
                    .remove("data")
                    .unwrap_or_else(|| Value::Object(Default::default()));
                (kind, data)
            }
            // Every variant is a struct: serialization gives an object with a kind.
            _ => unreachable!("an audit event serializes to an object"),
        }
    }

    /// The wire name.
    pub fn kind(&self) -> String {
        self.clone().into_parts().0
    }
}

/// Writes `event` to the monitoring log, about `user` (and `graph`).
pub async fn record(
    store: &dyn MonitoringStore,
    user: Option<Uuid>,
    graph: Option<Uuid>,
    event: AuditEvent,
) -> StoreResult<()> {
    let (kind, data) = event.into_parts();
    store.record_event(user, graph, &kind, data).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn events_have_their_wire_names_and_payloads() {
        assert_eq!(
            AuditEvent::Signup {
                method: SignInMethod::Password
            }
            .into_parts(),
            ("auth.signup".to_owned(), json!({"method": "password"}))
        );
        assert_eq!(
            AuditEvent::Signout {}.into_parts(),
            ("auth.signout".to_owned(), json!({}))
        );
        let id = Uuid::nil();
        let (kind, data) = AuditEvent::UserUpdated {
            admin_id: id,
            user_id: id,
            changes: AccountChanges {
                plan: Some(Change {
                    from: Plan::Free,
                    to: Plan::Pro,
                }),
                ..AccountChanges::default()
            },
        }
        .into_parts();
        assert_eq!(kind, "admin.user_updated");
        assert_eq!(data["plan"], json!({"from": "free", "to": "pro"}));
        assert_eq!(data["role"], Value::Null);
    }
}
