//! The baseline of the API benchmark: a bare axum + sqlx server answering the same graph read
//! and rename queries Orrery's store issues, with no authentication, limits, usage records or
//! document checks. `benches/api/run` starts it beside `orrery serve` on the same database.
//!
//! Run with: cargo run --release -p orrery-benches --bin bare-api -- DATABASE_URL ADDR

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use serde_json::{Value, json};
use uuid::Uuid;

// The `orrery` binary's allocator: the comparison is of the code, not of the allocators.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Clone)]
struct Db(Pool);

enum Pool {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

impl Clone for Pool {
    fn clone(&self) -> Pool {
        match self {
            Pool::Sqlite(p) => Pool::Sqlite(p.clone()),
            Pool::Postgres(p) => Pool::Postgres(p.clone()),
        }
    }
}

const READ: &str = "select name, description, agent_id, is_public, version_count, node_count, graph_data from graphs where id = $1";
const READ_PG: &str = "select name, description, agent_id, is_public, version_count, node_count, graph_data::text from graphs where id = $1";

/// name, description, agent_id, is_public, version_count, node_count, graph_data.
type GraphRow = (
    String,
    Option<String>,
    Option<String>,
    bool,
    i64,
    i64,
    String,
);

async fn read(State(db): State<Db>, Path(id): Path<Uuid>) -> Result<Json<Value>, StatusCode> {
    let row: Option<GraphRow> = match &db.0 {
        Pool::Sqlite(p) => sqlx::query_as(READ).bind(id).fetch_optional(p).await,
        Pool::Postgres(p) => sqlx::query_as(READ_PG).bind(id).fetch_optional(p).await,
    }
    .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    let (name, description, agent_id, is_public, version_count, node_count, data) =
        row.ok_or(StatusCode::NOT_FOUND)?;
    let graph_data: Box<serde_json::value::RawValue> =
        serde_json::value::RawValue::from_string(data)
            .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    Ok(Json(
        json!({"graph": {"id": id, "name": name, "description": description, "agent_id": agent_id, "is_public": is_public,
        "version_count": version_count, "node_count": node_count, "graph_data": graph_data}, "success": true}),
    ))
}

async fn rename(
    State(db): State<Db>,
    Path(id): Path<Uuid>,
    Json(body): Json<Value>,
) -> Result<Json<Value>, StatusCode> {
    let name = body["name"]
        .as_str()
        .ok_or(StatusCode::UNPROCESSABLE_ENTITY)?
        .to_owned();
    let now = time::OffsetDateTime::now_utc();
    let done = match &db.0 {
        Pool::Sqlite(p) => {
            sqlx::query("update graphs set name = $1, updated_at = $2 where id = $3")
                .bind(&name)
                .bind(now.unix_timestamp_nanos() as i64 / 1000)
                .bind(id)
                .execute(p)
                .await
                .map(|r| r.rows_affected())
        }
        Pool::Postgres(p) => {
            sqlx::query("update graphs set name = $1, updated_at = $2 where id = $3")
                .bind(&name)
                .bind(now)
                .bind(id)
                .execute(p)
                .await
                .map(|r| r.rows_affected())
        }
    }
    .map_err(|_| StatusCode::INTERNAL_SERVER_ERROR)?;
    if done == 0 {
        return Err(StatusCode::NOT_FOUND);
    }
    read(State(db), Path(id)).await
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .ok_or_else(|| anyhow::anyhow!("usage: bare-api DATABASE_URL ADDR"))?;
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8090".into());
    let pool = if url.starts_with("sqlite:") {
        let options: sqlx::sqlite::SqliteConnectOptions = url.parse()?;
        let options = options
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
            .busy_timeout(std::time::Duration::from_secs(10));
        Pool::Sqlite(
            sqlx::sqlite::SqlitePoolOptions::new()
                .max_connections(16)
                .connect_with(options)
                .await?,
        )
    } else {
        Pool::Postgres(
            sqlx::postgres::PgPoolOptions::new()
                .max_connections(16)
                .connect(&url)
                .await?,
        )
    };
    let app = axum::Router::new()
        .route("/graphs/{id}", get(read).put(rename))
        .with_state(Db(pool));
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("bare-api listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
