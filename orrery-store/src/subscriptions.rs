//! Subscriptions and processed webhook events: [`SubscriptionStore`].

use orrery_core::billing::{SubscriptionState, SubscriptionStatus};
use orrery_core::store::{Entity, StoreResult, SubscriptionRecord, SubscriptionStore};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::Store;
use crate::db::{DbResult, Ts, corrupt, row, with_db, with_writer};
use crate::graphs::missing;
use crate::limits::{self, MAX_TOKEN};
use crate::users::parse_plan;

macro_rules! subscription_columns {
    () => {
        "user_id, subscription_id, customer_id, plan, status, current_period_end, \
         cancel_at_period_end, observed_at"
    };
}

row! {
    struct SubscriptionRow {
        user_id: Uuid,
        subscription_id: String,
        customer_id: String,
        plan: String,
        status: String,
        current_period_end: Option<Ts>,
        cancel_at_period_end: bool,
        observed_at: Ts,
    }
}

impl TryFrom<SubscriptionRow> for SubscriptionRecord {
    type Error = orrery_core::store::StoreError;

    fn try_from(row: SubscriptionRow) -> StoreResult<SubscriptionRecord> {
        Ok(SubscriptionRecord {
            user_id: row.user_id,
            state: SubscriptionState {
                subscription_id: row.subscription_id,
                customer_id: row.customer_id,
                plan: parse_plan(&row.plan)?,
                status: row
                    .status
                    .parse::<SubscriptionStatus>()
                    .map_err(|e| corrupt("subscription status", e))?,
                current_period_end: row.current_period_end.map(Into::into),
                cancel_at_period_end: row.cancel_at_period_end,
                observed_at: row.observed_at.into(),
            },
        })
    }
}

#[async_trait::async_trait]
impl SubscriptionStore for Store {
    #[tracing::instrument(skip_all, fields(user_id = %user, subscription_id = %state.subscription_id))]
    async fn apply_subscription(&self, user: Uuid, state: &SubscriptionState) -> StoreResult<bool> {
        limits::required("subscription id", &state.subscription_id, MAX_TOKEN)?;
        limits::required("customer id", &state.customer_id, MAX_TOKEN)?;
        // One statement, so two webhooks racing cannot interleave: the row ends up with the
        // state observed last, whichever arrived last. Equal times apply (a replay is a no-op).
        let done = with_writer!(self, |db, pg| {
            sqlx::query(
                "insert into subscriptions (user_id, subscription_id, customer_id, plan, status, \
                 current_period_end, cancel_at_period_end, observed_at, updated_at) \
                 values ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                 on conflict (user_id) do update set subscription_id = excluded.subscription_id, \
                 customer_id = excluded.customer_id, plan = excluded.plan, \
                 status = excluded.status, current_period_end = excluded.current_period_end, \
                 cancel_at_period_end = excluded.cancel_at_period_end, \
                 observed_at = excluded.observed_at, updated_at = excluded.updated_at \
                 where subscriptions.observed_at <= excluded.observed_at",
            )
            .bind(user)
            .bind(&state.subscription_id)
            .bind(&state.customer_id)
            .bind(state.plan.as_str())
            .bind(state.status.as_str())
            .bind(state.current_period_end.map(Ts::new))
            .bind(state.cancel_at_period_end)
            .bind(Ts::new(state.observed_at))
            .bind(Ts::now())
            .execute(db)
            .await
            .db()
            .map_err(missing(Entity::User))?
            .rows_affected()
        });
        Ok(done > 0)
    }

    #[tracing::instrument(skip_all, fields(user_id = %user))]
    async fn subscription(&self, user: Uuid) -> StoreResult<Option<SubscriptionRecord>> {
        let sql = concat!(
            "select ",
            subscription_columns!(),
            " from subscriptions where user_id = $1"
        );
        let row = with_db!(self, |db, pg| {
            sqlx::query_as::<_, SubscriptionRow>(sql)
                .bind(user)
                .fetch_optional(db)
                .await
                .db()?
        });
        row.map(TryInto::try_into).transpose()
    }

    #[tracing::instrument(skip_all, fields(subscription_id = %subscription_id))]
    async fn subscription_by_provider_id(
        &self,
        subscription_id: &str,
    ) -> StoreResult<Option<SubscriptionRecord>> {
        let sql = concat!(
            "select ",
            subscription_columns!(),
            " from subscriptions where subscription_id = $1"
        );
        let row = with_db!(self, |db, pg| {
            sqlx::query_as::<_, SubscriptionRow>(sql)
                .bind(subscription_id)
                .fetch_optional(db)
                .await
                .db()?
        });
        row.map(TryInto::try_into).transpose()
    }

    #[tracing::instrument(skip_all, fields(customer_id = %customer_id))]
    async fn user_by_customer(&self, customer_id: &str) -> StoreResult<Option<Uuid>> {
        let user = with_db!(self, |db, pg| {
            sqlx::query_scalar(
                "select id from users where billing_customer_id = $1 \
                 union all select user_id from subscriptions where customer_id = $1 limit 1",
            )
            .bind(customer_id)
            .fetch_optional(db)
            .await
            .db()?
        });
        Ok(user)
    }

    #[tracing::instrument(skip_all)]
    async fn active_subscriptions(&self) -> StoreResult<Vec<SubscriptionRecord>> {
        let sql = concat!(
            "select ",
            subscription_columns!(),
            " from subscriptions where status in ('trialing', 'active', 'past_due') \
             order by user_id"
        );
        let rows = with_db!(self, |db, pg| {
            sqlx::query_as::<_, SubscriptionRow>(sql)
                .fetch_all(db)
                .await
                .db()?
        });
        rows.into_iter().map(TryInto::try_into).collect()
    }

    #[tracing::instrument(skip_all, fields(event_id = %event_id, event_type = %event_type))]
    async fn record_webhook_event(
        &self,
        event_id: &str,
        event_type: &str,
        at: OffsetDateTime,
    ) -> StoreResult<bool> {
        limits::required("event id", event_id, MAX_TOKEN)?;
        limits::required("event type", event_type, MAX_TOKEN)?;
        let done = with_writer!(self, |db, pg| {
            sqlx::query(
                "insert into processed_webhook_events (event_id, event_type, processed_at) \
                 values ($1, $2, $3) on conflict (event_id) do nothing",
            )
            .bind(event_id)
            .bind(event_type)
            .bind(Ts::new(at))
            .execute(db)
            .await
            .db()?
            .rows_affected()
        });
        Ok(done == 1)
    }

    #[tracing::instrument(skip_all, fields(event_id = %event_id))]
    async fn forget_webhook_event(&self, event_id: &str) -> StoreResult<()> {
        with_writer!(self, |db, pg| {
            sqlx::query("delete from processed_webhook_events where event_id = $1")
                .bind(event_id)
                .execute(db)
                .await
                .db()?;
        });
        Ok(())
    }
}
