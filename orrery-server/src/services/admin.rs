//! Operating the service: finding and changing accounts, creating admins, exporting an
//! account's data, the figures about accounts, revenue and use (cached for 5 minutes), the
//! health of every part of the system, and the mail templates. Every operation is itself
//! written to the monitoring log (`admin.*`, under the admin's account), so an operator's
//! actions read as one history. The routes that call this refuse everyone but admins.

use std::sync::Arc;
use std::time::{Duration, Instant};

use orrery_core::Plan;
use orrery_core::store::{
    EmailStatus, EmailTemplate, GraphFilter, Page, Paged, Role, User, UserFilter, UserPatch,
};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::random_token;
use crate::events::{AccountChanges, AuditEvent, Change, SignInMethod, record};
use crate::http::error::ApiError;
use crate::jobs::error_chain;
use crate::mail::{MailError, Mailer, check_template};
use crate::services::accounts::{AccountError, Accounts, NewAccount};
use crate::services::billing::Billing;
use crate::shared::Shared;
use crate::storage::Db;

/// How long the figures of [`Admin::stats`] are cached.
pub const STATS_TTL: Duration = Duration::from_secs(300);
const STATS_KEY: &str = "admin:stats";
/// How long one health check may take.
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest account search, in characters.
pub const SEARCH_MAX_CHARS: usize = 254;
/// The longest template subject, in characters.
pub const SUBJECT_MAX_CHARS: usize = 500;
/// The longest template body (HTML or text), in characters.
pub const BODY_MAX_CHARS: usize = 100_000;
/// The most variables a template declares.
pub const MAX_TEMPLATE_VARIABLES: usize = 50;

/// Which accounts to list.
#[derive(Clone, Debug, Default)]
pub struct UserSearch {
    /// A substring of email or name (trimmed; blank is none).
    pub search: Option<String>,
    /// Only this plan.
    pub plan: Option<Plan>,
    /// The page.
    pub page: Page,
}

/// An operator's change to an account; `None` leaves a field alone.
#[derive(Clone, Debug, Default)]
pub struct AccountEdit {
    /// The plan paid for (for accounts billed outside Stripe).
    pub plan: Option<Plan>,
    /// The role.
    pub role: Option<Role>,
    /// The trial's end (`Some(None)` ends and removes it).
    pub trial_ends_at: Option<Option<OffsetDateTime>>,
}

/// A new administrator, with the password generated for them (shown once) when none was given.
#[derive(Debug)]
pub struct NewAdmin {
    /// The account.
    pub user: User,
    /// The generated password.
    pub generated_password: Option<String>,
}

/// The admin service. Cheap to clone.
#[derive(Clone)]
pub struct Admin {
    store: Db,
    accounts: Accounts,
    shared: Shared,
    billing: Billing,
    mailer: Arc<dyn Mailer>,
    smtp_configured: bool,
    started: Instant,
}

impl std::fmt::Debug for Admin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admin").finish_non_exhaustive()
    }
}

impl Admin {
    /// The service over its dependencies. `smtp_configured` says whether mail goes to an SMTP
    /// server (else to the log); `started` is when this instance started.
    pub fn new(
        store: Db,
        accounts: Accounts,
        shared: Shared,
        billing: Billing,
        mailer: Arc<dyn Mailer>,
        smtp_configured: bool,
        started: Instant,
    ) -> Admin {
        Admin {
            store,
            accounts,
            shared,
            billing,
            mailer,
            smtp_configured,
            started,
        }
    }

    /// A page of accounts, newest first.
    pub async fn list_users(&self, admin: Uuid, q: UserSearch) -> Result<Paged<User>, ApiError> {
        let search = q
            .search
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty());
        if search
            .as_ref()
            .is_some_and(|s| s.chars().count() > SEARCH_MAX_CHARS)
        {
            return Err(ApiError::field(
                "search",
                format!("must be at most {SEARCH_MAX_CHARS} characters"),
            ));
        }
        let found = self
            .store
            .list_users(&UserFilter {
                search: search.clone(),
                plan: q.plan,
                page: q.page,
                ..UserFilter::default()
            })
            .await?;
        self.audit(AuditEvent::UsersListed {
            admin_id: admin,
            page: q.page.page,
            plan: q.plan,
            search,
        })
        .await?;
        Ok(found)
    }

    /// Changes an account's plan, role or trial; its limits follow at once. An admin cannot
    /// remove their own admin role (so the last admin cannot lock everyone out; another admin
    /// can).
    pub async fn update_user(
        &self,
        admin: Uuid,
        id: Uuid,
        edit: AccountEdit,
    ) -> Result<User, ApiError> {
        if edit.plan.is_none() && edit.role.is_none() && edit.trial_ends_at.is_none() {
            return Err(ApiError::BadRequest(
                "nothing to change: send plan, role or trial_ends_at".into(),
            ));
        }
        if id == admin && edit.role == Some(Role::User) {
            return Err(ApiError::Conflict(
                "an admin cannot remove their own admin role (another admin can)".into(),
            ));
        }
        let before = self.store.user(id).await?;
        let user = self
            .accounts
            .update(
                id,
                UserPatch {
                    plan: edit.plan,
                    role: edit.role,
                    trial_ends_at: edit.trial_ends_at,
                    ..UserPatch::default()
                },
            )
            .await?;
        let changes = AccountChanges {
            plan: edit.plan.map(|to| Change {
                from: before.plan,
                to,
            }),
            role: edit.role.map(|to| Change {
                from: before.role,
                to,
            }),
            trial_ends_at: edit.trial_ends_at.map(|to| Change {
                from: before.trial_ends_at.map(rfc3339),
                to: to.map(rfc3339),
            }),
        };
        self.audit(AuditEvent::UserUpdated {
            admin_id: admin,
            user_id: id,
            changes,
        })
        .await?;
        Ok(user)
    }

    /// Everything one account owns.
    pub async fn export_user(&self, admin: Uuid, id: Uuid) -> Result<Value, ApiError> {
        let data = self.store.export_user(id).await?;
        self.audit(AuditEvent::UserExported {
            admin_id: admin,
            user_id: id,
        })
        .await?;
        Ok(data)
    }

    /// Creates an administrator through the accounts service (the rules of sign-up), with a
    /// generated password when none is given.
    pub async fn create_admin(
        &self,
        admin: Uuid,
        email: String,
        name: String,
        password: Option<SecretString>,
    ) -> Result<NewAdmin, ApiError> {
        let (password, generated_password) = match password {
            Some(p) => (p, None),
            None => {
                let p = random_token("");
                (SecretString::from(p.clone()), Some(p))
            }
        };
        let user = self
            .accounts
            .create(NewAccount {
                email,
                name: Some(name),
                password: Some(password),
                google_sub: None,
                role: Role::Admin,
                method: SignInMethod::Admin,
            })
            .await
            .map_err(|e| match e {
                AccountError::EmailTaken => ApiError::Conflict(
                    "an account with this email already exists; make it an admin with PUT /api/admin/users/{id}".into(),
                ),
                other => other.into(),
            })?;
        self.audit(AuditEvent::AdminCreated {
            admin_id: admin,
            user_id: user.id,
        })
        .await?;
        Ok(NewAdmin {
            user,
            generated_password,
        })
    }

    /// The figures, from the shared 5-minute cache unless `refresh`.
    pub async fn stats(&self, admin: Uuid, refresh: bool) -> Result<Stats, ApiError> {
        self.audit(AuditEvent::StatsViewed {
            admin_id: admin,
            refresh,
        })
        .await?;
        if !refresh
            && let Some(bytes) = self.shared.get(STATS_KEY).await
            && let Ok(mut cached) = serde_json::from_slice::<Stats>(&bytes)
        {
            cached.cached = true;
            return Ok(cached);
        }
        let stats = self.compute_stats(OffsetDateTime::now_utc()).await?;
        if let Ok(bytes) = serde_json::to_vec(&stats) {
            self.shared.set(STATS_KEY, bytes, STATS_TTL).await;
        }
        Ok(stats)
    }

    /// Computes the figures of `/api/admin/stats` at `now`.
    pub async fn compute_stats(&self, now: OffsetDateTime) -> Result<Stats, ApiError> {
        let month_ago = now - time::Duration::days(30);
        let count = |filter: UserFilter| async move {
            self.store
                .list_users(&UserFilter {
                    page: Page { page: 1, limit: 1 },
                    ..filter
                })
                .await
                .map(|p| p.total)
        };
        let total = count(UserFilter::default()).await?;
        let active = count(UserFilter {
            active_since: Some(month_ago),
            ..UserFilter::default()
        })
        .await?;
        let pro = count(UserFilter {
            plan: Some(Plan::Pro),
            ..UserFilter::default()
        })
        .await?;
        let enterprise = count(UserFilter {
            plan: Some(Plan::Enterprise),
            ..UserFilter::default()
        })
        .await?;
        let trials = count(UserFilter {
            plan: Some(Plan::Free),
            trial_ends_between: Some((now, now + time::Duration::days(36_500))),
            ..UserFilter::default()
        })
        .await?;
        // Conversion: of the accounts whose trial has ended, those now paying.
        let trial_ended = (OffsetDateTime::UNIX_EPOCH, now);
        let ended_trials = count(UserFilter {
            trial_ends_between: Some(trial_ended),
            ..UserFilter::default()
        })
        .await?;
        let mut converted = 0;
        for plan in [Plan::Pro, Plan::Enterprise] {
            converted += count(UserFilter {
                plan: Some(plan),
                trial_ends_between: Some(trial_ended),
                ..UserFilter::default()
            })
            .await?;
        }
        let conversion_rate = if ended_trials == 0 {
            0.0
        } else {
            converted as f64 / ended_trials as f64
        };
        let new_accounts = count(UserFilter {
            created_between: Some((month_ago, now + time::Duration::seconds(1))),
            ..UserFilter::default()
        })
        .await?;
        let subscriptions = self.store.active_subscriptions().await?;
        let mrr: u64 = subscriptions
            .iter()
            .map(|s| s.state.plan.monthly_price_cents())
            .sum();
        let existing = total.saturating_sub(new_accounts);
        let growth_rate = if existing == 0 {
            0.0
        } else {
            new_accounts as f64 / existing as f64
        };
        let graphs = self
            .store
            .list_graphs(&GraphFilter {
                page: Page { page: 1, limit: 1 },
                ..GraphFilter::default()
            })
            .await?
            .total;
        let later = now + time::Duration::seconds(1);
        let total_api_calls = self
            .store
            .total_usage(OffsetDateTime::UNIX_EPOCH, later)
            .await?;
        let recent_calls = self.store.total_usage(month_ago, later).await?;
        let sessions = self
            .store
            .session_stats(month_ago, later, time::Duration::minutes(30))
            .await?;
        Ok(Stats {
            users: UserStats {
                total,
                active_last_30_days: active,
                pro_users: pro,
                enterprise_users: enterprise,
                trial_users: trials,
                conversion_rate,
            },
            revenue: RevenueStats {
                mrr,
                arr: mrr * 12,
                growth_rate,
                currency: "usd".into(),
                active_subscriptions: subscriptions.len() as u64,
            },
            usage: UsageStats {
                total_graphs: graphs,
                total_api_calls,
                api_calls_last_30_days: recent_calls,
                avg_session_duration: sessions.average_seconds(),
            },
            generated_at: now,
            cached: false,
        })
    }

    /// Every part of the system, each checked with a timeout.
    pub async fn health(&self, admin: Uuid) -> Result<Health, ApiError> {
        let database = match tokio::time::timeout(CHECK_TIMEOUT, self.store.ping()).await {
            Ok(Ok(())) => check(true, true, self.store.backend().as_str()),
            Ok(Err(e)) => check(false, true, &format!("{e}")),
            Err(_) => check(false, true, "timed out"),
        };
        let redis = if self.shared.is_redis() {
            match tokio::time::timeout(CHECK_TIMEOUT, self.shared.ping()).await {
                Ok(true) => check(true, true, "answers"),
                _ => check(false, true, "does not answer"),
            }
        } else {
            check(
                true,
                false,
                "not configured: limits and caches are in-process",
            )
        };
        let smtp = if self.smtp_configured {
            match tokio::time::timeout(CHECK_TIMEOUT, self.mailer.check()).await {
                Ok(Ok(())) => check(true, true, "answers"),
                Ok(Err(e)) => check(false, true, &error_chain(&e)),
                Err(_) => check(false, true, "timed out"),
            }
        } else {
            check(true, false, "not configured: mails are written to the log")
        };
        let stripe = match self.billing.provider() {
            None => check(true, false, "not configured: billing is off"),
            Some(billing) => match tokio::time::timeout(CHECK_TIMEOUT, billing.ping()).await {
                Ok(Ok(())) => check(true, true, "answers; the configured prices exist"),
                Ok(Err(e)) => check(false, true, &error_chain(&e)),
                Err(_) => check(false, true, "timed out"),
            },
        };
        let store = &self.store;
        let count = |status| async move {
            store
                .list_emails(Some(status), Page { page: 1, limit: 1 })
                .await
                .map(|p| p.total)
        };
        let outbox = OutboxHealth {
            pending: count(EmailStatus::Pending).await?,
            failed: count(EmailStatus::Failed).await?,
            sent: count(EmailStatus::Sent).await?,
        };
        let ok = [&database, &redis, &smtp, &stripe].iter().all(|c| c.ok);
        self.audit(AuditEvent::HealthViewed {
            admin_id: admin,
            ok,
        })
        .await?;
        Ok(Health {
            status: if ok { "ok" } else { "degraded" }.into(),
            version: env!("CARGO_PKG_VERSION").into(),
            uptime_seconds: self.started.elapsed().as_secs(),
            database,
            redis,
            smtp,
            stripe,
            outbox,
        })
    }

    /// Every mail template, by name.
    pub async fn templates(&self, admin: Uuid) -> Result<Vec<EmailTemplate>, ApiError> {
        let templates = self.store.list_templates().await?;
        self.audit(AuditEvent::TemplatesListed { admin_id: admin })
            .await?;
        Ok(templates)
    }

    /// One mail template.
    pub async fn template(&self, admin: Uuid, name: String) -> Result<EmailTemplate, ApiError> {
        let template = self.store.template(&name).await?;
        self.audit(AuditEvent::TemplateViewed {
            admin_id: admin,
            name,
        })
        .await?;
        Ok(template)
    }

    /// Replaces a mail template the server sends (a new name would never be used: 404). A
    /// template that does not parse, or uses a variable it does not declare, is refused naming
    /// the part and the variable.
    pub async fn save_template(
        &self,
        admin: Uuid,
        mut template: EmailTemplate,
        is_active: Option<bool>,
    ) -> Result<EmailTemplate, ApiError> {
        let current = self.store.template(&template.name).await?;
        // Left out, the switch stays where it was: editing the text does not turn a template on.
        template.is_active = is_active.unwrap_or(current.is_active);
        for (field, value, max) in [
            ("subject", &template.subject, SUBJECT_MAX_CHARS),
            ("html", &template.html, BODY_MAX_CHARS),
            ("text", &template.text, BODY_MAX_CHARS),
        ] {
            if value.trim().is_empty() || value.chars().count() > max {
                return Err(ApiError::field(
                    field,
                    format!("must be 1 to {max} characters"),
                ));
            }
        }
        if template.variables.len() > MAX_TEMPLATE_VARIABLES {
            return Err(ApiError::field(
                "variables",
                format!("at most {MAX_TEMPLATE_VARIABLES} variables"),
            ));
        }
        if let Err(MailError::Template { part, message, .. }) = check_template(&template) {
            return Err(ApiError::field(part, message));
        }
        self.store.save_template(&template).await?;
        self.audit(AuditEvent::TemplateUpdated {
            admin_id: admin,
            name: template.name.clone(),
        })
        .await?;
        Ok(template)
    }

    /// Writes an admin action to the monitoring log, under the admin's account.
    async fn audit(&self, event: AuditEvent) -> Result<(), ApiError> {
        let admin = match &event {
            AuditEvent::UsersListed { admin_id, .. }
            | AuditEvent::UserUpdated { admin_id, .. }
            | AuditEvent::UserExported { admin_id, .. }
            | AuditEvent::AdminCreated { admin_id, .. }
            | AuditEvent::StatsViewed { admin_id, .. }
            | AuditEvent::HealthViewed { admin_id, .. }
            | AuditEvent::TemplatesListed { admin_id }
            | AuditEvent::TemplateViewed { admin_id, .. }
            | AuditEvent::TemplateUpdated { admin_id, .. } => Some(*admin_id),
            _ => None,
        };
        record(&*self.store, admin, None, event).await?;
        Ok(())
    }
}

/// Figures about the service, computed from the database and cached for 5 minutes.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Stats {
    /// Accounts.
    pub users: UserStats,
    /// Revenue, in cents of US dollars.
    pub revenue: RevenueStats,
    /// Use of the service.
    pub usage: UsageStats,
    /// When the figures were computed.
    #[serde(with = "time::serde::rfc3339")]
    pub generated_at: OffsetDateTime,
    /// Whether they come from the cache.
    pub cached: bool,
}

/// Account figures.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UserStats {
    /// Every account.
    pub total: u64,
    /// Accounts that signed in or called the API in the last 30 days.
    pub active_last_30_days: u64,
    /// Accounts paying for the pro plan.
    pub pro_users: u64,
    /// Accounts paying for the enterprise plan.
    pub enterprise_users: u64,
    /// Accounts on the free plan with a trial running.
    pub trial_users: u64,
    /// Trials that became paid: of the accounts whose trial has ended, the fraction now on a
    /// paid plan (0 when no trial has ended yet).
    pub conversion_rate: f64,
}

/// Revenue figures, in cents of US dollars at list prices.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RevenueStats {
    /// Monthly recurring revenue: the monthly price of the plan of every subscription that
    /// grants its plan (active, trialing, past due), in cents.
    pub mrr: u64,
    /// Annual run rate: 12 × `mrr`, in cents.
    pub arr: u64,
    /// Growth of the account base over the last 30 days: accounts created in that time
    /// divided by the accounts that existed before it (0 when there were none).
    pub growth_rate: f64,
    /// The currency of `mrr` and `arr` (cents of it).
    pub currency: String,
    /// Subscriptions counted in `mrr`.
    pub active_subscriptions: u64,
}

/// Usage figures.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UsageStats {
    /// Graphs of every account.
    pub total_graphs: u64,
    /// Authenticated API calls ever recorded.
    pub total_api_calls: u64,
    /// API calls in the last 30 days.
    pub api_calls_last_30_days: u64,
    /// Mean length of a session in the last 30 days, in seconds: a session is one account's
    /// run of API calls with no pause over 30 minutes, from its first call to its last.
    pub avg_session_duration: f64,
}

/// One part of the system as the health check found it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Check {
    /// Whether it answers (or is not needed).
    pub ok: bool,
    /// Whether it is configured at all.
    pub configured: bool,
    /// What was found, for people.
    pub detail: String,
}

/// The mail queue.
#[derive(Debug, Serialize, ToSchema)]
pub struct OutboxHealth {
    /// Mails waiting to be sent (or being sent).
    pub pending: u64,
    /// Mails given up on.
    pub failed: u64,
    /// Mails sent.
    pub sent: u64,
}

/// The system's health.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok` when every configured part answers, else `degraded`.
    pub status: String,
    /// The server's version.
    pub version: String,
    /// Seconds since this instance started.
    pub uptime_seconds: u64,
    /// The database (`detail` names the backend).
    pub database: Check,
    /// Redis, when configured.
    pub redis: Check,
    /// The SMTP server, when configured (else mails go to the log).
    pub smtp: Check,
    /// The Stripe API, when configured (its configured prices are fetched).
    pub stripe: Check,
    /// The mail queue.
    pub outbox: OutboxHealth,
}

fn check(ok: bool, configured: bool, detail: &str) -> Check {
    Check {
        ok,
        configured,
        detail: detail.to_owned(),
    }
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::testing::Fixture;

    #[tokio::test]
    async fn an_admin_cannot_demote_themself_but_another_can() {
        let f = Fixture::new();
        let ada = f.user("ada@example.com", Plan::Free, Role::Admin).await;
        let bo = f.user("bo@example.com", Plan::Free, Role::Admin).await;
        let demote = AccountEdit {
            role: Some(Role::User),
            ..AccountEdit::default()
        };
        let own = f.admin.update_user(ada.id, ada.id, demote.clone()).await;
        assert!(matches!(own, Err(ApiError::Conflict(_))), "{own:?}");
        assert_eq!(f.store.user(ada.id).await.unwrap().role, Role::Admin);
        let other = f.admin.update_user(bo.id, ada.id, demote).await.unwrap();
        assert_eq!(other.role, Role::User);
        // The change is in the acting admin's history, with what it was before.
        assert_eq!(f.events(bo.id).await, ["admin.user_updated"]);
        let nothing = f
            .admin
            .update_user(bo.id, ada.id, AccountEdit::default())
            .await;
        assert!(
            matches!(nothing, Err(ApiError::BadRequest(_))),
            "{nothing:?}"
        );
    }

    #[tokio::test]
    async fn searches_are_bounded_and_blank_ones_list_everyone() {
        let f = Fixture::new();
        let admin = f.user("root@example.com", Plan::Free, Role::Admin).await;
        f.user("ada@example.com", Plan::Pro, Role::User).await;
        let all = f
            .admin
            .list_users(
                admin.id,
                UserSearch {
                    search: Some("   ".into()),
                    page: Page { page: 1, limit: 10 },
                    ..UserSearch::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(all.total, 2);
        let pro = f
            .admin
            .list_users(
                admin.id,
                UserSearch {
                    plan: Some(Plan::Pro),
                    page: Page { page: 1, limit: 10 },
                    ..UserSearch::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(pro.items.len(), 1);
        let long = f
            .admin
            .list_users(
                admin.id,
                UserSearch {
                    search: Some("x".repeat(SEARCH_MAX_CHARS + 1)),
                    page: Page { page: 1, limit: 10 },
                    ..UserSearch::default()
                },
            )
            .await;
        assert!(
            matches!(long, Err(ApiError::InvalidField { .. })),
            "{long:?}"
        );
    }

    #[tokio::test]
    async fn stats_are_cached_until_refreshed() {
        let f = Fixture::new();
        let admin = f.user("root@example.com", Plan::Free, Role::Admin).await;
        let first = f.admin.stats(admin.id, false).await.unwrap();
        assert!(!first.cached);
        assert_eq!(first.users.total, 1);
        f.user("ada@example.com", Plan::Pro, Role::User).await;
        let cached = f.admin.stats(admin.id, false).await.unwrap();
        assert!(cached.cached);
        assert_eq!(cached.users.total, 1);
        let fresh = f.admin.stats(admin.id, true).await.unwrap();
        assert_eq!((fresh.users.total, fresh.users.pro_users), (2, 1));
    }

    #[tokio::test]
    async fn conversion_counts_ended_trials_that_pay() {
        let f = Fixture::new();
        let admin = f.user("root@example.com", Plan::Free, Role::Admin).await;
        let ended = OffsetDateTime::now_utc() - time::Duration::days(1);
        let running = OffsetDateTime::now_utc() + time::Duration::days(5);
        for (email, plan, trial) in [
            ("a@example.com", Plan::Pro, ended),
            ("b@example.com", Plan::Free, ended),
            ("c@example.com", Plan::Free, ended),
            ("d@example.com", Plan::Enterprise, ended),
            ("e@example.com", Plan::Free, running),
        ] {
            let user = f.user(email, plan, Role::User).await;
            f.store
                .update_user(
                    user.id,
                    UserPatch {
                        trial_ends_at: Some(Some(trial)),
                        ..UserPatch::default()
                    },
                )
                .await
                .unwrap();
        }
        let stats = f.admin.stats(admin.id, true).await.unwrap();
        assert_eq!(stats.users.conversion_rate, 0.5);
        assert_eq!(stats.users.trial_users, 1);
    }
}
