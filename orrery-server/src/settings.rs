//! Layered configuration: built-in defaults, then an optional TOML file, then `ORRERY_…`
//! environment variables, into one typed [`Settings`]. Secrets are [`SecretString`]s, so they
//! never reach a log line through `Debug`.
//!
//! Every key is documented in `config/orrery.example.toml`; the environment variable for a key is
//! `ORRERY_` and the key in upper case (`database_url` → `ORRERY_DATABASE_URL`).

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

/// Everything the server can be configured with.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Address to listen on.
    pub bind: SocketAddr,
    /// The address users reach the server at (links in mails, OpenAPI servers).
    pub public_url: String,
    /// Where the embedded database and generated secrets live.
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; empty means an SQLite file in `data_dir`.
    #[serde(serialize_with = "redacted")]
    pub database_url: SecretString,
    /// Connections in the database pool.
    pub database_max_connections: u32,
    /// `redis://…` turns on shared rate limits and caches; empty keeps them in-process.
    /// `rediss://…` speaks TLS (rustls), verifying the server against the system's roots, or
    /// against `redis_ca_file` when set.
    #[serde(serialize_with = "redacted")]
    pub redis_url: SecretString,
    /// A PEM file of the CA that signed the Redis server's certificate (for `rediss://` with a
    /// private CA); empty uses the system's roots.
    pub redis_ca_file: String,
    /// Secret for signing access tokens; empty means one generated into `data_dir`.
    #[serde(serialize_with = "redacted")]
    pub jwt_secret: SecretString,
    /// Lifetime of access tokens, in minutes.
    pub access_token_minutes: i64,
    /// Lifetime of refresh tokens, in days.
    pub refresh_token_days: i64,
    /// Lifetime of password-reset tokens, in minutes.
    pub reset_token_minutes: i64,
    /// Argon2id memory cost in KiB (OWASP: 19456).
    pub argon2_memory_kib: u32,
    /// Argon2id iterations (OWASP: 2).
    pub argon2_iterations: u32,
    /// Password hashes computed at once (each holds `argon2_memory_kib`); 0 = one per core.
    pub password_hashes_in_flight: usize,
    /// Password hashes running or waiting before sign-ins are refused with a 503 and
    /// `Retry-After`; 0 = 16 per hash in flight.
    pub password_hash_queue: usize,
    /// Google sign-in: the OAuth client id, the audience of accepted ID tokens; empty turns
    /// Google sign-in off.
    pub google_client_id: String,
    /// Google sign-in: accepted issuer.
    pub google_issuer: String,
    /// Google sign-in: where the signing keys are published.
    pub google_jwks_url: String,
    /// Origins allowed to call the API from a browser (CORS); empty allows none.
    pub cors_origins: Vec<String>,
    /// Whether the server is reached over TLS (turns on HSTS).
    pub behind_tls: bool,
    /// The proxies in front of the server (CIDR blocks, or single addresses): only when the TCP
    /// peer is one of them is `trusted_proxy_header` read for the client's address. Empty: the
    /// peer is the client.
    pub trusted_proxies: Vec<Cidr>,
    /// The header the trusted proxies append the client's address to.
    pub trusted_proxy_header: ProxyHeader,
    /// A separate address that serves `/metrics` (and nothing else); empty serves it on `bind`.
    pub metrics_bind: String,
    /// A bearer token `/metrics` requires; empty: none.
    #[serde(serialize_with = "redacted")]
    pub metrics_token: SecretString,
    /// Seconds a request may take before it is cut off.
    pub request_timeout_secs: u64,
    /// Largest request body, in bytes.
    pub max_body_bytes: usize,
    /// Requests a minute from one address without credentials.
    pub anonymous_requests_per_minute: u32,
    /// Sign-in, sign-up and reset attempts a minute from one address.
    pub auth_requests_per_minute: u32,
    /// Multiplies every plan's request rate and monthly call quota (load tests, dedicated
    /// deployments); 1 keeps the plans as sold.
    pub limits_scale: u32,
    /// Length of the trial of the pro plan new accounts get, in days (0: no trial).
    pub trial_days: i64,
    /// Stripe's secret API key (`sk_…`); empty turns billing off (billing routes answer 503).
    #[serde(serialize_with = "redacted")]
    pub stripe_secret_key: SecretString,
    /// The signing secret of the Stripe webhook endpoint (`whsec_…`).
    #[serde(serialize_with = "redacted")]
    pub stripe_webhook_secret: SecretString,
    /// Where the Stripe API is (tests point it at an emulator); a trailing `/` is added.
    pub stripe_api_base: String,
    /// The Stripe price of the pro plan (`price_…`); empty: the plan cannot be bought.
    pub stripe_price_pro: String,
    /// The Stripe price of the enterprise plan (`price_…`); empty: the plan cannot be bought.
    pub stripe_price_enterprise: String,
    /// Origins besides `public_url`'s that billing return addresses may point at.
    pub billing_return_origins: Vec<String>,
    /// `smtp://host:port`, `smtp://user:password@host:587?tls=required` or
    /// `smtps://user:password@host:465`; empty writes mails to the log instead.
    #[serde(serialize_with = "redacted")]
    pub smtp_url: SecretString,
    /// The sender of every mail (`Orrery <no-reply@example.com>`).
    pub mail_from: String,
    /// How many times the outbox tries a mail before giving up on it.
    pub mail_max_attempts: u32,
    /// Milliseconds before the first retry of a mail that failed; each further retry waits
    /// twice as long, at most 6 hours (30 s: the outbox's standard backoff).
    pub mail_retry_base_ms: u64,
    /// Milliseconds between two looks at the outbox (a mail queued by this instance is sent at
    /// once; this bounds the delay for mails queued by others and for retries).
    pub mail_poll_interval_ms: u64,
    /// Milliseconds between two runs of the trial job (reminders 3 days before a trial ends,
    /// and the notice when it has ended).
    pub trial_check_interval_ms: u64,
    /// Days API call records are kept; older ones are rolled up into daily totals per account
    /// and key (usage history, quotas and admin figures stay right; session statistics cover
    /// the days kept). 0 keeps them forever.
    pub retention_usage_days: u32,
    /// Days monitoring events (the activity log) are kept; `graph.created` events are counted
    /// into the daily totals first. 0 keeps them forever.
    pub retention_event_days: u32,
    /// Days sent and given-up mails stay in the outbox; pending mails are never pruned. At
    /// least 31 (the trial job recognises a notice it already queued by its outbox row, for
    /// 30 days), or 0 to keep them forever.
    pub retention_mail_days: u32,
    /// Days spent refresh, password-reset and email-change tokens are kept after their use,
    /// revocation or expiry. At least `refresh_token_days` (a reused refresh token is
    /// recognised as theft while its record is kept), or 0 to keep them forever.
    pub retention_token_days: u32,
    /// Days receipts of processed Stripe webhooks are kept (a replayed webhook is a no-op
    /// while its receipt is). At least 7 (Stripe retries for up to 3 days), or 0 for ever.
    pub retention_webhook_days: u32,
    /// Seconds between two runs of the retention job (every instance runs it; runs on several
    /// instances at once are safe).
    pub retention_interval_secs: u64,
    /// Records one transaction of the retention job removes at most (1–100,000).
    pub retention_batch: u32,
    /// Seconds to let in-flight requests finish after SIGTERM.
    pub shutdown_grace_secs: u64,
    /// Log format: `text` or `json`.
    pub log_format: String,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: "http://127.0.0.1:8080".into(),
            data_dir: PathBuf::from(".orrery"),
            database_url: SecretString::from(""),
            database_max_connections: 16,
            redis_url: SecretString::from(""),
            redis_ca_file: String::new(),
            jwt_secret: SecretString::from(""),
            access_token_minutes: 15,
            refresh_token_days: 7,
            reset_token_minutes: 30,
            argon2_memory_kib: 19_456,
            argon2_iterations: 2,
            password_hashes_in_flight: 0,
            password_hash_queue: 0,
            google_client_id: String::new(),
            google_issuer: "https://accounts.google.com".into(),
            google_jwks_url: "https://www.googleapis.com/oauth2/v3/certs".into(),
            cors_origins: Vec::new(),
            behind_tls: false,
            trusted_proxies: Vec::new(),
            trusted_proxy_header: ProxyHeader::XForwardedFor,
            metrics_bind: String::new(),
            metrics_token: SecretString::from(""),
            request_timeout_secs: 30,
            max_body_bytes: 16 << 20,
            anonymous_requests_per_minute: 120,
            auth_requests_per_minute: 20,
            limits_scale: 1,
            trial_days: 14,
            stripe_secret_key: SecretString::from(""),
            stripe_webhook_secret: SecretString::from(""),
            stripe_api_base: "https://api.stripe.com/".into(),
            stripe_price_pro: String::new(),
            stripe_price_enterprise: String::new(),
            billing_return_origins: Vec::new(),
            smtp_url: SecretString::from(""),
            mail_from: "Orrery <no-reply@orrery.localhost>".into(),
            mail_max_attempts: 8,
            mail_retry_base_ms: 30_000,
            mail_poll_interval_ms: 5_000,
            trial_check_interval_ms: 600_000,
            retention_usage_days: 90,
            retention_event_days: 365,
            retention_mail_days: 90,
            retention_token_days: 30,
            retention_webhook_days: 90,
            retention_interval_secs: 3_600,
            retention_batch: 1_000,
            shutdown_grace_secs: 20,
            log_format: "text".into(),
        }
    }
}

/// An IP network in CIDR notation (`10.0.0.0/8`, `2001:db8::/32`); a single address is its own
/// network (`/32`, `/128`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(try_from = "String", into = "String")]
pub struct Cidr(ipnet::IpNet);

impl Cidr {
    /// Whether `ip` is in this network (an IPv4-mapped IPv6 address counts as its IPv4 one).
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.contains(&ip.to_canonical())
    }
}

impl FromStr for Cidr {
    type Err = String;

    fn from_str(s: &str) -> Result<Cidr, String> {
        let s = s.trim();
        if let Ok(net) = s.parse::<ipnet::IpNet>() {
            return Ok(Cidr(net.trunc()));
        }
        s.parse::<IpAddr>()
            .map(|ip| Cidr(ipnet::IpNet::from(ip.to_canonical())))
            .map_err(|_| format!("`{s}` is not an address or a CIDR block"))
    }
}

impl TryFrom<String> for Cidr {
    type Error = String;

    fn try_from(s: String) -> Result<Cidr, String> {
        s.parse()
    }
}

impl From<Cidr> for String {
    fn from(cidr: Cidr) -> String {
        cidr.0.to_string()
    }
}

/// Which header trusted proxies append the client's address to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProxyHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2` (nginx, HAProxy, most load balancers).
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client, for=proxy1`.
    Forwarded,
}

/// Why configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// A file, variable or value is wrong; the message names it.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Settings {
    /// Defaults, then `file` (when given), then the environment.
    pub fn load(file: Option<&Path>) -> Result<Settings, SettingsError> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(file) = file {
            if !file.exists() {
                return Err(SettingsError::Invalid(format!(
                    "config file {} does not exist",
                    file.display()
                )));
            }
            figment = figment.merge(Toml::file(file));
        }
        // Lists come from the environment comma-separated: ORRERY_CORS_ORIGINS=a,b.
        // Only the variables that name a setting: ORRERY_TEST_* and friends belong to others.
        let keys = Settings::keys();
        let figment = figment.merge(
            Env::prefixed("ORRERY_")
                .map(|k| k.as_str().to_lowercase().into())
                .filter(move |k| {
                    !LIST_KEYS.contains(&k.as_str()) && keys.iter().any(|known| known == k.as_str())
                }),
        );
        let mut figment = figment;
        for key in LIST_KEYS {
            if let Ok(list) = std::env::var(format!("ORRERY_{}", key.to_uppercase())) {
                figment = figment.merge(Serialized::default(
                    key,
                    list.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .collect::<Vec<_>>(),
                ));
            }
        }
        let settings: Settings = figment
            .extract()
            .map_err(|e| SettingsError::Invalid(e.to_string()))?;
        settings.check()?;
        Ok(settings)
    }

    /// Every setting's name.
    pub fn keys() -> Vec<String> {
        match serde_json::to_value(Settings::default()) {
            Ok(serde_json::Value::Object(map)) => map.keys().cloned().collect(),
            _ => Vec::new(),
        }
    }

    fn check(&self) -> Result<(), SettingsError> {
        let invalid = |m: &str| Err(SettingsError::Invalid(m.to_owned()));
        let url = self.database_url.expose_secret();
        if !(url.is_empty()
            || url.starts_with("sqlite:")
            || url.starts_with("postgres://")
            || url.starts_with("postgresql://"))
        {
            return invalid("database_url must start with sqlite: or postgres://");
        }
        let redis = self.redis_url.expose_secret();
        if !(redis.is_empty() || redis.starts_with("redis://") || redis.starts_with("rediss://")) {
            return invalid("redis_url must start with redis:// or rediss://");
        }
        if !self.redis_ca_file.is_empty() && !redis.starts_with("rediss://") {
            return invalid("redis_ca_file needs a rediss:// redis_url");
        }
        if self.access_token_minutes <= 0
            || self.refresh_token_days <= 0
            || self.reset_token_minutes <= 0
        {
            return invalid("token lifetimes must be positive");
        }
        if self.argon2_memory_kib < 8 || self.argon2_iterations == 0 {
            return invalid(
                "argon2_memory_kib must be at least 8 and argon2_iterations at least 1",
            );
        }
        if !["text", "json"].contains(&self.log_format.as_str()) {
            return invalid("log_format must be text or json");
        }
        if self.limits_scale == 0 {
            return invalid("limits_scale must be at least 1");
        }
        if self.max_body_bytes < 1024 {
            return invalid("max_body_bytes must be at least 1024");
        }
        if !self.jwt_secret.expose_secret().is_empty() && self.jwt_secret.expose_secret().len() < 32
        {
            return invalid("jwt_secret must be at least 32 characters");
        }
        if !(self.stripe_api_base.starts_with("https://")
            || self.stripe_api_base.starts_with("http://"))
        {
            return invalid("stripe_api_base must start with https:// or http://");
        }
        let smtp = self.smtp_url.expose_secret();
        if !(smtp.is_empty() || smtp.starts_with("smtp://") || smtp.starts_with("smtps://")) {
            return invalid("smtp_url must start with smtp:// or smtps://");
        }
        if self.mail_from.parse::<lettre::message::Mailbox>().is_err() {
            return invalid("mail_from must be a mailbox like `Orrery <no-reply@example.com>`");
        }
        if self.mail_max_attempts == 0
            || self.mail_retry_base_ms == 0
            || self.mail_poll_interval_ms == 0
            || self.trial_check_interval_ms == 0
        {
            return invalid(
                "mail_max_attempts, mail_retry_base_ms, mail_poll_interval_ms and trial_check_interval_ms must be positive",
            );
        }
        if self.retention_mail_days != 0 && self.retention_mail_days < 31 {
            return invalid(
                "retention_mail_days must be 0 (keep) or at least 31: the trial job recognises notices it queued by their outbox rows for 30 days",
            );
        }
        if self.retention_token_days != 0
            && i64::from(self.retention_token_days) < self.refresh_token_days
        {
            return invalid(
                "retention_token_days must be 0 (keep) or at least refresh_token_days: a reused refresh token is recognised as theft only while its record is kept",
            );
        }
        if self.retention_webhook_days != 0 && self.retention_webhook_days < 7 {
            return invalid(
                "retention_webhook_days must be 0 (keep) or at least 7: Stripe retries a webhook for up to 3 days",
            );
        }
        if self.retention_interval_secs == 0 || !(1..=100_000).contains(&self.retention_batch) {
            return invalid(
                "retention_interval_secs must be positive and retention_batch between 1 and 100000",
            );
        }
        if !self.metrics_bind.is_empty() && self.metrics_bind.parse::<SocketAddr>().is_err() {
            return invalid("metrics_bind must be empty or an address like 127.0.0.1:9090");
        }
        if let Some(origin) = self
            .billing_return_origins
            .iter()
            .find(|o| !(o.starts_with("https://") || o.starts_with("http://")))
        {
            return Err(SettingsError::Invalid(format!(
                "billing_return_origins: `{origin}` must start with https:// or http://"
            )));
        }
        Ok(())
    }

    /// Where `/metrics` is served on its own, when `metrics_bind` says so.
    pub fn metrics_address(&self) -> Option<SocketAddr> {
        self.metrics_bind.parse().ok()
    }

    /// Whether `ip` is one of the `trusted_proxies`.
    pub fn is_trusted_proxy(&self, ip: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|net| net.contains(ip))
    }

    /// The database URL to use: the configured one, or an SQLite file in `data_dir`.
    pub fn effective_database_url(&self) -> String {
        let url = self.database_url.expose_secret();
        if url.is_empty() {
            format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("orrery.db").display()
            )
        } else {
            url.to_owned()
        }
    }
}

/// Settings that the environment gives as comma-separated lists.
const LIST_KEYS: [&str; 3] = ["cors_origins", "billing_return_origins", "trusted_proxies"];

/// The database URL without its password, for logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}://{user}:***@{}", &url[..scheme], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

fn redacted<S: serde::Serializer>(secret: &SecretString, s: S) -> Result<S::Ok, S::Error> {
    // Serialization only feeds figment's defaults; a set secret is never written back out.
    s.serialize_str(if secret.expose_secret().is_empty() {
        ""
    } else {
        "<redacted>"
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_passwords_in_logs() {
        assert_eq!(
            redact_url("postgres://orrery:hunter2@db:5432/orrery"),
            "postgres://orrery:***@db:5432/orrery"
        );
        assert_eq!(
            redact_url("sqlite://data/orrery.db"),
            "sqlite://data/orrery.db"
        );
    }

    #[test]
    fn the_defaults_run_on_embedded_sqlite() {
        let s = Settings::default();
        assert!(s.check().is_ok());
        assert_eq!(
            s.effective_database_url(),
            "sqlite://.orrery/orrery.db?mode=rwc"
        );
        assert_eq!(s.bind.to_string(), "127.0.0.1:8080");
    }

    #[test]
    fn the_example_file_documents_every_key_with_its_default() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/orrery.example.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        for key in Settings::keys() {
            assert!(
                text.lines().any(|l| l.starts_with(&format!("{key} = "))),
                "{key} is missing from {}",
                path.display()
            );
        }
        let loaded = Settings::load(Some(&path)).unwrap();
        assert_eq!(format!("{loaded:?}"), format!("{:?}", Settings::default()));
    }

    #[test]
    fn bad_values_are_refused_with_their_name() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bad.toml");
        for (content, needle) in [
            ("bind = \"nowhere\"", "bind"),
            ("database_url = \"mysql://x\"", "database_url"),
            ("colour = 3", "colour"),
            ("access_token_minutes = 0", "token lifetimes"),
            ("smtp_url = \"http://mail\"", "smtp_url"),
            ("mail_from = \"nobody\"", "mail_from"),
            ("stripe_api_base = \"ftp://x\"", "stripe_api_base"),
            ("trusted_proxies = [\"10.0.0.0/33\"]", "trusted_proxies"),
            (
                "trusted_proxy_header = \"x-real-ip\"",
                "trusted_proxy_header",
            ),
            ("metrics_bind = \"9090\"", "metrics_bind"),
            ("retention_mail_days = 30", "retention_mail_days"),
            (
                "refresh_token_days = 60\nretention_token_days = 30",
                "retention_token_days",
            ),
            ("retention_webhook_days = 2", "retention_webhook_days"),
            ("retention_batch = 0", "retention_batch"),
            ("retention_interval_secs = 0", "retention_interval_secs"),
        ] {
            std::fs::write(&file, content).unwrap();
            let err = Settings::load(Some(&file)).unwrap_err().to_string();
            assert!(err.contains(needle), "{content}: {err}");
        }
        assert!(Settings::load(Some(&dir.path().join("missing.toml"))).is_err());
    }

    #[test]
    fn trusted_proxies_are_blocks_or_single_addresses() {
        let s = Settings {
            trusted_proxies: ["10.0.0.0/8", "192.168.1.7", "2001:db8::/32"]
                .iter()
                .map(|c| c.parse().unwrap())
                .collect(),
            ..Settings::default()
        };
        for (ip, trusted) in [
            ("10.1.2.3", true),
            ("11.0.0.1", false),
            ("192.168.1.7", true),
            ("192.168.1.8", false),
            ("2001:db8::1", true),
            ("::ffff:10.0.0.1", true),
            ("2001:db9::1", false),
        ] {
            assert_eq!(s.is_trusted_proxy(ip.parse().unwrap()), trusted, "{ip}");
        }
        assert_eq!(
            String::from("10.1.2.3/8".parse::<Cidr>().unwrap()),
            "10.0.0.0/8"
        );
        assert!("localhost".parse::<Cidr>().is_err());
    }

    #[test]
    fn secrets_do_not_show_in_debug_output() {
        let s = Settings {
            jwt_secret: SecretString::from("x".repeat(40)),
            stripe_secret_key: SecretString::from("sk_test_yyyy"),
            stripe_webhook_secret: SecretString::from("whsec_zzzz"),
            smtp_url: SecretString::from("smtp://user:wwww@mail:25"),
            metrics_token: SecretString::from("vvvv"),
            ..Settings::default()
        };
        let shown = format!("{s:?}");
        for secret in ["xxxx", "yyyy", "zzzz", "wwww", "vvvv"] {
            assert!(!shown.contains(secret), "{secret} shows in {shown}");
        }
    }
}
