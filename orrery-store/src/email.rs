//! Email templates ([`EmailTemplateStore`]) and the outbox ([`EmailOutbox`]).
//!
//! Leasing is one statement on both backends: PostgreSQL picks the due rows with
//! `for update skip locked`, so concurrent leasers take disjoint batches without waiting on
//! each other; SQLite runs the same conditional update under its single writer lock.

use orrery_core::store::{
    EmailOutbox, EmailStatus, EmailTemplate, EmailTemplateStore, Entity, NewEmail, OutboxEmail,
    Page, Paged, StoreError, StoreResult,
};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::Store;
use crate::db::{DbResult, JsonText, Ts, corrupt, count, page_bounds, row, with_db, with_writer};
use crate::graphs::missing;
use crate::limits::{
    self, MAX_EMAIL, MAX_ERROR, MAX_NAME, MAX_SMALL_JSON, MAX_TEMPLATE, MAX_TOKEN,
};

row! {
    struct TemplateRow {
        name: String,
        subject: String,
        html: String,
        text: String,
        variables: JsonText,
        is_active: bool,
    }
}

macro_rules! outbox_columns {
    () => {
        "id, user_id, recipient, template, variables, status, attempts, next_attempt_at, \
         last_error, created_at, sent_at"
    };
}

row! {
    struct OutboxRow {
        id: Uuid,
        user_id: Option<Uuid>,
        recipient: String,
        template: String,
        variables: JsonText,
        status: String,
        attempts: i32,
        next_attempt_at: Ts,
        last_error: Option<String>,
        created_at: Ts,
        sent_at: Option<Ts>,
    }
}

impl TryFrom<TemplateRow> for EmailTemplate {
    type Error = StoreError;

    fn try_from(row: TemplateRow) -> StoreResult<EmailTemplate> {
        Ok(EmailTemplate {
            name: row.name,
            subject: row.subject,
            html: row.html,
            text: row.text,
            variables: serde_json::from_str(&row.variables.0)
                .map_err(|e| corrupt("template variables", e))?,
            is_active: row.is_active,
        })
    }
}

impl TryFrom<OutboxRow> for OutboxEmail {
    type Error = StoreError;

    fn try_from(row: OutboxRow) -> StoreResult<OutboxEmail> {
        Ok(OutboxEmail {
            id: row.id,
            user_id: row.user_id,
            to: row.recipient,
            template: row.template,
            variables: serde_json::from_str(&row.variables.0)
                .map_err(|e| corrupt("mail variables", e))?,
            status: parse_status(&row.status)?,
            attempts: u32::try_from(row.attempts).unwrap_or(0),
            next_attempt_at: row.next_attempt_at.into(),
            last_error: row.last_error,
            created_at: row.created_at.into(),
            sent_at: row.sent_at.map(Into::into),
        })
    }
}

#[async_trait::async_trait]
impl EmailTemplateStore for Store {
    #[tracing::instrument(skip_all, fields(template = name))]
    async fn template(&self, name: &str) -> StoreResult<EmailTemplate> {
        let row = with_db!(self, |db, pg| {
            sqlx::query_as::<_, TemplateRow>(
                "select name, subject, html, text, variables, is_active from email_templates \
                 where name = $1",
            )
            .bind(name)
            .fetch_optional(db)
            .await
            .db()?
        });
        row.ok_or(StoreError::NotFound(Entity::EmailTemplate))?
            .try_into()
    }

    #[tracing::instrument(skip_all)]
    async fn list_templates(&self) -> StoreResult<Vec<EmailTemplate>> {
        let rows = with_db!(self, |db, pg| {
            sqlx::query_as::<_, TemplateRow>(
                "select name, subject, html, text, variables, is_active from email_templates \
                 order by name",
            )
            .fetch_all(db)
            .await
            .db()?
        });
        rows.into_iter().map(TryInto::try_into).collect()
    }

    #[tracing::instrument(skip_all, fields(template = %template.name))]
    async fn save_template(&self, template: &EmailTemplate) -> StoreResult<()> {
        limits::required("template name", &template.name, MAX_NAME)?;
        limits::required("template subject", &template.subject, MAX_TEMPLATE)?;
        limits::optional("template html", &template.html, MAX_TEMPLATE)?;
        limits::optional("template text", &template.text, MAX_TEMPLATE)?;
        for variable in &template.variables {
            limits::required("template variable", variable, MAX_TOKEN)?;
        }
        let variables = serde_json::to_string(&template.variables)
            .map_err(|e| StoreError::Invalid(format!("template variables: {e}")))?;
        with_writer!(self, |db, pg| {
            sqlx::query(
                "insert into email_templates (name, subject, html, text, variables, updated_at, \
                 is_active) values ($1, $2, $3, $4, $5, $6, $7) on conflict (name) do update set \
                 subject = excluded.subject, html = excluded.html, text = excluded.text, \
                 variables = excluded.variables, updated_at = excluded.updated_at, \
                 is_active = excluded.is_active",
            )
            .bind(&template.name)
            .bind(&template.subject)
            .bind(&template.html)
            .bind(&template.text)
            .bind(JsonText(variables))
            .bind(Ts::now())
            .bind(template.is_active)
            .execute(db)
            .await
            .db()?;
        });
        Ok(())
    }
}

#[async_trait::async_trait]
impl EmailOutbox for Store {
    #[tracing::instrument(skip_all, fields(user_id = ?email.user_id, template = %email.template))]
    async fn enqueue_email(
        &self,
        email: NewEmail,
        now: OffsetDateTime,
    ) -> StoreResult<Option<Uuid>> {
        limits::required("recipient", &email.to, MAX_EMAIL)?;
        limits::required("template name", &email.template, MAX_NAME)?;
        if let Some(key) = &email.dedupe_key {
            limits::required("dedupe key", key, MAX_TOKEN)?;
        }
        let variables = email.variables.to_string();
        limits::json("mail variables", &variables, MAX_SMALL_JSON)?;
        let id = Uuid::now_v7();
        let now = Ts::new(now);
        let done = with_writer!(self, |db, pg| {
            sqlx::query(
                "insert into email_outbox (id, user_id, recipient, template, variables, \
                 dedupe_key, status, attempts, next_attempt_at, created_at) \
                 values ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, $7) \
                 on conflict (dedupe_key) do nothing",
            )
            .bind(id)
            .bind(email.user_id)
            .bind(&email.to)
            .bind(&email.template)
            .bind(JsonText(variables))
            .bind(&email.dedupe_key)
            .bind(now)
            .execute(db)
            .await
            .db()
            .map_err(missing(Entity::User))?
            .rows_affected()
        });
        Ok((done == 1).then_some(id))
    }

    #[tracing::instrument(skip_all, fields(owner = %owner, limit = limit))]
    async fn lease_emails(
        &self,
        owner: &str,
        now: OffsetDateTime,
        lease_for: time::Duration,
        limit: u32,
    ) -> StoreResult<Vec<OutboxEmail>> {
        limits::required("lease owner", owner, MAX_TOKEN)?;
        let now = Ts::new(now);
        let until = Ts::new(now.0 + lease_for);
        let limit = i64::from(limit.min(1_000));
        let mut rows = with_writer!(self, |db, pg| {
            let sql = if pg {
                concat!(
                    "update email_outbox set lease_owner = $1, lease_until = $2, \
                     attempts = attempts + 1 where id in (select id from email_outbox \
                     where status = 'pending' and next_attempt_at <= $3 \
                     and (lease_until is null or lease_until <= $3) \
                     order by next_attempt_at, id limit $4 for update skip locked) returning ",
                    outbox_columns!()
                )
            } else {
                concat!(
                    "update email_outbox set lease_owner = $1, lease_until = $2, \
                     attempts = attempts + 1 where id in (select id from email_outbox \
                     where status = 'pending' and next_attempt_at <= $3 \
                     and (lease_until is null or lease_until <= $3) \
                     order by next_attempt_at, id limit $4) returning ",
                    outbox_columns!()
                )
            };
            sqlx::query_as::<_, OutboxRow>(sql)
                .bind(owner)
                .bind(until)
                .bind(now)
                .bind(limit)
                .fetch_all(db)
                .await
                .db()?
        });
        // `returning` has no order; hand mails out oldest due first.
        rows.sort_by_key(|row| (row.next_attempt_at, row.id));
        rows.into_iter().map(TryInto::try_into).collect()
    }

    #[tracing::instrument(skip_all, fields(email_id = %id, owner = %owner))]
    async fn mark_email_sent(&self, id: Uuid, owner: &str, at: OffsetDateTime) -> StoreResult<()> {
        let done = with_writer!(self, |db, pg| {
            sqlx::query(
                "update email_outbox set status = 'sent', sent_at = $1, lease_owner = null, \
                 lease_until = null, last_error = null \
                 where id = $2 and lease_owner = $3 and status = 'pending'",
            )
            .bind(Ts::new(at))
            .bind(id)
            .bind(owner)
            .execute(db)
            .await
            .db()?
            .rows_affected()
        });
        leased(done)
    }

    #[tracing::instrument(skip_all, fields(email_id = %id, owner = %owner))]
    async fn reschedule_email(
        &self,
        id: Uuid,
        owner: &str,
        error: &str,
        retry_at: OffsetDateTime,
    ) -> StoreResult<()> {
        let done = with_writer!(self, |db, pg| {
            sqlx::query(
                "update email_outbox set next_attempt_at = $1, last_error = $2, \
                 lease_owner = null, lease_until = null \
                 where id = $3 and lease_owner = $4 and status = 'pending'",
            )
            .bind(Ts::new(retry_at))
            .bind(limits::truncate(error, MAX_ERROR))
            .bind(id)
            .bind(owner)
            .execute(db)
            .await
            .db()?
            .rows_affected()
        });
        leased(done)
    }

    #[tracing::instrument(skip_all, fields(email_id = %id, owner = %owner))]
    async fn fail_email(&self, id: Uuid, owner: &str, error: &str) -> StoreResult<()> {
        let done = with_writer!(self, |db, pg| {
            sqlx::query(
                "update email_outbox set status = 'failed', last_error = $1, \
                 lease_owner = null, lease_until = null \
                 where id = $2 and lease_owner = $3 and status = 'pending'",
            )
            .bind(limits::truncate(error, MAX_ERROR))
            .bind(id)
            .bind(owner)
            .execute(db)
            .await
            .db()?
            .rows_affected()
        });
        leased(done)
    }

    #[tracing::instrument(skip_all, fields(?status))]
    async fn list_emails(
        &self,
        status: Option<EmailStatus>,
        page: Page,
    ) -> StoreResult<Paged<OutboxEmail>> {
        let (limit, offset) = page_bounds(page);
        let (rows, total) = with_db!(self, |db, pg| {
            let mut rows = sqlx::QueryBuilder::new(concat!(
                "select ",
                outbox_columns!(),
                " from email_outbox where true"
            ));
            let mut total = sqlx::QueryBuilder::new("select count(*) from email_outbox where true");
            if let Some(status) = status {
                rows.push(" and status = ").push_bind(status.as_str());
                total.push(" and status = ").push_bind(status.as_str());
            }
            rows.push(" order by created_at desc, id desc limit ")
                .push_bind(limit)
                .push(" offset ")
                .push_bind(offset);
            let rows = rows
                .build_query_as::<OutboxRow>()
                .fetch_all(db)
                .await
                .db()?;
            let total: i64 = total.build_query_scalar().fetch_one(db).await.db()?;
            (rows, total)
        });
        Ok(Paged {
            items: rows
                .into_iter()
                .map(TryInto::try_into)
                .collect::<StoreResult<_>>()?,
            total: count(total),
        })
    }
}

fn leased(rows_affected: u64) -> StoreResult<()> {
    if rows_affected == 0 {
        return Err(StoreError::NotFound(Entity::LeasedEmail));
    }
    Ok(())
}

fn parse_status(s: &str) -> StoreResult<EmailStatus> {
    match s {
        "pending" => Ok(EmailStatus::Pending),
        "sent" => Ok(EmailStatus::Sent),
        "failed" => Ok(EmailStatus::Failed),
        other => Err(corrupt("mail status", other)),
    }
}
