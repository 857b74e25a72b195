//! Accounts and sessions: creating accounts (sign-up, Google, admins, `orrery admin
//! create-user` — one path), signing in with the per-account throttle, refresh-token rotation,
//! sign-out, password reset, and the account cache. Every change to an account goes through
//! [`Accounts::update`], which drops the cached copy after the write.

use std::sync::Arc;
use std::time::Duration;

use orrery_core::Plan;
use orrery_core::store::{NewUser, RefreshUse, Role, StoreError, Theme, User, UserPatch};
use secrecy::{ExposeSecret, SecretString};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::auth::{
    AccessTokens, Claims, EMAIL_CHANGE_PREFIX, GoogleIdentity, Passwords, REFRESH_PREFIX,
    RESET_PREFIX, random_token, secret_hash,
};
use crate::events::{AuditEvent, SignInMethod, record};
use crate::http::error::ApiError;
use crate::mail::{Outbox, OutgoingMail, mail_date};
use crate::metrics::Metrics;
use crate::services::identity::{self, Refused};
use crate::settings::Settings;
use crate::shared::Shared;
use crate::storage::Db;

/// Why an account operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// A field breaks the identity rules.
    #[error("{field}: {reason}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// Why.
        reason: Refused,
    },
    /// An account with this email exists.
    #[error("an account with this email already exists")]
    EmailTaken,
    /// Email and password do not match an account.
    #[error("invalid email or password")]
    InvalidCredentials,
    /// Too many failed sign-ins for this account; wait.
    #[error("too many failed sign-ins for this account; retry in {retry_after} s")]
    Throttled {
        /// Seconds to wait.
        retry_after: u64,
    },
    /// A refresh or reset token that is unknown, used, revoked or expired.
    #[error("{0}")]
    TokenRefused(&'static str),
    /// A reset token that is unknown, used or expired.
    #[error("the token is invalid or has expired")]
    ResetTokenRefused,
    /// The Google identity cannot be used.
    #[error("{0}")]
    GoogleRefused(&'static str),
    /// Anything else (storage, hashing capacity).
    #[error(transparent)]
    Other(#[from] ApiError),
}

impl From<StoreError> for AccountError {
    fn from(e: StoreError) -> AccountError {
        AccountError::Other(e.into())
    }
}

impl From<AccountError> for ApiError {
    fn from(e: AccountError) -> ApiError {
        match e {
            AccountError::Invalid { field, reason } => ApiError::field(field, reason.0),
            AccountError::EmailTaken => {
                ApiError::Conflict("an account with this email already exists".into())
            }
            AccountError::InvalidCredentials => ApiError::InvalidCredentials,
            AccountError::Throttled { retry_after } => ApiError::RateLimited { retry_after },
            AccountError::TokenRefused(message) | AccountError::GoogleRefused(message) => {
                ApiError::Unauthorized(message)
            }
            AccountError::ResetTokenRefused => ApiError::InvalidToken,
            AccountError::Other(e) => e,
        }
    }
}

fn invalid(field: &'static str) -> impl Fn(Refused) -> AccountError {
    move |reason| AccountError::Invalid { field, reason }
}

/// What a new account starts with.
#[derive(Debug)]
pub struct NewAccount {
    /// Email as typed (normalised here).
    pub email: String,
    /// Display name as typed (normalised here); the email when `None`.
    pub name: Option<String>,
    /// The password, checked against the rules and hashed; `None` for Google-only accounts.
    pub password: Option<SecretString>,
    /// Google's subject id, for accounts made by Google sign-in.
    pub google_sub: Option<String>,
    /// User or admin.
    pub role: Role,
    /// Sign-up, Google, or an operator.
    pub method: SignInMethod,
}

/// A new session: the account, an access token and a refresh token.
#[derive(Debug)]
pub struct Session {
    /// The account.
    pub user: User,
    /// Access token (JWT).
    pub access_token: String,
    /// Seconds until it expires.
    pub expires_in: i64,
    /// The refresh token (single use).
    pub refresh_token: SecretString,
}

/// The account settings these rules read.
#[derive(Clone, Debug)]
pub struct AccountRules {
    /// Days of pro trial for accounts that sign up.
    pub trial_days: i64,
    /// How long a refresh token lives.
    pub refresh_token_days: i64,
    /// How long a reset link works.
    pub reset_token_minutes: i64,
    /// The console's address, for links in mails.
    pub public_url: String,
}

impl AccountRules {
    /// The rules of `settings`.
    pub fn of(settings: &Settings) -> AccountRules {
        AccountRules {
            trial_days: settings.trial_days,
            refresh_token_days: settings.refresh_token_days,
            reset_token_minutes: settings.reset_token_minutes,
            public_url: settings.public_url.trim_end_matches('/').to_owned(),
        }
    }
}

/// Failed sign-ins an account gets before each further attempt must wait.
pub const FREE_SIGNIN_FAILURES: u64 = 5;
/// The longest wait between two attempts; an attacker cannot lock a person out for longer
/// than this after they stop.
pub const MAX_SIGNIN_DELAY_SECS: u64 = 60;
/// How long failed attempts are remembered after the last one.
const SIGNIN_MEMORY: Duration = Duration::from_secs(15 * 60);
/// The longest a refresh token stays claimed by the request handling it (the claim is freed
/// when it finishes): a concurrent second use (two tabs refreshing at once) is refused
/// without revoking the session.
const REFRESH_CLAIM: Duration = Duration::from_secs(30);
/// How long an email-change link works.
pub const EMAIL_CHANGE_LINK_MINUTES: i64 = 24 * 60;
/// How recent a sign-in must be to delete an account that has no password.
pub const FRESH_SIGNIN: Duration = Duration::from_secs(10 * 60);
/// How long an account is cached; every change drops it at once.
const CACHE_TTL: Duration = Duration::from_secs(30);
/// The least time a password-reset request takes. For a known email the request looks the
/// account up, writes the token, the outbox row and the audit event; for an unknown one it only
/// looks. Padding both to this floor, well above the writes' usual tens of milliseconds, keeps
/// the timing from telling which emails have accounts; queueing before answering (rather than
/// in a task after it, which made the timing equal before) is what makes a 202 mean the mail
/// will be sent. A database so slow that the writes pass the floor leaks the difference, but
/// is then visible on every route anyway.
pub const RESET_ANSWER_FLOOR: Duration = Duration::from_millis(500);

/// The accounts service. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Accounts {
    store: Db,
    passwords: Passwords,
    tokens: AccessTokens,
    shared: Shared,
    outbox: Outbox,
    metrics: Arc<Metrics>,
    rules: AccountRules,
}

impl Accounts {
    /// The service over its dependencies.
    pub fn new(
        store: Db,
        passwords: Passwords,
        tokens: AccessTokens,
        shared: Shared,
        outbox: Outbox,
        metrics: Arc<Metrics>,
        rules: AccountRules,
    ) -> Accounts {
        Accounts {
            store,
            passwords,
            tokens,
            shared,
            outbox,
            metrics,
            rules,
        }
    }

    /// The access tokens this service issues (for the extractors that verify them).
    pub fn tokens(&self) -> &AccessTokens {
        &self.tokens
    }

    /// Creates an account: the identity rules, the password rules and hash, the trial (for
    /// accounts that sign up themselves), the sign-up event and the welcome mail. A taken
    /// email is [`AccountError::EmailTaken`] (from the store's unique index, so two
    /// simultaneous sign-ups cannot both pass).
    pub async fn create(&self, new: NewAccount) -> Result<User, AccountError> {
        let email = identity::normalize_email(&new.email).map_err(invalid("email"))?;
        let name = match &new.name {
            Some(name) => identity::check_name(name).map_err(invalid("name"))?,
            None => identity::name_or(None, &email),
        };
        let password_hash = match &new.password {
            Some(password) => {
                identity::check_password(password.expose_secret()).map_err(invalid("password"))?;
                Some(self.passwords.hash(password).await?)
            }
            None => None,
        };
        let trial_ends_at = (new.role == Role::User
            && new.method != SignInMethod::Admin
            && self.rules.trial_days > 0)
            .then(|| OffsetDateTime::now_utc() + time::Duration::days(self.rules.trial_days));
        let user = self
            .store
            .create_user(NewUser {
                email,
                name,
                password_hash,
                google_sub: new.google_sub,
                role: new.role,
                plan: Plan::Free,
                trial_ends_at,
            })
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => AccountError::EmailTaken,
                other => other.into(),
            })?;
        record(
            &*self.store,
            Some(user.id),
            None,
            AuditEvent::Signup { method: new.method },
        )
        .await?;
        self.outbox
            .send(
                user.id,
                &user.email,
                OutgoingMail::Welcome {
                    name: user.name.clone(),
                    trial_ends_at: user.trial_ends_at.map(mail_date).unwrap_or_default(),
                    app_url: self.rules.public_url.clone(),
                },
                Some(format!("welcome:{}", user.id)),
            )
            .await;
        Ok(user)
    }

    /// Creates an account from sign-up and opens its first session.
    pub async fn sign_up(
        &self,
        email: &str,
        name: &str,
        password: SecretString,
    ) -> Result<Session, AccountError> {
        let user = self
            .create(NewAccount {
                email: email.to_owned(),
                name: Some(name.to_owned()),
                password: Some(password),
                google_sub: None,
                role: Role::User,
                method: SignInMethod::Password,
            })
            .await?;
        self.session(user).await
    }

    /// Signs in with email and password. A malformed email gets the same answer, after the
    /// same work, as a wrong password. Each account gets [`FREE_SIGNIN_FAILURES`] attempts;
    /// after that each attempt waits twice as long as the one before, up to
    /// [`MAX_SIGNIN_DELAY_SECS`], and the owner is mailed once when it trips.
    pub async fn sign_in(
        &self,
        email: &str,
        password: &SecretString,
    ) -> Result<Session, AccountError> {
        let email = identity::normalize_email(email).ok();
        let attempt = match &email {
            Some(email) => Some(self.admit_signin(email).await?),
            None => None,
        };
        let user = match &email {
            Some(email) => self.store.user_by_email(email).await?,
            None => None,
        };
        let hash = user.as_ref().and_then(|u| u.password_hash.as_deref());
        let matches = self.passwords.verify(password, hash).await?;
        match user {
            Some(user) if matches => {
                if let Some(email) = &email {
                    self.shared.reset(&signin_key(email)).await;
                }
                self.signed_in(user, SignInMethod::Password).await
            }
            user => {
                if let (Some(user), Some(FREE_SIGNIN_FAILURES)) = (&user, attempt) {
                    self.throttle_tripped(user).await;
                }
                Err(AccountError::InvalidCredentials)
            }
        }
    }

    /// Counts a sign-in attempt for `email` and says whether it may go ahead: the first
    /// [`FREE_SIGNIN_FAILURES`] since the last success always do; after that, an attempt must
    /// take the account's wait lock, which then stays held for [`signin_delay`] of its number,
    /// so each attempt waits longer than the last. Counter and lock are atomic (in Redis when
    /// shared), so parallel guesses are held to the same rule. Returns the attempt's number.
    async fn admit_signin(&self, email: &str) -> Result<u64, AccountError> {
        let attempt = self.shared.incr(&signin_key(email), SIGNIN_MEMORY).await;
        if attempt <= FREE_SIGNIN_FAILURES {
            return Ok(attempt);
        }
        self.shared
            .acquire(
                &format!("signin-wait:{email}"),
                Duration::from_secs(signin_delay(attempt)),
            )
            .await
            .map_err(|retry_after| AccountError::Throttled { retry_after })?;
        Ok(attempt)
    }

    async fn throttle_tripped(&self, user: &User) {
        tracing::warn!(user_id = %user.id, "repeated failed sign-ins: the account's throttle tripped");
        let hour = OffsetDateTime::now_utc().unix_timestamp() / 3600;
        if let Err(e) = record(
            &*self.store,
            Some(user.id),
            None,
            AuditEvent::SigninThrottled {
                failures: FREE_SIGNIN_FAILURES,
            },
        )
        .await
        {
            tracing::error!(error = %e, "recording a throttled sign-in failed");
        }
        self.outbox
            .send(
                user.id,
                &user.email,
                OutgoingMail::SigninThrottled {
                    name: user.name.clone(),
                    failures: FREE_SIGNIN_FAILURES,
                    reset_url: format!("{}/forgot-password", self.rules.public_url),
                },
                Some(format!("signin_throttled:{}:{hour}", user.id)),
            )
            .await;
    }

    /// Signs in (or up) with a verified Google identity. An account that already has this
    /// email but no Google link is not linked here: whoever controls a Google account with
    /// that address would take it over. Its owner links Google from a signed-in session
    /// ([`Accounts::link_google`]); until then this is a 409 that says so.
    pub async fn sign_in_google(&self, identity: GoogleIdentity) -> Result<Session, AccountError> {
        let email = identity::normalize_email(&identity.email)
            .map_err(|_| AccountError::GoogleRefused("the Google account has no usable email"))?;
        let unverified = AccountError::GoogleRefused("the Google account's email is not verified");
        let user = match self.store.user_by_google_sub(&identity.sub).await? {
            Some(user) => user,
            None => match self.store.user_by_email(&email).await? {
                Some(_) => {
                    return Err(AccountError::Other(ApiError::Conflict(
                        "an account with this email exists: sign in with its password, then \
                         link Google from Settings"
                            .into(),
                    )));
                }
                None if !identity.email_verified => return Err(unverified),
                None => {
                    self.create(NewAccount {
                        name: Some(identity::name_or(identity.name.as_deref(), &email)),
                        email,
                        password: None,
                        google_sub: Some(identity.sub.clone()),
                        role: Role::User,
                        method: SignInMethod::Google,
                    })
                    .await?
                }
            },
        };
        self.signed_in(user, SignInMethod::Google).await
    }

    /// Records a sign-in (activity, log, metric) and opens a session.
    async fn signed_in(&self, user: User, method: SignInMethod) -> Result<Session, AccountError> {
        self.store
            .touch_user(user.id, OffsetDateTime::now_utc())
            .await?;
        record(
            &*self.store,
            Some(user.id),
            None,
            AuditEvent::Signin { method },
        )
        .await?;
        self.metrics.signins.inc();
        self.session(user).await
    }

    async fn session(&self, user: User) -> Result<Session, AccountError> {
        let refresh_token = self.new_refresh_token(user.id, Uuid::new_v4()).await?;
        Ok(Session {
            access_token: self.tokens.issue_signed_in(&user)?,
            expires_in: self.tokens.ttl_secs(),
            refresh_token,
            user,
        })
    }

    async fn new_refresh_token(
        &self,
        user: Uuid,
        family: Uuid,
    ) -> Result<SecretString, AccountError> {
        let token = random_token(REFRESH_PREFIX);
        let expires =
            OffsetDateTime::now_utc() + time::Duration::days(self.rules.refresh_token_days);
        self.store
            .create_refresh_token(user, family, &secret_hash(&token), expires)
            .await
            .map_err(|e| match e {
                // Reuse detection revoked the family while this refresh ran.
                StoreError::Conflict(_) => {
                    AccountError::TokenRefused("the session has ended; sign in again")
                }
                other => other.into(),
            })?;
        Ok(SecretString::from(token))
    }

    /// Trades a refresh token for a new session of the same family. While one use of a token
    /// is being handled, other uses are refused (401) without touching the session, so of
    /// several concurrent refreshes one wins; a token used again after that ends every session
    /// of its family (reuse detection).
    pub async fn refresh(&self, token: &SecretString) -> Result<Session, AccountError> {
        let hash = secret_hash(token.expose_secret());
        let claim = refresh_claim_key(&hash);
        if self.shared.acquire(&claim, REFRESH_CLAIM).await.is_err() {
            return Err(AccountError::TokenRefused(
                "the refresh token is being used by another request; sign in again",
            ));
        }
        let result = self.rotate(&hash).await;
        self.shared.release(&claim).await;
        result
    }

    async fn rotate(&self, hash: &[u8; 32]) -> Result<Session, AccountError> {
        match self
            .store
            .use_refresh_token(hash, OffsetDateTime::now_utc())
            .await?
        {
            RefreshUse::Rotated { user_id, family } => {
                let user = self
                    .store
                    .user(user_id)
                    .await
                    .map_err(|_| AccountError::TokenRefused("the account no longer exists"))?;
                let refresh_token = self.new_refresh_token(user.id, family).await?;
                Ok(Session {
                    access_token: self.tokens.issue(&user)?,
                    expires_in: self.tokens.ttl_secs(),
                    refresh_token,
                    user,
                })
            }
            RefreshUse::Reused { user_id } => {
                tracing::warn!(%user_id, "a used refresh token was presented again; its family is revoked");
                record(
                    &*self.store,
                    Some(user_id),
                    None,
                    AuditEvent::RefreshReuse {},
                )
                .await?;
                Err(AccountError::TokenRefused(
                    "the refresh token was already used; sign in again",
                ))
            }
            RefreshUse::Invalid => Err(AccountError::TokenRefused(
                "the refresh token is invalid or has expired",
            )),
        }
    }

    /// Ends the session of a refresh token (its whole family). Unknown tokens are fine.
    pub async fn sign_out(&self, token: &SecretString) -> Result<(), AccountError> {
        let hash = secret_hash(token.expose_secret());
        if let RefreshUse::Rotated { family, user_id } = self
            .store
            .use_refresh_token(&hash, OffsetDateTime::now_utc())
            .await?
        {
            self.store.revoke_refresh_family(family).await?;
            record(&*self.store, Some(user_id), None, AuditEvent::Signout {}).await?;
        }
        Ok(())
    }

    /// Queues a reset link for `email` when it has an account, and returns once the mail is in
    /// the outbox (so that a request answered 202 cannot lose its mail); an error when it
    /// could not be queued. Says nothing about whether the email has an account, and its
    /// timing says nothing either: it returns no sooner than [`RESET_ANSWER_FLOOR`] after it
    /// was called, for known and unknown emails alike.
    pub async fn request_reset(&self, email: &str) -> Result<(), AccountError> {
        let started = tokio::time::Instant::now();
        let queued = match identity::normalize_email(email) {
            Ok(email) => self.send_reset(&email).await,
            Err(_) => Ok(()),
        };
        tokio::time::sleep_until(started + RESET_ANSWER_FLOOR).await;
        if let Err(e) = &queued {
            tracing::error!(error = %e, "queueing a password reset failed");
        }
        queued
    }

    async fn send_reset(&self, email: &str) -> Result<(), AccountError> {
        let Some(user) = self.store.user_by_email(email).await? else {
            return Ok(());
        };
        let token = random_token(RESET_PREFIX);
        let expires =
            OffsetDateTime::now_utc() + time::Duration::minutes(self.rules.reset_token_minutes);
        self.store
            .create_reset_token(user.id, &secret_hash(&token), expires)
            .await?;
        self.outbox
            .queue(
                user.id,
                &user.email,
                OutgoingMail::PasswordReset {
                    name: user.name.clone(),
                    reset_url: format!("{}/reset-password?token={token}", self.rules.public_url),
                    expires_in_minutes: self.rules.reset_token_minutes,
                },
                None,
            )
            .await?;
        // The mail is queued: a lost audit event must not make the caller ask again.
        if let Err(e) = record(
            &*self.store,
            Some(user.id),
            None,
            AuditEvent::PasswordResetRequested {},
        )
        .await
        {
            tracing::error!(error = %e, "recording a password reset request failed");
        }
        Ok(())
    }

    /// Sets a new password with a reset token; ends every session of the account.
    pub async fn confirm_reset(
        &self,
        token: &SecretString,
        password: &SecretString,
    ) -> Result<(), AccountError> {
        identity::check_password(password.expose_secret()).map_err(invalid("password"))?;
        let user_id = self
            .store
            .consume_reset_token(
                &secret_hash(token.expose_secret()),
                OffsetDateTime::now_utc(),
            )
            .await?
            .ok_or(AccountError::ResetTokenRefused)?;
        let password_hash = self.passwords.hash(password).await?;
        self.update(
            user_id,
            UserPatch {
                password_hash: Some(password_hash),
                ..UserPatch::default()
            },
        )
        .await?;
        self.store.revoke_user_refresh_tokens(user_id).await?;
        self.revoke_all_access(user_id).await;
        self.shared
            .reset(&signin_key(&self.store.user(user_id).await?.email))
            .await;
        record(
            &*self.store,
            Some(user_id),
            None,
            AuditEvent::PasswordReset {},
        )
        .await?;
        Ok(())
    }

    /// Changes the account's own profile: its display name (the identity rules of sign-up)
    /// and its console theme.
    pub async fn update_profile(
        &self,
        id: Uuid,
        name: Option<&str>,
        theme: Option<Theme>,
    ) -> Result<User, AccountError> {
        let name = name
            .map(identity::check_name)
            .transpose()
            .map_err(invalid("name"))?;
        self.update(
            id,
            UserPatch {
                name,
                theme,
                ..UserPatch::default()
            },
        )
        .await
    }

    /// Changes the account's password: the current one must match (attempts count against
    /// the same throttle as sign-in), the new one follows the sign-up rules. Every session
    /// ends (refresh tokens revoked); the answer is a fresh session for the caller.
    pub async fn change_password(
        &self,
        id: Uuid,
        current: &SecretString,
        new: &SecretString,
    ) -> Result<Session, AccountError> {
        identity::check_password(new.expose_secret()).map_err(invalid("new_password"))?;
        let user = self.store.user(id).await?;
        if user.password_hash.is_none() {
            return Err(AccountError::Other(ApiError::Conflict(
                "this account signs in with Google and has no password; choose one through \
                 /forgot-password"
                    .into(),
            )));
        }
        self.admit_signin(&user.email).await?;
        if !self
            .passwords
            .verify(current, user.password_hash.as_deref())
            .await?
        {
            return Err(AccountError::Other(ApiError::field(
                "current_password",
                "is not the account's password",
            )));
        }
        self.shared.reset(&signin_key(&user.email)).await;
        let password_hash = self.passwords.hash(new).await?;
        let user = self
            .update(
                id,
                UserPatch {
                    password_hash: Some(password_hash),
                    ..UserPatch::default()
                },
            )
            .await?;
        self.store.revoke_user_refresh_tokens(id).await?;
        self.revoke_all_access(id).await;
        record(&*self.store, Some(id), None, AuditEvent::PasswordChanged {}).await?;
        self.session(user).await
    }

    /// Links a Google identity to the signed-in account `caller` (never through an API key),
    /// so that it can sign in with Google too. A Google account linked to another Orrery
    /// account, or an account linked to another Google account, is a 409.
    pub async fn link_google(
        &self,
        caller: &crate::http::extract::CurrentUser,
        identity: GoogleIdentity,
    ) -> Result<User, AccountError> {
        if caller.api_key_id.is_some() {
            return Err(AccountError::Other(ApiError::Forbidden(
                "linking Google needs a signed-in session, not an API key",
            )));
        }
        let user = self.store.user(caller.id()).await?;
        match (
            &user.google_sub,
            self.store.user_by_google_sub(&identity.sub).await?,
        ) {
            (Some(sub), _) if *sub == identity.sub => return Ok(user),
            (Some(_), _) => {
                return Err(AccountError::Other(ApiError::Conflict(
                    "this account is linked to another Google account".into(),
                )));
            }
            (None, Some(_)) => {
                return Err(AccountError::Other(ApiError::Conflict(
                    "this Google account is linked to another Orrery account".into(),
                )));
            }
            (None, None) => {}
        }
        let user = self
            .update(
                user.id,
                UserPatch {
                    google_sub: Some(identity.sub),
                    ..UserPatch::default()
                },
            )
            .await
            .map_err(|e| match e {
                AccountError::Other(ApiError::Conflict(_)) => {
                    AccountError::Other(ApiError::Conflict(
                        "this Google account is linked to another Orrery account".into(),
                    ))
                }
                e => e,
            })?;
        record(
            &*self.store,
            Some(user.id),
            None,
            AuditEvent::GoogleLinked {},
        )
        .await?;
        Ok(user)
    }

    /// Starts changing the account's email: the address follows the sign-up rules, is not the
    /// current one and has no account. Nothing changes until the link mailed to the new address
    /// is followed ([`Accounts::confirm_email_change`]); the current address is told, with a way
    /// out if it was not its owner. Returns the normalised new address.
    pub async fn request_email_change(
        &self,
        id: Uuid,
        email: &str,
    ) -> Result<String, AccountError> {
        let email = identity::normalize_email(email).map_err(invalid("email"))?;
        let user = self.store.user(id).await?;
        if email == user.email {
            return Err(AccountError::Other(ApiError::field(
                "email",
                "is already the account's email",
            )));
        }
        if self.store.user_by_email(&email).await?.is_some() {
            return Err(AccountError::EmailTaken);
        }
        let token = random_token(EMAIL_CHANGE_PREFIX);
        let expires =
            OffsetDateTime::now_utc() + time::Duration::minutes(EMAIL_CHANGE_LINK_MINUTES);
        self.store
            .create_email_change(id, &email, &secret_hash(&token), expires)
            .await?;
        // The link is the point of the request: its mail must be queued.
        self.outbox
            .queue(
                id,
                &email,
                OutgoingMail::EmailChangeConfirm {
                    name: user.name.clone(),
                    new_email: email.clone(),
                    confirm_url: format!("{}/confirm-email?token={token}", self.rules.public_url),
                    expires_in_minutes: EMAIL_CHANGE_LINK_MINUTES,
                },
                None,
            )
            .await?;
        self.outbox
            .send(
                id,
                &user.email,
                OutgoingMail::EmailChangeNotice {
                    name: user.name,
                    new_email: email.clone(),
                    reset_url: format!("{}/forgot-password", self.rules.public_url),
                },
                None,
            )
            .await;
        record(
            &*self.store,
            Some(id),
            None,
            AuditEvent::EmailChangeRequested {},
        )
        .await?;
        Ok(email)
    }

    /// Follows an email-change link: the account takes the new address (still free: two
    /// accounts cannot end up with one address), once; older links of the account stop working.
    pub async fn confirm_email_change(&self, token: &SecretString) -> Result<User, AccountError> {
        let user = self
            .store
            .confirm_email_change(
                &secret_hash(token.expose_secret()),
                OffsetDateTime::now_utc(),
            )
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => AccountError::EmailTaken,
                e => e.into(),
            })?
            .ok_or(AccountError::ResetTokenRefused)?;
        self.forget(user.id).await;
        record(
            &*self.store,
            Some(user.id),
            None,
            AuditEvent::EmailChanged {},
        )
        .await?;
        Ok(user)
    }

    /// Deletes the account of `caller` for good. The owner proves it is them: with the password
    /// when the account has one (throttled like sign-in), else with a sign-in in the last
    /// [`FRESH_SIGNIN`]; never with an API key. A subscription that has not ended is cancelled
    /// first (if Stripe refuses, nothing is deleted). Then, in one transaction, everything the
    /// account owns goes, leaving an anonymised billing record when it had a Stripe customer.
    /// Its sessions end at once, and a confirmation goes to the address it had.
    pub async fn delete(
        &self,
        caller: &crate::http::extract::CurrentUser,
        password: Option<&SecretString>,
        billing: &crate::services::billing::Billing,
    ) -> Result<(), AccountError> {
        if caller.api_key_id.is_some() {
            return Err(AccountError::Other(ApiError::Forbidden(
                "deleting an account needs a signed-in session, not an API key",
            )));
        }
        let user = self.store.user(caller.id()).await?;
        match (&user.password_hash, password) {
            (Some(_), None) => {
                return Err(AccountError::Other(ApiError::field(
                    "password",
                    "is required to delete an account that has one",
                )));
            }
            (Some(hash), Some(password)) => {
                self.admit_signin(&user.email).await?;
                if !self.passwords.verify(password, Some(hash.as_str())).await? {
                    return Err(AccountError::Other(ApiError::field(
                        "password",
                        "is not the account's password",
                    )));
                }
                self.shared.reset(&signin_key(&user.email)).await;
            }
            (None, _) => {
                let now_ms = (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;
                let fresh = caller
                    .signed_in_ms
                    .is_some_and(|at| now_ms - at <= FRESH_SIGNIN.as_millis() as i64);
                if !fresh {
                    return Err(AccountError::Other(ApiError::Forbidden(
                        "sign in again (within the last 10 minutes) to delete this account",
                    )));
                }
            }
        }
        let subscription_cancelled = billing.end_now(user.id).await?;
        self.store.delete_user(user.id).await?;
        self.revoke_all_access(user.id).await;
        self.forget(user.id).await;
        record(
            &*self.store,
            None,
            None,
            AuditEvent::AccountDeleted {
                plan: user.plan,
                subscription_cancelled,
            },
        )
        .await?;
        self.outbox
            .send(
                None,
                &user.email,
                OutgoingMail::AccountDeleted { name: user.name },
                None,
            )
            .await;
        Ok(())
    }

    /// Refuses an access token that was revoked: signed out (its id is on the deny-list), or
    /// issued before the account's password changed or was reset. Both lists live in the
    /// shared state, so every instance sees them, for as long as such a token could still be
    /// valid; when the shared state is unreachable the check fails open, as limits do.
    pub async fn check_access(&self, claims: &Claims) -> Result<(), ApiError> {
        if !claims.jti.is_empty()
            && self
                .shared
                .get(&revoked_token_key(&claims.jti))
                .await
                .is_some()
        {
            return Err(ApiError::Unauthorized(
                "the access token was revoked by signing out",
            ));
        }
        if let Some(bytes) = self.shared.get(&tokens_before_key(claims.sub)).await
            && let Some(cutoff) = std::str::from_utf8(&bytes)
                .ok()
                .and_then(|t| t.parse::<i64>().ok())
            && claims.issued_ms() < cutoff
        {
            return Err(ApiError::Unauthorized(
                "the access token predates a password change; sign in again",
            ));
        }
        Ok(())
    }

    /// Puts one access token on the deny-list until it expires (signing out).
    pub async fn revoke_access(&self, claims: &Claims) {
        if claims.jti.is_empty() {
            return;
        }
        let left = claims.exp - OffsetDateTime::now_utc().unix_timestamp() + TOKEN_LEEWAY_SECS;
        if left > 0 {
            self.shared
                .set(
                    &revoked_token_key(&claims.jti),
                    b"1".to_vec(),
                    Duration::from_secs(left.unsigned_abs()),
                )
                .await;
        }
    }

    /// Ends every access token of `user` issued before now (password changed or reset).
    async fn revoke_all_access(&self, user: Uuid) {
        let now_ms = (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;
        let ttl = self.tokens.ttl_secs() + TOKEN_LEEWAY_SECS;
        self.shared
            .set(
                &tokens_before_key(user),
                now_ms.to_string().into_bytes(),
                Duration::from_secs(ttl.unsigned_abs()),
            )
            .await;
    }

    /// The account as stored now (not the cached copy).
    pub async fn account(&self, id: Uuid) -> Result<User, AccountError> {
        Ok(self.store.user(id).await?)
    }

    /// Changes an account and drops its cached copy (after the write, so no reader caches
    /// the old one again).
    pub async fn update(&self, id: Uuid, patch: UserPatch) -> Result<User, AccountError> {
        let user = self.store.update_user(id, patch).await?;
        self.forget(id).await;
        Ok(user)
    }

    /// An account, through the cache (which never holds credentials); `None` when it is gone.
    pub async fn cached(&self, id: Uuid) -> Result<Option<User>, ApiError> {
        let key = user_cache_key(id);
        if let Some(bytes) = self.shared.get(&key).await
            && let Ok(user) = serde_json::from_slice::<User>(&bytes)
        {
            return Ok(Some(user));
        }
        let user = match self.store.user(id).await {
            Ok(user) => user,
            Err(StoreError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        if let Ok(bytes) = serde_json::to_vec(&user) {
            self.shared.set(&key, bytes, CACHE_TTL).await;
        }
        Ok(Some(user))
    }

    /// Drops the cached copy of an account.
    pub async fn forget(&self, id: Uuid) {
        self.shared.delete(&user_cache_key(id)).await;
    }
}

/// The wait before attempt number `attempt`: 1 s after the free attempts, doubling, capped.
pub fn signin_delay(attempt: u64) -> u64 {
    let over = attempt.saturating_sub(FREE_SIGNIN_FAILURES + 1).min(16);
    (1u64 << over).min(MAX_SIGNIN_DELAY_SECS)
}

fn signin_key(email: &str) -> String {
    format!("signin:{email}")
}

fn refresh_claim_key(hash: &[u8; 32]) -> String {
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("refresh-claim:{hex}")
}

/// How long after its `exp` a token is still accepted (the verifier's leeway), in seconds.
const TOKEN_LEEWAY_SECS: i64 = 5;

/// The deny-list entry of a signed-out access token.
fn revoked_token_key(jti: &str) -> String {
    format!("revoked-access:{jti}")
}

/// An account's cutoff: its access tokens issued before it (milliseconds) are refused.
fn tokens_before_key(user: Uuid) -> String {
    format!("access-before:{user}")
}

/// The cache key of an account.
pub fn user_cache_key(id: Uuid) -> String {
    format!("user:{id}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signin_delays_grow_and_are_capped() {
        assert_eq!(signin_delay(6), 1);
        assert_eq!(signin_delay(7), 2);
        assert_eq!(signin_delay(8), 4);
        assert_eq!(signin_delay(12), MAX_SIGNIN_DELAY_SECS);
        assert_eq!(signin_delay(u64::MAX), MAX_SIGNIN_DELAY_SECS);
    }
}
