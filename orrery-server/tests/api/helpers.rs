//! Starting the application for a test and talking to it.

use std::time::Duration;

use orrery_server::mail::{Mail, MemoryMailer};
use orrery_server::settings::Settings;
use orrery_server::startup::Application;
use orrery_store::{Store, StoreOptions};

use crate::smtp_sink::SmtpSink;
use crate::stripe_emulator::StripeEmulator;
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

/// Which database a test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// An SQLite file in the test's temporary directory.
    Sqlite,
    /// A fresh database on the PostgreSQL server of `ORRERY_TEST_POSTGRES_URL`.
    Postgres,
}

/// Whether to skip PostgreSQL cases: only outside CI, when no server was given
/// (`orrery_store::testing::postgres_server`, shared with the store's conformance suite). In CI
/// a missing server fails the test instead.
pub fn skip_postgres() -> bool {
    orrery_store::testing::postgres_server().is_none()
}

/// Runs a case written against [`Backend`] on `backend` (for `both!`, through the workspace's
/// `orrery_store::backend_tests!`).
pub async fn run<F, Fut>(backend: orrery_store::Backend, case: F)
where
    F: FnOnce(Backend) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    case(match backend {
        orrery_store::Backend::Postgres => Backend::Postgres,
        _ => Backend::Sqlite,
    })
    .await;
}

/// A running application.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub address: String,
    /// A client without cookies or redirects.
    pub client: reqwest::Client,
    /// The database URL it uses (for a second instance).
    pub database_url: String,
    /// The data directory, removed when the test ends.
    _dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    /// Where its mail goes: a real SMTP server when aiosmtpd is available, else memory.
    pub mail: MailSink,
}

/// Where a test app's mail is delivered.
#[derive(Clone)]
pub enum MailSink {
    /// aiosmtpd, writing a Maildir.
    Smtp(std::sync::Arc<SmtpSink>),
    /// The app's memory (no Python with aiosmtpd here).
    Memory(std::sync::Arc<MemoryMailer>),
}

impl MailSink {
    /// Every mail delivered to `to` so far, oldest first.
    pub fn mails_to(&self, to: &str) -> Vec<Mail> {
        match self {
            MailSink::Smtp(sink) => sink
                .messages_to(to)
                .into_iter()
                .map(|m| Mail {
                    to: to.to_owned(),
                    template: m.template,
                    subject: m.subject,
                    text: m.text,
                    html: m.html,
                    // `<outbox id@domain>`.
                    id: m
                        .message_id
                        .trim_start_matches('<')
                        .split('@')
                        .next()
                        .and_then(|id| id.parse().ok()),
                })
                .collect(),
            MailSink::Memory(memory) => memory.sent().into_iter().filter(|m| m.to == to).collect(),
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A signed-up user.
#[derive(Clone, Debug)]
pub struct TestUser {
    /// Account id.
    pub id: String,
    /// Email.
    pub email: String,
    /// Password.
    pub password: String,
    /// Access token.
    pub token: String,
    /// Refresh token.
    pub refresh_token: String,
}

/// Settings for tests: port 0, cheap password hashing, a temporary data directory.
pub fn test_settings(dir: &std::path::Path, database_url: &str) -> Settings {
    Settings {
        bind: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.to_owned(),
        database_url: SecretString::from(database_url),
        argon2_memory_kib: 64,
        argon2_iterations: 1,
        jwt_secret: SecretString::from("test-secret-test-secret-test-secret!"),
        auth_requests_per_minute: 10_000,
        anonymous_requests_per_minute: 10_000,
        shutdown_grace_secs: 2,
        mail_poll_interval_ms: 300,
        trial_check_interval_ms: 3_600_000,
        ..Settings::default()
    }
}

/// A fresh database for `backend`.
pub async fn database_url(backend: Backend, dir: &std::path::Path) -> String {
    match backend {
        Backend::Sqlite => orrery_store::testing::sqlite_url(dir),
        Backend::Postgres => {
            let server = orrery_store::testing::postgres_server().expect("a PostgreSQL server");
            orrery_store::testing::create_postgres_database(&server, "api")
                .await
                .0
        }
    }
}

/// Starts the application on `backend` with test settings.
pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

/// Starts the application on `backend`, with test settings changed by `tweak`.
pub async fn spawn_app_with(backend: Backend, tweak: impl FnOnce(&mut Settings)) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let url = database_url(backend, dir.path()).await;
    let mut settings = test_settings(dir.path(), &url);
    tweak(&mut settings);
    start(settings, dir, url, None).await
}

/// Starts the application on `backend` delivering mail to `sink`.
pub async fn spawn_app_with_sink(
    backend: Backend,
    sink: std::sync::Arc<SmtpSink>,
    tweak: impl FnOnce(&mut Settings),
) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let url = database_url(backend, dir.path()).await;
    let mut settings = test_settings(dir.path(), &url);
    tweak(&mut settings);
    start(settings, dir, url, Some(sink)).await
}

/// Starts the application on `backend` the way `orrery serve` runs without SMTP: mails go to
/// the log (nothing to read back).
pub async fn spawn_app_without_smtp(backend: Backend) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let url = database_url(backend, dir.path()).await;
    let settings = test_settings(dir.path(), &url);
    let app = Application::build(settings)
        .await
        .expect("the application builds");
    serve(app, dir, url, MailSink::Memory(std::sync::Arc::default()))
}

/// Starts another instance on an existing database (and the same Redis, if any).
pub async fn spawn_instance(database_url: &str, tweak: impl FnOnce(&mut Settings)) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let mut settings = test_settings(dir.path(), database_url);
    tweak(&mut settings);
    start(settings, dir, database_url.to_owned(), None).await
}

async fn start(
    mut settings: Settings,
    dir: tempfile::TempDir,
    url: String,
    own_sink: Option<std::sync::Arc<SmtpSink>>,
) -> TestApp {
    if std::env::var("TEST_LOG").is_ok() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter("info,sqlx=warn")
            .with_test_writer()
            .try_init();
    }
    // A test that set its own SMTP server keeps it; the others share this binary's sink, or
    // keep mails in memory where aiosmtpd is not available.
    let (app, mail) = if let Some(sink) = own_sink {
        settings.smtp_url = SecretString::from(sink.url());
        (
            Application::build(settings.clone()).await,
            MailSink::Smtp(sink),
        )
    } else if !settings.smtp_url.expose_secret().is_empty() {
        // A server the test set up to fail: nothing to read back.
        let app = Application::build(settings.clone()).await;
        (app, MailSink::Memory(std::sync::Arc::default()))
    } else if let Some(sink) = SmtpSink::shared().await {
        settings.smtp_url = SecretString::from(sink.url());
        (
            Application::build(settings.clone()).await,
            MailSink::Smtp(sink),
        )
    } else {
        let memory = std::sync::Arc::new(MemoryMailer::default());
        (
            Application::build_with_mailer(settings.clone(), memory.clone()).await,
            MailSink::Memory(memory),
        )
    };
    serve(app.expect("the application builds"), dir, url, mail)
}

fn serve(app: Application, dir: tempfile::TempDir, url: String, mail: MailSink) -> TestApp {
    let address = format!("http://{}", app.address());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.run_until(async move {
        let _ = stopped.await;
    }));
    TestApp {
        address,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap(),
        database_url: url,
        _dir: dir,
        stop: Some(stop),
        mail,
    }
}

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: reqwest::header::HeaderMap,
    /// Body as JSON (`Null` when not JSON).
    pub body: Value,
    /// Body bytes.
    pub bytes: Vec<u8>,
}

impl Reply {
    /// Asserts a problem response of `status` and `type` and returns its body.
    #[track_caller]
    pub fn problem(&self, status: u16, type_: &str) -> &Value {
        assert_eq!(self.status.as_u16(), status, "{:#}", self.body);
        assert_eq!(
            self.headers
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("application/problem+json"),
            "{:#}",
            self.body
        );
        assert_eq!(
            self.body["type"],
            format!("/problems/{type_}"),
            "{:#}",
            self.body
        );
        assert_eq!(self.body["status"], status);
        assert!(self.body["detail"].as_str().is_some_and(|d| !d.is_empty()));
        &self.body
    }

    /// Asserts `status` and returns the body.
    #[track_caller]
    pub fn ok(&self, status: u16) -> &Value {
        assert_eq!(self.status.as_u16(), status, "{:#}", self.body);
        &self.body
    }
}

impl TestApp {
    /// Sends a request with an optional bearer credential and JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        auth: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.address));
        if let Some(auth) = auth {
            req = req.bearer_auth(auth);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        self.send(req).await
    }

    /// Sends a prepared request.
    pub async fn send(&self, req: reqwest::RequestBuilder) -> Reply {
        let resp = req.send().await.expect("the server answers");
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.unwrap().to_vec();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
            bytes,
        }
    }

    /// The mail of `template` to `to`, waiting up to 10 s for it.
    pub async fn wait_for_mail(&self, to: &str, template: &str) -> Mail {
        for _ in 0..200 {
            if let Some(mail) = self
                .mail
                .mails_to(to)
                .into_iter()
                .find(|m| m.template == template)
            {
                return mail;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no {template} mail to {to}: {:?}", self.mail.mails_to(to));
    }

    /// Waits (up to 10 s) until no mail is waiting in the outbox: every mail queued so far has
    /// been delivered (or given up on), so counting deliveries now counts them all.
    pub async fn outbox_settled(&self) {
        use orrery_core::store::{EmailOutbox, EmailStatus, Page};
        let store = self.store().await;
        for _ in 0..200 {
            let pending = store
                .list_emails(Some(EmailStatus::Pending), Page { page: 1, limit: 1 })
                .await
                .expect("the outbox lists")
                .total;
            if pending == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the outbox still has mail waiting after 10 s");
    }

    /// The templates of the mails delivered to `to` so far, in order.
    pub fn mail_templates(&self, to: &str) -> Vec<String> {
        self.mail
            .mails_to(to)
            .into_iter()
            .map(|m| m.template)
            .collect()
    }

    /// The store behind the app, for looking behind the API.
    pub async fn store(&self) -> Store {
        Store::connect(
            &self.database_url,
            StoreOptions {
                max_connections: 2,
                ..StoreOptions::default()
            },
        )
        .await
        .expect("the test database opens")
    }

    /// A signed-up user made an admin behind the API (the first admin comes from the CLI).
    pub async fn admin_user(&self) -> TestUser {
        use orrery_core::store::{Role, UserPatch, UserStore};
        let admin = self.signed_up_user().await;
        let store = self.store().await;
        store
            .update_user(
                admin.id.parse().unwrap(),
                UserPatch {
                    role: Some(Role::Admin),
                    ..UserPatch::default()
                },
            )
            .await
            .unwrap();
        store.close().await;
        admin
    }

    /// PUT JSON with a credential.
    pub async fn put(&self, path: &str, auth: &str, body: Value) -> Reply {
        self.call(Method::PUT, path, Some(auth), Some(body)).await
    }

    /// GET with a credential.
    pub async fn get(&self, path: &str, auth: &str) -> Reply {
        self.call(Method::GET, path, Some(auth), None).await
    }

    /// POST JSON with a credential.
    pub async fn post(&self, path: &str, auth: &str, body: Value) -> Reply {
        self.call(Method::POST, path, Some(auth), Some(body)).await
    }

    /// A raw request builder for unusual requests.
    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, format!("{}{path}", self.address))
    }

    /// Signs up a new user with a unique email.
    pub async fn signed_up_user(&self) -> TestUser {
        let email = format!("user-{}@example.com", uuid::Uuid::new_v4().simple());
        self.sign_up(&email).await
    }

    /// Signs up `email`.
    pub async fn sign_up(&self, email: &str) -> TestUser {
        let password = "correct horse battery staple".to_owned();
        let reply = self
            .call(
                Method::POST,
                "/api/auth/signup",
                None,
                Some(json!({"email": email, "password": password, "name": "Test User"})),
            )
            .await;
        let body = reply.ok(201);
        TestUser {
            id: body["user"]["id"].as_str().unwrap().to_owned(),
            email: email.to_owned(),
            password,
            token: body["token"].as_str().unwrap().to_owned(),
            refresh_token: body["refresh_token"].as_str().unwrap().to_owned(),
        }
    }

    /// Creates a graph and returns its body.
    pub async fn create_graph(&self, user: &TestUser, name: &str, graph: Value) -> Reply {
        self.post(
            "/api/graphs",
            &user.token,
            json!({"name": name, "graph_data": graph}),
        )
        .await
    }
}

/// A small valid graph: question → answer.
pub fn small_graph() -> Value {
    json!({"schema": 1,
        "nodes": [
            {"id": "question", "kind": "input", "outputs": [{"name": "value", "type": "text"}]},
            {"id": "llm", "kind": "agent", "config": {"model": "small"}, "inputs": [{"name": "prompt", "type": "text"}], "outputs": [{"name": "text", "type": "text"}]},
            {"id": "answer", "kind": "output", "inputs": [{"name": "value", "type": "text"}]}],
        "edges": [{"from": "question.value", "to": "llm.prompt"}, {"from": "llm.text", "to": "answer.value"}]})
}

/// A graph with a dangling edge and a type mismatch.
pub fn broken_graph() -> Value {
    json!({"schema": 1,
        "nodes": [
            {"id": "question", "kind": "input", "outputs": [{"name": "value", "type": "text"}]},
            {"id": "count", "kind": "tool", "inputs": [{"name": "n", "type": "number"}], "outputs": [{"name": "total", "type": "number"}]},
            {"id": "answer", "kind": "output", "inputs": [{"name": "value", "type": "number"}]}],
        "edges": [{"from": "question.value", "to": "count.n"}, {"from": "count.total", "to": "answer.value"}, {"from": "count.total", "to": "ghost.value"}]})
}

/// An app with billing on, against a fresh Stripe emulator whose webhooks reach it.
pub async fn spawn_billing_app(backend: Backend) -> (TestApp, StripeEmulator) {
    spawn_billing_app_with(backend, |_| {}).await
}

/// [`spawn_billing_app`] with test settings changed by `tweak`.
pub async fn spawn_billing_app_with(
    backend: Backend,
    tweak: impl FnOnce(&mut Settings),
) -> (TestApp, StripeEmulator) {
    let stripe = StripeEmulator::start().await;
    let app = spawn_app_with(backend, |s| {
        stripe_settings(s, &stripe);
        tweak(s);
    })
    .await;
    stripe.set_webhook_url(&format!("{}/api/billing/webhook", app.address));
    (app, stripe)
}

/// Points `settings` at `stripe`.
pub fn stripe_settings(settings: &mut Settings, stripe: &StripeEmulator) {
    settings.stripe_secret_key = SecretString::from(stripe.secret_key.clone());
    settings.stripe_webhook_secret = SecretString::from(stripe.webhook_secret.clone());
    settings.stripe_api_base = stripe.url.clone();
    settings.stripe_price_pro = stripe.price_pro.clone();
    settings.stripe_price_enterprise = stripe.price_enterprise.clone();
}
