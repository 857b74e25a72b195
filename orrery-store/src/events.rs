//! The monitoring log: [`MonitoringStore`].

use orrery_core::store::{
    Entity, EventFilter, MonitoringEvent, MonitoringStore, NewEvent, Paged, StoreResult,
};
use serde_json::Value;
use uuid::Uuid;

use crate::Store;
use crate::db::{DbResult, JsonText, Ts, corrupt, count, page_bounds, row, with_db, with_writer};
use crate::graphs::missing;
use crate::limits::{self, MAX_SMALL_JSON, MAX_TOKEN};

macro_rules! event_columns {
    () => {
        "id, user_id, graph_id, kind, data, at"
    };
}

row! {
    struct EventRow {
        id: Uuid,
        user_id: Option<Uuid>,
        graph_id: Option<Uuid>,
        kind: String,
        data: JsonText,
        at: Ts,
    }
}

impl TryFrom<EventRow> for MonitoringEvent {
    type Error = orrery_core::store::StoreError;

    fn try_from(row: EventRow) -> StoreResult<MonitoringEvent> {
        Ok(MonitoringEvent {
            id: row.id,
            user_id: row.user_id,
            graph_id: row.graph_id,
            kind: row.kind,
            data: serde_json::from_str(&row.data.0).map_err(|e| corrupt("event data", e))?,
            at: row.at.into(),
        })
    }
}

/// Checks events to be recorded with a change, before its transaction: `(kind, data text)`.
pub(crate) fn checked_events(events: &[NewEvent]) -> StoreResult<Vec<(String, String)>> {
    events
        .iter()
        .map(|event| {
            limits::required("event kind", &event.kind, MAX_TOKEN)?;
            let text = event.data.to_string();
            limits::json("event data", &text, MAX_SMALL_JSON)?;
            Ok((event.kind.clone(), text))
        })
        .collect()
}

/// Records [`checked_events`] inside the transaction `$tx` (a macro: the transaction's type
/// differs per backend).
macro_rules! insert_events {
    ($tx:ident, $user:expr, $graph:expr, $events:expr) => {
        for (kind, text) in $events {
            sqlx::query(
                "insert into monitoring_logs (id, user_id, graph_id, kind, data, at) \
                 values ($1, $2, $3, $4, $5, $6)",
            )
            .bind(uuid::Uuid::now_v7())
            .bind($user)
            .bind($graph)
            .bind(kind)
            .bind($crate::db::JsonText(text.clone()))
            .bind($crate::db::Ts::now())
            .execute(&mut *$tx)
            .await
            .db()?;
        }
    };
}
pub(crate) use insert_events;

#[async_trait::async_trait]
impl MonitoringStore for Store {
    #[tracing::instrument(skip_all, fields(user_id = ?user, graph_id = ?graph, kind = %kind))]
    async fn record_event(
        &self,
        user: Option<Uuid>,
        graph: Option<Uuid>,
        kind: &str,
        data: Value,
    ) -> StoreResult<MonitoringEvent> {
        limits::required("event kind", kind, MAX_TOKEN)?;
        let text = data.to_string();
        limits::json("event data", &text, MAX_SMALL_JSON)?;
        let id = Uuid::now_v7();
        let at = Ts::now();
        with_writer!(self, |db, pg| {
            sqlx::query(
                "insert into monitoring_logs (id, user_id, graph_id, kind, data, at) \
                 values ($1, $2, $3, $4, $5, $6)",
            )
            .bind(id)
            .bind(user)
            .bind(graph)
            .bind(kind)
            .bind(JsonText(text))
            .bind(at)
            .execute(db)
            .await
            .db()
            .map_err(missing(Entity::UserOrGraph))?;
        });
        Ok(MonitoringEvent {
            id,
            user_id: user,
            graph_id: graph,
            kind: kind.to_owned(),
            data,
            at: at.into(),
        })
    }

    #[tracing::instrument(skip_all, fields(user_id = ?filter.user_id, graph_id = ?filter.graph_id))]
    async fn list_events(&self, filter: &EventFilter) -> StoreResult<Paged<MonitoringEvent>> {
        let (limit, offset) = page_bounds(filter.page);
        let (rows, total) = with_db!(self, |db, pg| {
            let mut page = sqlx::QueryBuilder::new(concat!(
                "select ",
                event_columns!(),
                " from monitoring_logs where true"
            ));
            let mut total =
                sqlx::QueryBuilder::new("select count(*) from monitoring_logs where true");
            for qb in [&mut page, &mut total] {
                if let Some(user) = filter.user_id {
                    qb.push(" and user_id = ").push_bind(user);
                }
                if let Some(graph) = filter.graph_id {
                    qb.push(" and graph_id = ").push_bind(graph);
                }
                if let Some(kind) = &filter.kind {
                    qb.push(" and kind = ").push_bind(kind.clone());
                }
            }
            page.push(" order by at desc, id desc limit ")
                .push_bind(limit)
                .push(" offset ")
                .push_bind(offset);
            let rows = page.build_query_as::<EventRow>().fetch_all(db).await.db()?;
            let total: i64 = total.build_query_scalar().fetch_one(db).await.db()?;
            (rows, total)
        });
        Ok(Paged {
            items: rows
                .into_iter()
                .map(MonitoringEvent::try_from)
                .collect::<StoreResult<_>>()?,
            total: count(total),
        })
    }
}
