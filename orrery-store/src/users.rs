//! Accounts: [`UserStore`] (the export lives in `export.rs`).

use orrery_core::Plan;
use orrery_core::store::{
    BillingRecord, Entity, NewUser, Page, Paged, Role, StoreError, StoreResult, Theme, User,
    UserFilter, UserPatch, UserStore,
};
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::Store;
use crate::db::{
    BeginWrite as _, DbResult, Ts, contains_pattern, corrupt, count, page_bounds, row, with_db,
    with_writer,
};
use crate::limits::{self, MAX_EMAIL, MAX_TOKEN, MAX_USER_NAME};

pub(crate) const USER_COLUMNS: &str = "id, email, name, password_hash, google_sub, role, plan, \
    trial_ends_at, billing_customer_id, created_at, last_seen_at, theme, updated_at";

row! {
    struct BillingRecordRow {
        id: Uuid,
        customer_id: String,
        subscription_id: Option<String>,
        plan: String,
        account_created_at: Ts,
        deleted_at: Ts,
    }
}

row! {
    struct UserRow {
        id: Uuid,
        email: String,
        name: String,
        password_hash: Option<String>,
        google_sub: Option<String>,
        role: String,
        plan: String,
        trial_ends_at: Option<Ts>,
        billing_customer_id: Option<String>,
        created_at: Ts,
        last_seen_at: Option<Ts>,
        theme: String,
        updated_at: Ts,
    }
}

impl TryFrom<UserRow> for User {
    type Error = StoreError;

    fn try_from(row: UserRow) -> StoreResult<User> {
        Ok(User {
            id: row.id,
            email: row.email,
            name: row.name,
            password_hash: row.password_hash,
            google_sub: row.google_sub,
            role: parse_role(&row.role)?,
            plan: parse_plan(&row.plan)?,
            trial_ends_at: row.trial_ends_at.map(Into::into),
            billing_customer_id: row.billing_customer_id,
            created_at: row.created_at.into(),
            last_seen_at: row.last_seen_at.map(Into::into),
            theme: Theme::parse(&row.theme)
                .ok_or_else(|| StoreError::Invalid(format!("unknown theme {:?}", row.theme)))?,
            updated_at: row.updated_at.into(),
        })
    }
}

#[async_trait::async_trait]
impl UserStore for Store {
    #[tracing::instrument(skip_all)]
    async fn create_user(&self, user: NewUser) -> StoreResult<User> {
        let email = normalize_email(&user.email)?;
        limits::required("name", &user.name, MAX_USER_NAME)?;
        check_secretish(user.password_hash.as_deref(), user.google_sub.as_deref())?;
        let id = Uuid::now_v7();
        let now = Ts::now();
        let sql = "insert into users (id, email, name, password_hash, google_sub, role, plan, \
            trial_ends_at, created_at, updated_at) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, \
            $9) returning id, email, name, password_hash, google_sub, role, plan, trial_ends_at, \
            billing_customer_id, created_at, last_seen_at, theme, updated_at";
        let row = with_writer!(self, |db, pg| {
            sqlx::query_as::<_, UserRow>(sql)
                .bind(id)
                .bind(&email)
                .bind(&user.name)
                .bind(&user.password_hash)
                .bind(&user.google_sub)
                .bind(user.role.as_str())
                .bind(user.plan.as_str())
                .bind(user.trial_ends_at.map(Ts::new))
                .bind(now)
                .fetch_one(db)
                .await
                .db()?
        });
        row.try_into()
    }

    #[tracing::instrument(skip_all, fields(user_id = %id))]
    async fn user(&self, id: Uuid) -> StoreResult<User> {
        let sql = "select id, email, name, password_hash, google_sub, role, plan, trial_ends_at, \
            billing_customer_id, created_at, last_seen_at, theme, updated_at from users where id = $1";
        let row = with_db!(self, |db, pg| {
            sqlx::query_as::<_, UserRow>(sql)
                .bind(id)
                .fetch_optional(db)
                .await
                .db()?
        });
        row.ok_or(StoreError::NotFound(Entity::User))?.try_into()
    }

    #[tracing::instrument(skip_all)]
    async fn user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
        let email = email.trim().to_lowercase();
        let sql = "select id, email, name, password_hash, google_sub, role, plan, trial_ends_at, \
            billing_customer_id, created_at, last_seen_at, theme, updated_at from users where email = $1";
        let row = with_db!(self, |db, pg| {
            sqlx::query_as::<_, UserRow>(sql)
                .bind(&email)
                .fetch_optional(db)
                .await
                .db()?
        });
        row.map(User::try_from).transpose()
    }

    #[tracing::instrument(skip_all)]
    async fn user_by_google_sub(&self, sub: &str) -> StoreResult<Option<User>> {
        let sql = "select id, email, name, password_hash, google_sub, role, plan, trial_ends_at, \
            billing_customer_id, created_at, last_seen_at, theme, updated_at from users where google_sub = $1";
        let row = with_db!(self, |db, pg| {
            sqlx::query_as::<_, UserRow>(sql)
                .bind(sub)
                .fetch_optional(db)
                .await
                .db()?
        });
        row.map(User::try_from).transpose()
    }

    #[tracing::instrument(skip_all, fields(user_id = %id))]
    async fn update_user(&self, id: Uuid, patch: UserPatch) -> StoreResult<User> {
        if let Some(name) = &patch.name {
            limits::required("name", name, MAX_USER_NAME)?;
        }
        check_secretish(patch.password_hash.as_deref(), patch.google_sub.as_deref())?;
        if let Some(customer) = &patch.billing_customer_id {
            limits::required("billing customer id", customer, MAX_TOKEN)?;
        }
        let row = with_writer!(self, |db, pg| {
            let mut qb = sqlx::QueryBuilder::new("update users set ");
            let mut set = qb.separated(", ");
            // Always one assignment, so an empty patch still checks the row and returns it.
            set.push("id = id");
            if let Some(name) = &patch.name {
                set.push("name = ").push_bind_unseparated(name);
            }
            if let Some(hash) = &patch.password_hash {
                set.push("password_hash = ").push_bind_unseparated(hash);
            }
            if let Some(sub) = &patch.google_sub {
                set.push("google_sub = ").push_bind_unseparated(sub);
            }
            if let Some(role) = patch.role {
                set.push("role = ").push_bind_unseparated(role.as_str());
            }
            if let Some(plan) = patch.plan {
                set.push("plan = ").push_bind_unseparated(plan.as_str());
            }
            if let Some(trial) = patch.trial_ends_at {
                set.push("trial_ends_at = ")
                    .push_bind_unseparated(trial.map(Ts::new));
            }
            if let Some(customer) = &patch.billing_customer_id {
                set.push("billing_customer_id = ")
                    .push_bind_unseparated(customer);
            }
            if let Some(theme) = patch.theme {
                set.push("theme = ").push_bind_unseparated(theme.as_str());
            }
            if patch != UserPatch::default() {
                set.push("updated_at = ").push_bind_unseparated(Ts::now());
            }
            qb.push(" where id = ").push_bind(id);
            qb.push(" returning ").push(USER_COLUMNS);
            qb.build_query_as::<UserRow>()
                .fetch_optional(db)
                .await
                .db()?
        });
        row.ok_or(StoreError::NotFound(Entity::User))?.try_into()
    }

    #[tracing::instrument(skip_all, fields(user_id = %id))]
    async fn touch_user(&self, id: Uuid, at: OffsetDateTime) -> StoreResult<()> {
        let sql = "update users set last_seen_at = $1 where id = $2";
        let done = with_writer!(self, |db, pg| {
            sqlx::query(sql)
                .bind(Ts::new(at))
                .bind(id)
                .execute(db)
                .await
                .db()?
                .rows_affected()
        });
        if done == 0 {
            return Err(StoreError::NotFound(Entity::User));
        }
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn list_users(&self, filter: &UserFilter) -> StoreResult<Paged<User>> {
        let pattern = filter.search.as_deref().map(contains_pattern);
        let (limit, offset) = page_bounds(filter.page);
        let (rows, total) = with_db!(self, |db, pg| {
            let like = if pg { "ilike" } else { "like" };
            let mut page = sqlx::QueryBuilder::new("select ");
            page.push(USER_COLUMNS).push(" from users where true");
            let mut total = sqlx::QueryBuilder::new("select count(*) from users where true");
            for qb in [&mut page, &mut total] {
                if let Some(pattern) = &pattern {
                    qb.push(format!(" and (email {like} "))
                        .push_bind(pattern.clone())
                        .push(format!(" escape '\\' or name {like} "))
                        .push_bind(pattern.clone())
                        .push(" escape '\\')");
                }
                if let Some(plan) = filter.plan {
                    qb.push(" and plan = ").push_bind(plan.as_str());
                }
                if let Some((from, to)) = filter.trial_ends_between {
                    qb.push(" and trial_ends_at >= ")
                        .push_bind(Ts::new(from))
                        .push(" and trial_ends_at < ")
                        .push_bind(Ts::new(to));
                }
                if let Some(since) = filter.active_since {
                    qb.push(" and last_seen_at >= ").push_bind(Ts::new(since));
                }
                if let Some((from, to)) = filter.created_between {
                    qb.push(" and created_at >= ")
                        .push_bind(Ts::new(from))
                        .push(" and created_at < ")
                        .push_bind(Ts::new(to));
                }
            }
            page.push(" order by created_at desc, id desc limit ")
                .push_bind(limit)
                .push(" offset ")
                .push_bind(offset);
            let rows = page.build_query_as::<UserRow>().fetch_all(db).await.db()?;
            let total: i64 = total.build_query_scalar().fetch_one(db).await.db()?;
            (rows, total)
        });
        Ok(Paged {
            items: rows
                .into_iter()
                .map(User::try_from)
                .collect::<StoreResult<_>>()?,
            total: count(total),
        })
    }

    #[tracing::instrument(skip_all, fields(user_id = %id))]
    async fn delete_user(&self, id: Uuid) -> StoreResult<()> {
        let now = Ts::now();
        // Everything the account owns cascades from its row (see the migrations); what
        // accounting needs of a paying account is copied out first, in the same transaction.
        with_writer!(self, |db, pg| {
            let mut tx = db.begin_write().await.db()?;
            sqlx::query(
                "insert into billing_records (id, customer_id, subscription_id, plan, \
                 account_created_at, deleted_at) \
                 select $1, u.billing_customer_id, s.subscription_id, u.plan, u.created_at, $2 \
                 from users u left join subscriptions s on s.user_id = u.id \
                 where u.id = $3 and u.billing_customer_id is not null",
            )
            .bind(Uuid::now_v7())
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await
            .db()?;
            let done = sqlx::query("delete from users where id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await
                .db()?
                .rows_affected();
            if done == 0 {
                return Err(StoreError::NotFound(Entity::User));
            }
            tx.commit().await.db()?;
        });
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(user_id = %user))]
    async fn create_email_change(
        &self,
        user: Uuid,
        new_email: &str,
        hash: &[u8; 32],
        expires_at: OffsetDateTime,
    ) -> StoreResult<()> {
        let new_email = normalize_email(new_email)?;
        with_writer!(self, |db, pg| {
            sqlx::query(
                "insert into email_change_tokens (token_hash, user_id, new_email, expires_at, \
                 created_at) values ($1, $2, $3, $4, $5)",
            )
            .bind(&hash[..])
            .bind(user)
            .bind(&new_email)
            .bind(Ts::new(expires_at))
            .bind(Ts::now())
            .execute(db)
            .await
            .db()
            .map_err(|e| match e {
                StoreError::NotFound(_) => StoreError::NotFound(Entity::User),
                e => e,
            })?;
        });
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn confirm_email_change(
        &self,
        hash: &[u8; 32],
        now: OffsetDateTime,
    ) -> StoreResult<Option<User>> {
        let now = Ts::new(now);
        let row = with_writer!(self, |db, pg| {
            let mut tx = db.begin_write().await.db()?;
            // The conditional update is the single use; a unique violation on the address
            // (another account took it) rolls the whole change back.
            let change: Option<(Uuid, String)> = sqlx::query_as(
                "update email_change_tokens set used_at = $1 \
                 where token_hash = $2 and used_at is null and expires_at > $1 \
                 returning user_id, new_email",
            )
            .bind(now)
            .bind(&hash[..])
            .fetch_optional(&mut *tx)
            .await
            .db()?;
            let Some((user, email)) = change else {
                return Ok(None);
            };
            sqlx::query(
                "update email_change_tokens set used_at = $1 \
                 where user_id = $2 and used_at is null",
            )
            .bind(now)
            .bind(user)
            .execute(&mut *tx)
            .await
            .db()?;
            let row = sqlx::query_as::<_, UserRow>(
                "update users set email = $1, updated_at = $2 where id = $3 returning id, email, \
                 name, password_hash, google_sub, role, plan, trial_ends_at, \
                 billing_customer_id, created_at, last_seen_at, theme, updated_at",
            )
            .bind(&email)
            .bind(now)
            .bind(user)
            .fetch_optional(&mut *tx)
            .await
            .db()?;
            tx.commit().await.db()?;
            row
        });
        row.map(User::try_from).transpose()
    }

    #[tracing::instrument(skip_all)]
    async fn billing_records(&self, page: Page) -> StoreResult<Paged<BillingRecord>> {
        let (limit, offset) = page_bounds(page);
        let (rows, total) = with_db!(self, |db, pg| {
            let rows = sqlx::query_as::<_, BillingRecordRow>(
                "select id, customer_id, subscription_id, plan, account_created_at, deleted_at \
                 from billing_records order by deleted_at desc, id desc limit $1 offset $2",
            )
            .bind(limit)
            .bind(offset)
            .fetch_all(db)
            .await
            .db()?;
            let total: i64 = sqlx::query_scalar("select count(*) from billing_records")
                .fetch_one(db)
                .await
                .db()?;
            (rows, total)
        });
        Ok(Paged {
            items: rows
                .into_iter()
                .map(|r| {
                    Ok(BillingRecord {
                        id: r.id,
                        customer_id: r.customer_id,
                        subscription_id: r.subscription_id,
                        plan: parse_plan(&r.plan)?,
                        account_created_at: r.account_created_at.into(),
                        deleted_at: r.deleted_at.into(),
                    })
                })
                .collect::<StoreResult<_>>()?,
            total: count(total),
        })
    }

    #[tracing::instrument(skip_all, fields(user_id = %id))]
    async fn export_user(&self, id: Uuid) -> StoreResult<Value> {
        crate::export::export_user(self, id).await
    }
}

/// The stored form of an email address: trimmed, lowercased, checked.
pub(crate) fn normalize_email(email: &str) -> StoreResult<String> {
    let email = email.trim().to_lowercase();
    limits::required("email", &email, MAX_EMAIL)?;
    if !email.contains('@') || email.chars().any(char::is_whitespace) {
        return Err(StoreError::Invalid("email is not an address".to_owned()));
    }
    Ok(email)
}

pub(crate) fn check_secretish(
    password_hash: Option<&str>,
    google_sub: Option<&str>,
) -> StoreResult<()> {
    if let Some(hash) = password_hash {
        limits::required("password hash", hash, 1_000)?;
    }
    if let Some(sub) = google_sub {
        limits::required("google subject", sub, MAX_TOKEN)?;
    }
    Ok(())
}

pub(crate) fn parse_role(s: &str) -> StoreResult<Role> {
    match s {
        "user" => Ok(Role::User),
        "admin" => Ok(Role::Admin),
        other => Err(corrupt("role", other)),
    }
}

pub(crate) fn parse_plan(s: &str) -> StoreResult<Plan> {
    s.parse().map_err(|e| corrupt("plan", e))
}
