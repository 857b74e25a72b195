//! Credentials: Argon2id password hashes, JWT access tokens, opaque secrets (refresh tokens,
//! reset tokens, API keys) stored only as SHA-256 hashes, and Google ID-token verification
//! against the provider's published keys.

use std::sync::Arc;
use std::time::Duration;

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine;
use jsonwebtoken::{DecodingKey, EncodingKey, Header, Validation, jwk::JwkSet};
use orrery_core::store::{Role, User};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::Digest as _;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::http::error::ApiError;

/// Prefix of API keys: `ork_…`.
pub const API_KEY_PREFIX: &str = "ork_";
/// Prefix of refresh tokens: `ort_…`.
pub const REFRESH_PREFIX: &str = "ort_";
/// Prefix of password-reset tokens: `orp_…`.
pub const RESET_PREFIX: &str = "orp_";
/// Prefix of email-change tokens: `ore_…`.
pub const EMAIL_CHANGE_PREFIX: &str = "ore_";

/// Hashes and checks passwords with Argon2id, at most one per core at a time: each hash holds
/// `memory_kib` of memory, so unbounded parallel sign-ins would exhaust memory. Callers beyond
/// that wait in a bounded queue; when the queue is full the request is refused at once with
/// [`ApiError::Overloaded`] (503 with `Retry-After`) instead of piling up.
#[derive(Clone)]
pub struct Passwords {
    params: Params,
    /// A hash of a random password, checked when an account does not exist so that a sign-in
    /// takes as long for unknown emails as for known ones.
    dummy: Arc<String>,
    /// One permit per hash running now.
    running: Arc<tokio::sync::Semaphore>,
    /// Hashes running or waiting, bounded by `max_queued`.
    queued: Arc<std::sync::atomic::AtomicUsize>,
    max_queued: usize,
}

/// A place in the hashing queue; leaving it (drop) frees the place.
struct QueuePlace(Arc<std::sync::atomic::AtomicUsize>);

impl Drop for QueuePlace {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

impl std::fmt::Debug for Passwords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Passwords").finish_non_exhaustive()
    }
}

impl Passwords {
    /// Argon2id with `memory_kib` of memory and `iterations` passes; as many hashes at once as
    /// the machine has cores, and up to 16 waiting per core.
    pub fn new(memory_kib: u32, iterations: u32) -> anyhow::Result<Passwords> {
        Passwords::with_capacity(memory_kib, iterations, 0, 0)
    }

    /// The hashing of `settings` (costs and capacity).
    pub fn of(settings: &crate::settings::Settings) -> anyhow::Result<Passwords> {
        Passwords::with_capacity(
            settings.argon2_memory_kib,
            settings.argon2_iterations,
            settings.password_hashes_in_flight,
            settings.password_hash_queue,
        )
    }

    /// Like [`Passwords::new`] with `parallel` hashes at once (0: one per core) and at most
    /// `max_queued` running or waiting (0: 16 per hash at once).
    pub fn with_capacity(
        memory_kib: u32,
        iterations: u32,
        parallel: usize,
        max_queued: usize,
    ) -> anyhow::Result<Passwords> {
        let params = Params::new(memory_kib, iterations, 1, None)
            .map_err(|e| anyhow::anyhow!("argon2 parameters: {e}"))?;
        let dummy = hash_with(&params, &random_token(""))?;
        let parallel = match parallel {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let max_queued = match max_queued {
            0 => parallel * 16,
            n => n,
        };
        Ok(Passwords {
            params,
            dummy: Arc::new(dummy),
            running: Arc::new(tokio::sync::Semaphore::new(parallel)),
            queued: Arc::new(std::sync::atomic::AtomicUsize::new(0)),
            max_queued: max_queued.max(parallel),
        })
    }

    /// The PHC string of `password`, computed off the async threads.
    pub async fn hash(&self, password: &SecretString) -> Result<String, ApiError> {
        let params = self.params.clone();
        let password = SecretString::from(password.expose_secret());
        self.run(move || hash_with(&params, password.expose_secret()))
            .await?
            .map_err(ApiError::internal)
    }

    /// Whether `password` matches `hash`; with no hash, a dummy check of the same cost that
    /// always fails. `Err` only when the server is too busy to check.
    pub async fn verify(
        &self,
        password: &SecretString,
        hash: Option<&str>,
    ) -> Result<bool, ApiError> {
        let (hash, real) = match hash {
            Some(h) => (h.to_owned(), true),
            None => (self.dummy.as_str().to_owned(), false),
        };
        let password = SecretString::from(password.expose_secret());
        let ok = self
            .run(move || {
                // The parameters come from the PHC string, so old hashes keep verifying.
                PasswordVerifier::<str>::verify_password(
                    &Argon2::default(),
                    password.expose_secret().as_bytes(),
                    &hash,
                )
                .is_ok()
            })
            .await?;
        Ok(ok && real)
    }

    /// Runs `work` on a blocking thread once a permit is free; refuses at once when the queue
    /// is full.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        use std::sync::atomic::Ordering;
        if self.queued.fetch_add(1, Ordering::AcqRel) >= self.max_queued {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            return Err(ApiError::Overloaded { retry_after: 1 });
        }
        let place = QueuePlace(self.queued.clone());
        let permit = self
            .running
            .clone()
            .acquire_owned()
            .await
            .map_err(ApiError::internal)?;
        tokio::task::spawn_blocking(move || {
            let out = work();
            drop((permit, place));
            out
        })
        .await
        .map_err(ApiError::internal)
    }
}

fn hash_with(params: &Params, password: &str) -> anyhow::Result<String> {
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    Ok(argon
        .hash_password_with_salt(password.as_bytes(), &random_bytes::<16>())
        .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))?
        .to_string())
}

/// The claims of an access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: Uuid,
    /// `user` or `admin`.
    pub role: Role,
    /// Issued at (seconds since the epoch).
    pub iat: i64,
    /// Expires at (seconds since the epoch).
    pub exp: i64,
    /// Always `orrery`.
    pub iss: String,
    /// Always `access`, so that no other token we might sign passes as one.
    pub typ: String,
    /// The token's own id, by which signing out revokes it before it expires (empty in tokens
    /// issued before ids existed).
    #[serde(default)]
    pub jti: String,
    /// Issued at, in milliseconds: a password change ends the tokens issued before it, and
    /// seconds cannot tell those from the new session's (0 in older tokens: `iat` counts).
    #[serde(default)]
    pub iat_ms: i64,
    /// When the holder proved who they are (signed in, signed up, changed the password), in
    /// milliseconds; 0 in a token issued by a refresh. Deleting an account without a password
    /// asks for a recent one.
    #[serde(default)]
    pub auth_ms: i64,
}

impl Claims {
    /// When the holder signed in, if this token was issued by that sign-in (not a refresh).
    pub fn signed_in_ms(&self) -> Option<i64> {
        (self.auth_ms > 0).then_some(self.auth_ms)
    }

    /// When the token was issued, in milliseconds since the epoch.
    pub fn issued_ms(&self) -> i64 {
        if self.iat_ms > 0 {
            self.iat_ms
        } else {
            self.iat.saturating_mul(1000)
        }
    }
}

/// Issues and checks access tokens (HS256 JWTs).
#[derive(Clone)]
pub struct AccessTokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: time::Duration,
}

impl std::fmt::Debug for AccessTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessTokens")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl AccessTokens {
    /// Tokens signed with `secret`, valid for `ttl`.
    pub fn new(secret: &SecretString, ttl: time::Duration) -> AccessTokens {
        let bytes = secret.expose_secret().as_bytes();
        // Only HS256 is accepted: a token claiming `none`, RS256 or anything else fails.
        let mut validation = Validation::new(jsonwebtoken::Algorithm::HS256);
        validation.set_issuer(&["orrery"]);
        validation.set_required_spec_claims(&["exp", "iss", "sub"]);
        validation.leeway = 5;
        // A token is not valid before its `nbf`, when it has one.
        validation.validate_nbf = true;
        AccessTokens {
            encoding: EncodingKey::from_secret(bytes),
            decoding: DecodingKey::from_secret(bytes),
            validation,
            ttl,
        }
    }

    /// How long a token lives, in seconds.
    pub fn ttl_secs(&self) -> i64 {
        self.ttl.whole_seconds()
    }

    /// A fresh access token for `user`.
    pub fn issue(&self, user: &User) -> Result<String, ApiError> {
        self.issue_with(user, false)
    }

    /// An access token for `user` who has just proved who they are (see [`Claims::auth_ms`]).
    pub fn issue_signed_in(&self, user: &User) -> Result<String, ApiError> {
        self.issue_with(user, true)
    }

    fn issue_with(&self, user: &User, signed_in: bool) -> Result<String, ApiError> {
        let issued = OffsetDateTime::now_utc();
        let issued_ms = (issued.unix_timestamp_nanos() / 1_000_000) as i64;
        let now = issued.unix_timestamp();
        let claims = Claims {
            sub: user.id,
            role: user.role,
            iat: now,
            exp: now + self.ttl.whole_seconds(),
            iss: "orrery".into(),
            typ: "access".into(),
            jti: random_token(""),
            iat_ms: issued_ms,
            auth_ms: if signed_in { issued_ms } else { 0 },
        };
        jsonwebtoken::encode(
            &Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &self.encoding,
        )
        .map_err(ApiError::internal)
    }

    /// The claims of a valid, unexpired access token.
    pub fn verify(&self, token: &str) -> Result<Claims, ApiError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|_| ApiError::Unauthorized("the access token is invalid or has expired"))?;
        if data.claims.typ != "access" {
            return Err(ApiError::Unauthorized(
                "the access token is invalid or has expired",
            ));
        }
        Ok(data.claims)
    }
}

/// A new random secret with `prefix`: 32 random bytes, base64url.
pub fn random_token(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<32>())
    )
}

/// SHA-256 of a secret: how refresh tokens, reset tokens and API keys are stored. They are long
/// random strings, so a fast hash is enough (unlike passwords).
pub fn secret_hash(secret: &str) -> [u8; 32] {
    sha2::Sha256::digest(secret.as_bytes()).into()
}

/// The part of an API key shown in lists: the prefix and the next 8 characters.
pub fn key_display_prefix(key: &str) -> String {
    key.chars().take(API_KEY_PREFIX.len() + 8).collect()
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    rand::fill(&mut bytes);
    bytes
}

/// What a verified Google ID token says about the person.
#[derive(Debug, Clone, Deserialize)]
pub struct GoogleIdentity {
    /// Google's stable user id.
    pub sub: String,
    /// Their email.
    pub email: String,
    /// Whether Google verified the email.
    #[serde(default)]
    pub email_verified: bool,
    /// Their name.
    #[serde(default)]
    pub name: Option<String>,
}

/// Verifies Google ID tokens: RS256 signature against the provider's JWKS (cached, refetched
/// when a key id is unknown), issuer, audience and expiry.
#[derive(Clone)]
pub struct GoogleVerifier {
    client_id: String,
    issuers: Vec<String>,
    jwks_url: String,
    http: reqwest::Client,
    keys: moka::future::Cache<(), Arc<JwkSet>>,
}

impl std::fmt::Debug for GoogleVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GoogleVerifier")
            .field("jwks_url", &self.jwks_url)
            .finish_non_exhaustive()
    }
}

impl GoogleVerifier {
    /// A verifier for tokens issued to `client_id` by `issuer`, with keys at `jwks_url`.
    pub fn new(client_id: &str, issuer: &str, jwks_url: &str) -> anyhow::Result<GoogleVerifier> {
        let mut issuers = vec![issuer.to_owned()];
        // Google issues tokens under both spellings of its issuer.
        if issuer == "https://accounts.google.com" {
            issuers.push("accounts.google.com".into());
        }
        Ok(GoogleVerifier {
            client_id: client_id.to_owned(),
            issuers,
            jwks_url: jwks_url.to_owned(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()?,
            keys: moka::future::Cache::builder()
                .time_to_live(Duration::from_secs(3600))
                .build(),
        })
    }

    /// The identity in a valid ID token.
    pub async fn verify(&self, id_token: &str) -> Result<GoogleIdentity, ApiError> {
        let invalid = || ApiError::Unauthorized("the Google ID token is invalid");
        let header = jsonwebtoken::decode_header(id_token).map_err(|_| invalid())?;
        if header.alg != jsonwebtoken::Algorithm::RS256 {
            return Err(invalid());
        }
        let kid = header.kid.ok_or_else(invalid)?;
        let mut keys = self.jwks(false).await?;
        if keys.find(&kid).is_none() {
            // Keys rotate: fetch again once before giving up.
            keys = self.jwks(true).await?;
        }
        let jwk = keys.find(&kid).ok_or_else(invalid)?;
        let key = DecodingKey::from_jwk(jwk).map_err(|_| invalid())?;
        let mut validation = Validation::new(jsonwebtoken::Algorithm::RS256);
        validation.set_audience(&[&self.client_id]);
        validation.set_issuer(&self.issuers);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let data = jsonwebtoken::decode::<GoogleIdentity>(id_token, &key, &validation)
            .map_err(|_| invalid())?;
        Ok(data.claims)
    }

    async fn jwks(&self, refresh: bool) -> Result<Arc<JwkSet>, ApiError> {
        if refresh {
            self.keys.invalidate(&()).await;
        }
        let http = self.http.clone();
        let url = self.jwks_url.clone();
        self.keys
            .try_get_with((), async move {
                let set: JwkSet = http
                    .get(&url)
                    .send()
                    .await?
                    .error_for_status()?
                    .json()
                    .await?;
                Ok::<_, reqwest::Error>(Arc::new(set))
            })
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "fetching Google's signing keys failed");
                ApiError::Unavailable("Google sign-in is unavailable right now".into())
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> User {
        User {
            id: Uuid::nil(),
            email: "a@example.com".into(),
            name: "A".into(),
            password_hash: None,
            google_sub: None,
            role: Role::User,
            plan: orrery_core::Plan::Free,
            trial_ends_at: None,
            billing_customer_id: None,
            created_at: OffsetDateTime::UNIX_EPOCH,
            last_seen_at: None,
            theme: Default::default(),
            updated_at: time::OffsetDateTime::UNIX_EPOCH,
        }
    }

    #[tokio::test]
    async fn passwords_verify_and_unknown_accounts_never_do() {
        let p = Passwords::new(64, 1).unwrap();
        let secret = SecretString::from("correct horse battery staple");
        let hash = p.hash(&secret).await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(p.verify(&secret, Some(&hash)).await.unwrap());
        assert!(
            !p.verify(&SecretString::from("wrong"), Some(&hash))
                .await
                .unwrap()
        );
        assert!(!p.verify(&secret, None).await.unwrap());
        assert!(!p.verify(&secret, Some("not a hash")).await.unwrap());
    }

    #[test]
    fn access_tokens_round_trip_and_refuse_tampering() {
        let tokens = AccessTokens::new(
            &SecretString::from("s".repeat(32)),
            time::Duration::minutes(15),
        );
        let token = tokens.issue(&user()).unwrap();
        assert_eq!(tokens.verify(&token).unwrap().sub, Uuid::nil());
        let other = AccessTokens::new(
            &SecretString::from("t".repeat(32)),
            time::Duration::minutes(15),
        );
        assert!(other.verify(&token).is_err(), "another secret");
        let expired = AccessTokens::new(
            &SecretString::from("s".repeat(32)),
            time::Duration::minutes(-5),
        );
        assert!(
            tokens.verify(&expired.issue(&user()).unwrap()).is_err(),
            "expired"
        );
        // alg "none" with the same claims.
        let parts: Vec<&str> = token.split('.').collect();
        let none_header = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(r#"{"alg":"none","typ":"JWT"}"#);
        assert!(
            tokens
                .verify(&format!("{none_header}.{}.", parts[1]))
                .is_err(),
            "alg none"
        );
    }

    #[test]
    fn secrets_are_long_random_and_hashed() {
        let a = random_token(API_KEY_PREFIX);
        let b = random_token(API_KEY_PREFIX);
        assert_ne!(a, b);
        assert!(a.starts_with("ork_") && a.len() == 4 + 43);
        assert_eq!(key_display_prefix(&a).len(), 12);
        assert_eq!(secret_hash(&a), secret_hash(&a));
        assert_ne!(secret_hash(&a), secret_hash(&b));
    }
}
