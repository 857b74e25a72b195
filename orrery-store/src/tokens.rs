//! Refresh tokens (rotating, in families, with reuse detection) and password-reset tokens:
//! [`TokenStore`]. Tokens are stored as SHA-256 hashes only.

use orrery_core::store::{Constraint, Entity, RefreshUse, StoreError, StoreResult, TokenStore};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::Store;
use crate::db::{BeginWrite as _, DbResult, Ts, row, with_writer};
use crate::graphs::missing;

row! {
    struct RefreshRow {
        family: Uuid,
        user_id: Uuid,
        expires_at: Ts,
        used_at: Option<Ts>,
        revoked_at: Option<Ts>,
        family_revoked: bool,
    }
}

#[async_trait::async_trait]
impl TokenStore for Store {
    #[tracing::instrument(skip_all, fields(user_id = %user, family = %family))]
    async fn create_refresh_token(
        &self,
        user: Uuid,
        family: Uuid,
        hash: &[u8; 32],
        expires_at: OffsetDateTime,
    ) -> StoreResult<()> {
        // A family that reuse detection revoked takes no new tokens: the refresh that raced
        // with the reuse fails instead of leaving a live token behind.
        let done = with_writer!(self, |db, pg| {
            sqlx::query(
                "insert into refresh_tokens (token_hash, family, user_id, expires_at, created_at) \
                 select $1, $2, $3, $4, $5 where not exists \
                 (select 1 from refresh_tokens where family = $2 and revoked_at is not null)",
            )
            .bind(&hash[..])
            .bind(family)
            .bind(user)
            .bind(Ts::new(expires_at))
            .bind(Ts::now())
            .execute(db)
            .await
            .db()
            .map_err(missing(Entity::User))?
            .rows_affected()
        });
        if done == 0 {
            return Err(StoreError::Conflict(Constraint::RefreshTokenFamily));
        }
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn use_refresh_token(
        &self,
        hash: &[u8; 32],
        now: OffsetDateTime,
    ) -> StoreResult<RefreshUse> {
        let now = Ts::new(now);
        with_writer!(self, |db, pg| {
            let mut tx = db.begin_write().await.db()?;
            let select = if pg {
                "select family, user_id, expires_at, used_at, revoked_at, exists (select 1 from \
                 refresh_tokens f where f.family = t.family and f.revoked_at is not null) \
                 as family_revoked from refresh_tokens t where token_hash = $1 for update"
            } else {
                "select family, user_id, expires_at, used_at, revoked_at, exists (select 1 from \
                 refresh_tokens f where f.family = t.family and f.revoked_at is not null) \
                 as family_revoked from refresh_tokens t where token_hash = $1"
            };
            let Some(token) = sqlx::query_as::<_, RefreshRow>(select)
                .bind(&hash[..])
                .fetch_optional(&mut *tx)
                .await
                .db()?
            else {
                return Ok(RefreshUse::Invalid);
            };
            if token.revoked_at.is_some() || token.family_revoked {
                return Ok(RefreshUse::Invalid);
            }
            if token.used_at.is_some() {
                // Someone presents a token that was already exchanged: either it was stolen or
                // the thief already used it. Either way, end the whole session.
                sqlx::query(
                    "update refresh_tokens set revoked_at = coalesce(revoked_at, $1) \
                     where family = $2",
                )
                .bind(now)
                .bind(token.family)
                .execute(&mut *tx)
                .await
                .db()?;
                tx.commit().await.db()?;
                tracing::warn!(user_id = %token.user_id, family = %token.family,
                    "refresh token reused: family revoked");
                return Ok(RefreshUse::Reused {
                    user_id: token.user_id,
                });
            }
            if token.expires_at <= now {
                return Ok(RefreshUse::Invalid);
            }
            sqlx::query(
                "update refresh_tokens set used_at = $1 where token_hash = $2 and used_at is null",
            )
            .bind(now)
            .bind(&hash[..])
            .execute(&mut *tx)
            .await
            .db()?;
            tx.commit().await.db()?;
            Ok(RefreshUse::Rotated {
                user_id: token.user_id,
                family: token.family,
            })
        })
    }

    #[tracing::instrument(skip_all, fields(family = %family))]
    async fn revoke_refresh_family(&self, family: Uuid) -> StoreResult<()> {
        with_writer!(self, |db, pg| {
            sqlx::query(
                "update refresh_tokens set revoked_at = coalesce(revoked_at, $1) where family = $2",
            )
            .bind(Ts::now())
            .bind(family)
            .execute(db)
            .await
            .db()?;
        });
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(user_id = %user))]
    async fn revoke_user_refresh_tokens(&self, user: Uuid) -> StoreResult<()> {
        with_writer!(self, |db, pg| {
            sqlx::query(
                "update refresh_tokens set revoked_at = coalesce(revoked_at, $1) \
                 where user_id = $2",
            )
            .bind(Ts::now())
            .bind(user)
            .execute(db)
            .await
            .db()?;
        });
        Ok(())
    }

    #[tracing::instrument(skip_all, fields(user_id = %user))]
    async fn create_reset_token(
        &self,
        user: Uuid,
        hash: &[u8; 32],
        expires_at: OffsetDateTime,
    ) -> StoreResult<()> {
        with_writer!(self, |db, pg| {
            sqlx::query(
                "insert into password_reset_tokens (token_hash, user_id, expires_at, created_at) \
                 values ($1, $2, $3, $4)",
            )
            .bind(&hash[..])
            .bind(user)
            .bind(Ts::new(expires_at))
            .bind(Ts::now())
            .execute(db)
            .await
            .db()
            .map_err(missing(Entity::User))?;
        });
        Ok(())
    }

    #[tracing::instrument(skip_all)]
    async fn consume_reset_token(
        &self,
        hash: &[u8; 32],
        now: OffsetDateTime,
    ) -> StoreResult<Option<Uuid>> {
        let now = Ts::new(now);
        with_writer!(self, |db, pg| {
            let mut tx = db.begin_write().await.db()?;
            // The conditional update is the single use: of two concurrent consumers, one
            // updates the row and the other finds it used.
            let user: Option<Uuid> = sqlx::query_scalar(
                "update password_reset_tokens set used_at = $1 \
                 where token_hash = $2 and used_at is null and expires_at > $1 returning user_id",
            )
            .bind(now)
            .bind(&hash[..])
            .fetch_optional(&mut *tx)
            .await
            .db()?;
            if let Some(user) = user {
                // One reset ends every other outstanding link of the account.
                sqlx::query(
                    "update password_reset_tokens set used_at = $1 \
                     where user_id = $2 and used_at is null",
                )
                .bind(now)
                .bind(user)
                .execute(&mut *tx)
                .await
                .db()?;
            }
            tx.commit().await.db()?;
            Ok(user)
        })
    }
}
