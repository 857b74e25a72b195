//! Everything one account owns, as JSON (for the account's own download and for operators):
//! profile, graphs with every version, API keys, subscription, usage and events, read in one
//! transaction so the parts agree. Secrets stay out: no password hash, Google subject, key
//! hash, token, or mail variables (a reset mail's variables hold a live link).

use orrery_core::store::{Entity, StoreError, StoreResult};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use crate::Store;
use crate::db::{DbResult, JsonText, Ts, row, with_db};
use crate::graphs::digest;
use crate::pack::{self, Stored};
use crate::retention::NO_KEY;

row! {
    struct ProfileRow {
        id: Uuid,
        email: String,
        name: String,
        role: String,
        plan: String,
        trial_ends_at: Option<Ts>,
        billing_customer_id: Option<String>,
        created_at: Ts,
        last_seen_at: Option<Ts>,
        theme: String,
        updated_at: Ts,
        has_password: bool,
        has_google: bool,
    }
}

row! {
    struct GraphExportRow {
        id: Uuid,
        name: String,
        description: Option<String>,
        agent_id: Option<String>,
        is_public: bool,
        head: Vec<u8>,
        created_at: Ts,
        updated_at: Ts,
        graph_data: JsonText,
    }
}

row! {
    struct VersionExportRow {
        graph_id: Uuid,
        seq: i64,
        digest: Vec<u8>,
        parent: Option<Vec<u8>>,
        author_id: Uuid,
        created_at: Ts,
        base_seq: Option<i64>,
        packed: Option<Vec<u8>>,
        document: Option<String>,
    }
}

row! {
    struct KeyExportRow {
        id: Uuid,
        name: String,
        prefix: String,
        created_at: Ts,
        last_used_at: Option<Ts>,
        revoked_at: Option<Ts>,
    }
}

row! {
    struct SubscriptionExportRow {
        subscription_id: String,
        customer_id: String,
        plan: String,
        status: String,
        current_period_end: Option<Ts>,
        cancel_at_period_end: bool,
        observed_at: Ts,
    }
}

row! {
    struct DailyExportRow {
        day: i64,
        api_key_id: Uuid,
        api_calls: i64,
        duration_ms: i64,
        graphs_created: i64,
    }
}

row! {
    struct UsageExportRow {
        api_key_id: Option<Uuid>,
        endpoint: String,
        method: String,
        status: i32,
        at: Ts,
        duration_ms: i64,
    }
}

row! {
    struct EventExportRow {
        id: Uuid,
        graph_id: Option<Uuid>,
        kind: String,
        data: JsonText,
        at: Ts,
    }
}

row! {
    struct MailExportRow {
        id: Uuid,
        recipient: String,
        template: String,
        status: String,
        created_at: Ts,
        sent_at: Option<Ts>,
    }
}

pub(crate) async fn export_user(store: &Store, id: Uuid) -> StoreResult<Value> {
    let (profile, graphs, versions, keys, subscription, usage, daily, events, mails) = with_db!(
        store,
        |db, pg| {
            let mut tx = db.begin().await.db()?;
            if pg {
                // One snapshot for every query below.
                sqlx::query("set transaction isolation level repeatable read, read only")
                    .execute(&mut *tx)
                    .await
                    .db()?;
            }
            let profile = sqlx::query_as::<_, ProfileRow>(
                "select id, email, name, role, plan, trial_ends_at, billing_customer_id, \
                 created_at, last_seen_at, theme, updated_at, \
                 password_hash is not null as has_password, \
                 google_sub is not null as has_google from users where id = $1",
            )
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .db()?
            .ok_or(StoreError::NotFound(Entity::User))?;
            let graphs = sqlx::query_as::<_, GraphExportRow>(
                "select id, name, description, agent_id, is_public, head, created_at, \
                 updated_at, graph_data from graphs where owner_id = $1 order by created_at, id",
            )
            .bind(id)
            .fetch_all(&mut *tx)
            .await
            .db()?;
            let versions = sqlx::query_as::<_, VersionExportRow>(
                "select v.graph_id, v.seq, v.digest, v.parent, v.author_id, v.created_at, \
                 v.base_seq, v.packed, v.document from graph_versions v join graphs g on g.id = v.graph_id \
                 where g.owner_id = $1 order by v.graph_id, v.seq",
            )
            .bind(id)
            .fetch_all(&mut *tx)
            .await
            .db()?;
            let keys = sqlx::query_as::<_, KeyExportRow>(
                "select id, name, prefix, created_at, last_used_at, revoked_at from api_keys \
                 where user_id = $1 order by created_at, id",
            )
            .bind(id)
            .fetch_all(&mut *tx)
            .await
            .db()?;
            let subscription = sqlx::query_as::<_, SubscriptionExportRow>(
                "select subscription_id, customer_id, plan, status, current_period_end, \
                 cancel_at_period_end, observed_at from subscriptions where user_id = $1",
            )
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .db()?;
            let usage = sqlx::query_as::<_, UsageExportRow>(
                "select api_key_id, endpoint, method, status, at, duration_ms from api_key_usage \
                 where user_id = $1 order by at, id",
            )
            .bind(id)
            .fetch_all(&mut *tx)
            .await
            .db()?;
            let daily = sqlx::query_as::<_, DailyExportRow>(
                "select day, api_key_id, api_calls, duration_ms, graphs_created from usage_daily \
                 where user_id = $1 order by day, api_key_id",
            )
            .bind(id)
            .fetch_all(&mut *tx)
            .await
            .db()?;
            let events = sqlx::query_as::<_, EventExportRow>(
                "select id, graph_id, kind, data, at from monitoring_logs where user_id = $1 \
                 order by at, id",
            )
            .bind(id)
            .fetch_all(&mut *tx)
            .await
            .db()?;
            let mails = sqlx::query_as::<_, MailExportRow>(
                "select id, recipient, template, status, created_at, sent_at from email_outbox \
                 where user_id = $1 order by created_at, id",
            )
            .bind(id)
            .fetch_all(&mut *tx)
            .await
            .db()?;
            tx.commit().await.db()?;
            (
                profile,
                graphs,
                versions,
                keys,
                subscription,
                usage,
                daily,
                events,
                mails,
            )
        }
    );

    let mut graphs_json = Vec::with_capacity(graphs.len());
    for graph in graphs {
        let mine: Vec<&VersionExportRow> =
            versions.iter().filter(|v| v.graph_id == graph.id).collect();
        // Versions are packed, older ones as deltas against newer ones (`pack`).
        let stored: Vec<Stored> = mine
            .iter()
            .map(|v| Stored {
                seq: v.seq,
                base_seq: v.base_seq,
                packed: v.packed.clone(),
                document: v.document.clone(),
            })
            .collect();
        let graph_versions = mine
            .iter()
            .map(|v| {
                let text = pack::text_of(&stored, v.seq)?;
                Ok(json!({
                    "number": v.seq,
                    "digest": digest(v.digest.clone())?.to_string(),
                    "parent": v.parent.clone().map(digest).transpose()?.map(|d| d.to_string()),
                    "author_id": v.author_id,
                    "created_at": ts(v.created_at),
                    "document": document(&text)?,
                }))
            })
            .collect::<StoreResult<Vec<Value>>>()?;
        graphs_json.push(json!({
            "id": graph.id,
            "name": graph.name,
            "description": graph.description,
            "agent_id": graph.agent_id,
            "is_public": graph.is_public,
            "head": digest(graph.head)?.to_string(),
            "created_at": ts(graph.created_at),
            "updated_at": ts(graph.updated_at),
            "document": document(&graph.graph_data.0)?,
            "versions": graph_versions,
        }));
    }

    Ok(json!({
        "format": "orrery-account-export",
        "version": 1,
        "exported_at": ts(Ts::now()),
        "user": {
            "id": profile.id,
            "email": profile.email,
            "name": profile.name,
            "role": profile.role,
            "plan": profile.plan,
            "trial_ends_at": profile.trial_ends_at.map(ts),
            "billing_customer_id": profile.billing_customer_id,
            "created_at": ts(profile.created_at),
            "last_seen_at": profile.last_seen_at.map(ts),
            "theme": profile.theme,
            "updated_at": ts(profile.updated_at),
            "signs_in_with_password": profile.has_password,
            "signs_in_with_google": profile.has_google,
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
        "subscription": subscription.map(|s| json!({
            "subscription_id": s.subscription_id,
            "customer_id": s.customer_id,
            "plan": s.plan,
            "status": s.status,
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
        "usage_daily": daily.into_iter().map(|d| json!({
            "day": (OffsetDateTime::UNIX_EPOCH.date() + time::Duration::days(d.day)).to_string(),
            "api_key_id": (d.api_key_id != NO_KEY).then_some(d.api_key_id),
            "api_calls": d.api_calls,
            "duration_ms": d.duration_ms,
            "graphs_created": d.graphs_created,
        })).collect::<Vec<_>>(),
        "events": events.into_iter().map(|e| Ok(json!({
            "id": e.id,
            "graph_id": e.graph_id,
            "kind": e.kind,
            "data": document(&e.data.0)?,
            "at": ts(e.at),
        }))).collect::<StoreResult<Vec<_>>>()?,
        "emails": mails.into_iter().map(|m| json!({
            "id": m.id,
            "to": m.recipient,
            "template": m.template,
            "status": m.status,
            "created_at": ts(m.created_at),
            "sent_at": m.sent_at.map(ts),
        })).collect::<Vec<_>>(),
    }))
}

/// RFC 3339 text of a stored time.
fn ts(at: Ts) -> String {
    OffsetDateTime::from(at)
        .format(&Rfc3339)
        .unwrap_or_default()
}

/// Stored JSON text as a value.
fn document(text: &str) -> StoreResult<Value> {
    serde_json::from_str(text).map_err(|e| crate::db::corrupt("json", e))
}
