//! Building and running the server: [`Application::build`] opens the database (applying
//! migrations), connects Redis when configured, sets up Stripe and the mail transport, binds the
//! listener and assembles the services; [`Application::run_until`] serves and runs the
//! background jobs (outbox sender, trial reminders). Tests and `orrery serve` start it the same
//! way.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use orrery_core::billing::BillingProvider;
use orrery_store::{Store, StoreOptions};
use secrecy::{ExposeSecret, SecretString};
use tokio::net::TcpListener;

use crate::auth::{AccessTokens, GoogleVerifier, Passwords, random_token};
use crate::billing::StripeBilling;
use crate::http::{AppState, Services, app};
use crate::jobs::Jobs;
use crate::mail::{LogMailer, Mailer, Outbox, SmtpMailer};
use crate::metrics::Metrics;
use crate::services::accounts::{AccountRules, Accounts};
use crate::services::admin::Admin;
use crate::services::billing::Billing;
use crate::services::graphs::Graphs;
use crate::services::keys::Keys;
use crate::settings::{Settings, redact_url};
use crate::shared::Shared;
use crate::storage::Db;
use crate::usage::UsageRecorder;

/// A built server, listening, not yet serving.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    /// The `metrics_bind` listener, when `/metrics` has an address of its own.
    metrics_listener: Option<TcpListener>,
    state: AppState,
    address: SocketAddr,
    usage_task: tokio::task::JoinHandle<()>,
}

impl Application {
    /// Opens everything `settings` names and binds the listener (port 0 picks a free port).
    /// Mail goes to the SMTP server of `smtp_url`, or to the log when it is empty.
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        let mailer: Arc<dyn Mailer> = if settings.smtp_url.expose_secret().is_empty() {
            Arc::new(LogMailer)
        } else {
            Arc::new(SmtpMailer::new(&settings.smtp_url, &settings.mail_from)?)
        };
        Application::build_with_mailer(settings, mailer).await
    }

    /// [`Application::build`] with another way of delivering mail (tests keep mails in
    /// memory when they have no SMTP server).
    pub async fn build_with_mailer(
        settings: Settings,
        mailer: Arc<dyn Mailer>,
    ) -> anyhow::Result<Application> {
        let store = open_store(&settings).await?;
        Application::build_with_storage(settings, store, mailer).await
    }

    /// [`Application::build_with_mailer`] on storage the caller opened: any backend of the
    /// `orrery-core` storage traits.
    pub async fn build_with_storage(
        settings: Settings,
        store: Db,
        mailer: Arc<dyn Mailer>,
    ) -> anyhow::Result<Application> {
        let shared = match settings.redis_url.expose_secret() {
            "" => Shared::local(),
            redis => {
                let ca = match settings.redis_ca_file.as_str() {
                    "" => None,
                    path => Some(
                        std::fs::read(path)
                            .with_context(|| format!("cannot read redis_ca_file {path}"))?,
                    ),
                };
                let shared = Shared::redis_with_ca(redis, ca)
                    .await
                    .with_context(|| format!("cannot connect to Redis at {}", redact_url(redis)))?;
                tracing::info!(redis = %redact_url(redis), "rate limits and caches are shared through Redis");
                shared
            }
        };
        let secret = jwt_secret(&settings)?;
        let google = match settings.google_client_id.as_str() {
            "" => None,
            client => Some(GoogleVerifier::new(
                client,
                &settings.google_issuer,
                &settings.google_jwks_url,
            )?),
        };
        let billing: Option<Arc<dyn BillingProvider>> =
            match StripeBilling::from_settings(&settings)? {
                Some(stripe) => {
                    tracing::info!(api = %settings.stripe_api_base, "billing through Stripe");
                    Some(Arc::new(stripe))
                }
                None => {
                    tracing::info!("billing is off: no stripe_secret_key");
                    None
                }
            };
        tracing::info!(transport = mailer.kind(), "mail transport ready");
        let (recorder, usage_task) = UsageRecorder::start(store.clone());
        let listener = TcpListener::bind(settings.bind)
            .await
            .with_context(|| format!("cannot listen on {}", settings.bind))?;
        let address = listener.local_addr()?;
        let metrics_listener = match settings.metrics_address() {
            Some(bind) => Some(
                TcpListener::bind(bind)
                    .await
                    .with_context(|| format!("cannot listen on {bind} (metrics_bind)"))?,
            ),
            None => None,
        };
        let passwords = Passwords::of(&settings)?;
        let tokens = AccessTokens::new(
            &secret,
            time::Duration::minutes(settings.access_token_minutes),
        );
        let outbox = Outbox::new(store.clone(), Arc::new(tokio::sync::Notify::new()));
        let metrics = Arc::new(Metrics::default());
        let accounts = Accounts::new(
            store.clone(),
            passwords.clone(),
            tokens.clone(),
            shared.clone(),
            outbox.clone(),
            metrics.clone(),
            AccountRules::of(&settings),
        );
        let graphs = Graphs::new(store.clone(), metrics.clone(), settings.max_body_bytes);
        let billing = Billing::new(
            store.clone(),
            accounts.clone(),
            outbox.clone(),
            billing,
            &settings.public_url,
            settings.billing_return_origins.clone(),
        );
        let started = Instant::now();
        let admin = Admin::new(
            store.clone(),
            accounts.clone(),
            shared.clone(),
            billing.clone(),
            mailer.clone(),
            !settings.smtp_url.expose_secret().is_empty(),
            started,
        );
        let state = AppState(Arc::new(Services {
            passwords,
            tokens,
            accounts,
            graphs,
            keys: Keys::new(store.clone(), shared.clone()),
            outbox,
            google,
            shared,
            recorder,
            mailer,
            billing,
            admin,
            usage: crate::services::usage::Usage::new(store.clone()),
            instance: format!("orrery-{}", uuid::Uuid::new_v4().simple()),
            metrics,
            renderers: moka::future::Cache::builder().max_capacity(8).build(),
            started,
            store,
            settings,
        }));
        Ok(Application {
            listener,
            metrics_listener,
            state,
            address,
            usage_task,
        })
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.address.port()
    }

    /// The address it listens on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The shared state (for tests that look behind the API).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until SIGTERM or Ctrl-C, then lets in-flight requests finish.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Serves until `signal` completes, then lets in-flight requests finish (for at most the
    /// configured grace period) and flushes queued usage records.
    pub async fn run_until(
        self,
        signal: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let grace = Duration::from_secs(self.state.settings.shutdown_grace_secs);
        let router = app(self.state.clone());
        let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
        let server = axum::serve(
            self.listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            signal.await;
            tracing::info!("shutting down: finishing in-flight requests");
            let _ = stopping_tx.send(());
        });
        let serving = tokio::spawn(async move { server.await });
        let (metrics_stop, metrics_stopped) = tokio::sync::oneshot::channel::<()>();
        if let Some(listener) = self.metrics_listener {
            tracing::info!(address = %listener.local_addr()?, "serving /metrics on its own address");
            let metrics = axum::serve(
                listener,
                crate::http::health::metrics_app(self.state.clone()),
            )
            .with_graceful_shutdown(async move {
                let _ = metrics_stopped.await;
            });
            tokio::spawn(async move {
                if let Err(error) = metrics.await {
                    tracing::error!(%error, "the metrics listener failed");
                }
            });
        }
        let jobs = Jobs::start(self.state.clone());
        tokio::select! {
            result = serving => result??,
            () = async {
                let _ = stopping_rx.await;
                tokio::time::sleep(grace).await;
            } => tracing::warn!("requests still running after the grace period; stopping anyway"),
        }
        jobs.stop().await;
        let _ = metrics_stop.send(());
        let Application {
            state, usage_task, ..
        } = self;
        drop(state);
        let _ = tokio::time::timeout(Duration::from_secs(5), usage_task).await;
        Ok(())
    }
}

/// Creates the data directory (readable by this user only) and opens the database of
/// `settings` (applying migrations).
pub async fn open_store(settings: &Settings) -> anyhow::Result<Db> {
    create_private_dir(&settings.data_dir).with_context(|| {
        format!(
            "cannot create the data directory {}",
            settings.data_dir.display()
        )
    })?;
    let url = settings.effective_database_url();
    let store = Store::connect(
        &url,
        StoreOptions {
            max_connections: settings.database_max_connections,
            max_document_bytes: settings.max_body_bytes,
            ..StoreOptions::default()
        },
    )
    .await
    .with_context(|| format!("cannot open the database {}", redact_url(&url)))?;
    tracing::info!(database = %redact_url(&url), backend = ?store.backend(), "database ready");
    Ok(Arc::new(store))
}

/// The accounts service over the database of `settings`, without a server: what `orrery
/// admin` commands use, so they follow the same rules as the API. Mail it queues is sent by
/// the running server's outbox sender.
pub async fn accounts_service(settings: &Settings) -> anyhow::Result<Accounts> {
    let store = open_store(settings).await?;
    let passwords = Passwords::of(settings)?;
    let tokens = AccessTokens::new(
        &jwt_secret(settings)?,
        time::Duration::minutes(settings.access_token_minutes),
    );
    Ok(Accounts::new(
        store.clone(),
        passwords,
        tokens,
        Shared::local(),
        Outbox::new(store, Arc::new(tokio::sync::Notify::new())),
        Arc::new(Metrics::default()),
        AccountRules::of(settings),
    ))
}

/// The configured signing secret, or one generated into the data directory on first start and
/// read back afterwards (so sessions survive a restart without configuration).
fn jwt_secret(settings: &Settings) -> anyhow::Result<SecretString> {
    let configured = settings.jwt_secret.expose_secret();
    if !configured.is_empty() {
        return Ok(SecretString::from(configured));
    }
    let path = settings.data_dir.join("jwt-secret");
    if let Ok(existing) = std::fs::read_to_string(&path) {
        let existing = existing.trim();
        if existing.len() >= 32 {
            return Ok(SecretString::from(existing));
        }
    }
    let secret = random_token("");
    write_private(&path, &secret).with_context(|| format!("cannot write {}", path.display()))?;
    tracing::info!(path = %path.display(), "generated a signing secret for access tokens");
    Ok(SecretString::from(secret))
}

/// Creates `dir` and its missing parents with mode 0700: it holds the database and secrets.
/// An existing directory keeps the mode its owner gave it.
fn create_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Writes a secret into a file only its owner can read (0600 from the start, not chmod'ed
/// after, so there is no moment when others could open it).
fn write_private(path: &std::path::Path, content: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(content.as_bytes())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
