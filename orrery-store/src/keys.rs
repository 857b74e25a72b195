//! API keys: [`ApiKeyStore`]. Only the key's SHA-256 and a display prefix are stored.

use orrery_core::store::{ApiKey, ApiKeyStore, Entity, StoreError, StoreResult};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::Store;
use crate::db::{BeginWrite as _, DbResult, Ts, count, lock_owner, row, with_db, with_writer};
use crate::graphs::missing;
use crate::limits::{self, MAX_NAME, MAX_TOKEN};

macro_rules! key_columns {
    () => {
        "id, user_id, name, prefix, created_at, last_used_at, revoked_at"
    };
}

row! {
    struct KeyRow {
        id: Uuid,
        user_id: Uuid,
        name: String,
        prefix: String,
        created_at: Ts,
        last_used_at: Option<Ts>,
        revoked_at: Option<Ts>,
    }
}

impl From<KeyRow> for ApiKey {
    fn from(row: KeyRow) -> ApiKey {
        ApiKey {
            id: row.id,
            user_id: row.user_id,
            name: row.name,
            prefix: row.prefix,
            created_at: row.created_at.into(),
            last_used_at: row.last_used_at.map(Into::into),
            revoked_at: row.revoked_at.map(Into::into),
        }
    }
}

const INSERT_KEY: &str = concat!(
    "insert into api_keys (id, user_id, name, prefix, key_hash, created_at) \
     values ($1, $2, $3, $4, $5, $6) returning ",
    key_columns!()
);

#[async_trait::async_trait]
impl ApiKeyStore for Store {
    #[tracing::instrument(skip_all, fields(user_id = %user))]
    async fn create_api_key(
        &self,
        user: Uuid,
        name: &str,
        prefix: &str,
        hash: &[u8; 32],
        max_live: Option<u64>,
    ) -> StoreResult<ApiKey> {
        limits::required("key name", name, MAX_NAME)?;
        limits::required("key prefix", prefix, MAX_TOKEN)?;
        let row = with_writer!(self, |db, pg| {
            let mut tx = db.begin_write().await.db()?;
            if let Some(max) = max_live {
                // Count and insert under the owner's lock (the users row on PostgreSQL,
                // SQLite's write lock), so concurrent creates queue and see each other's keys.
                lock_owner!(tx, pg, user);
                let live: i64 = sqlx::query_scalar(
                    "select count(*) from api_keys where user_id = $1 and revoked_at is null",
                )
                .bind(user)
                .fetch_one(&mut *tx)
                .await
                .db()?;
                if count(live) >= max {
                    return Err(StoreError::Quota {
                        resource: "api keys",
                        limit: max,
                    });
                }
            }
            let row = sqlx::query_as::<_, KeyRow>(INSERT_KEY)
                .bind(Uuid::now_v7())
                .bind(user)
                .bind(name)
                .bind(prefix)
                .bind(&hash[..])
                .bind(Ts::now())
                .fetch_one(&mut *tx)
                .await
                .db()
                .map_err(missing(Entity::User))?;
            tx.commit().await.db()?;
            row
        });
        Ok(row.into())
    }

    #[tracing::instrument(skip_all)]
    async fn api_key_by_hash(&self, hash: &[u8; 32]) -> StoreResult<Option<ApiKey>> {
        let sql = concat!(
            "select ",
            key_columns!(),
            " from api_keys where key_hash = $1 and revoked_at is null"
        );
        let row = with_db!(self, |db, pg| {
            sqlx::query_as::<_, KeyRow>(sql)
                .bind(&hash[..])
                .fetch_optional(db)
                .await
                .db()?
        });
        Ok(row.map(Into::into))
    }

    #[tracing::instrument(skip_all, fields(user_id = %user))]
    async fn list_api_keys(&self, user: Uuid) -> StoreResult<Vec<ApiKey>> {
        let sql = concat!(
            "select ",
            key_columns!(),
            " from api_keys where user_id = $1 order by created_at desc, id desc"
        );
        let rows = with_db!(self, |db, pg| {
            sqlx::query_as::<_, KeyRow>(sql)
                .bind(user)
                .fetch_all(db)
                .await
                .db()?
        });
        Ok(rows.into_iter().map(Into::into).collect())
    }

    #[tracing::instrument(skip_all, fields(user_id = %user))]
    async fn count_api_keys(&self, user: Uuid) -> StoreResult<u64> {
        let n: i64 = with_db!(self, |db, pg| {
            sqlx::query_scalar(
                "select count(*) from api_keys where user_id = $1 and revoked_at is null",
            )
            .bind(user)
            .fetch_one(db)
            .await
            .db()?
        });
        Ok(count(n))
    }

    #[tracing::instrument(skip_all, fields(user_id = %user, key_id = %id))]
    async fn revoke_api_key(&self, user: Uuid, id: Uuid) -> StoreResult<bool> {
        // Only one of several concurrent revocations changes the row, so only it answers
        // `true`; the first revocation time stays. Someone else's key is not found.
        let (revoked, exists) = with_writer!(self, |db, pg| {
            let revoked = sqlx::query(
                "update api_keys set revoked_at = $1 \
                 where id = $2 and user_id = $3 and revoked_at is null",
            )
            .bind(Ts::now())
            .bind(id)
            .bind(user)
            .execute(db)
            .await
            .db()?
            .rows_affected();
            let exists = if revoked == 0 {
                sqlx::query_scalar::<_, i64>(
                    "select count(*) from api_keys where id = $1 and user_id = $2",
                )
                .bind(id)
                .bind(user)
                .fetch_one(db)
                .await
                .db()?
            } else {
                1
            };
            (revoked, exists)
        });
        if exists == 0 {
            return Err(StoreError::NotFound(Entity::ApiKey));
        }
        Ok(revoked > 0)
    }

    #[tracing::instrument(skip_all, fields(user_id = %user, key_id = %id))]
    async fn rotate_api_key(
        &self,
        user: Uuid,
        id: Uuid,
        prefix: &str,
        hash: &[u8; 32],
    ) -> StoreResult<ApiKey> {
        limits::required("key prefix", prefix, MAX_TOKEN)?;
        let now = Ts::now();
        let row = with_writer!(self, |db, pg| {
            let mut tx = db.begin_write().await.db()?;
            // Only a live key rotates: a revoked one may have been revoked because it leaked.
            let name: Option<String> = sqlx::query_scalar(
                "update api_keys set revoked_at = $1 \
                 where id = $2 and user_id = $3 and revoked_at is null returning name",
            )
            .bind(now)
            .bind(id)
            .bind(user)
            .fetch_optional(&mut *tx)
            .await
            .db()?;
            let name = name.ok_or(StoreError::NotFound(Entity::ApiKey))?;
            let row = sqlx::query_as::<_, KeyRow>(INSERT_KEY)
                .bind(Uuid::now_v7())
                .bind(user)
                .bind(&name)
                .bind(prefix)
                .bind(&hash[..])
                .bind(now)
                .fetch_one(&mut *tx)
                .await
                .db()?;
            tx.commit().await.db()?;
            row
        });
        Ok(row.into())
    }

    #[tracing::instrument(skip_all, fields(key_id = %id))]
    async fn touch_api_key(&self, id: Uuid, at: OffsetDateTime) -> StoreResult<()> {
        let done = with_writer!(self, |db, pg| {
            sqlx::query("update api_keys set last_used_at = $1 where id = $2")
                .bind(Ts::new(at))
                .bind(id)
                .execute(db)
                .await
                .db()?
                .rows_affected()
        });
        if done == 0 {
            return Err(StoreError::NotFound(Entity::ApiKey));
        }
        Ok(())
    }
}
