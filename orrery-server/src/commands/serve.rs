//! `orrery serve` and `orrery admin`: run the server, and bootstrap accounts.

use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use orrery_core::Plan;
use orrery_core::store::{NewUser, Role, UserStore};
use orrery_server::settings::{Settings, redact_url};
use orrery_server::startup::Application;
use orrery_store::{Store, StoreOptions};
use secrecy::SecretString;

/// Settings from defaults, the config file and the environment, then command-line overrides.
pub fn settings(
    config: Option<&Path>,
    bind: Option<SocketAddr>,
    database_url: Option<String>,
) -> anyhow::Result<Settings> {
    let mut settings = Settings::load(config)?;
    if let Some(bind) = bind {
        settings.bind = bind;
    }
    if let Some(url) = database_url {
        settings.database_url = SecretString::from(url);
    }
    Ok(settings)
}

/// Logs through tracing, to stderr; `RUST_LOG` filters (default `info`).
pub fn init_tracing(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,sqlx=warn,tower_http=info".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if json {
        let _ = builder.json().try_init();
    } else {
        let _ = builder.try_init();
    }
}

/// `orrery serve`.
pub fn serve(settings: Settings) -> anyhow::Result<ExitCode> {
    init_tracing(settings.log_format == "json");
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let app = Application::build(settings).await?;
        println!(
            "orrery is listening on http://{} (API docs at /docs)",
            app.address()
        );
        app.run_until_stopped().await
    })?;
    Ok(ExitCode::SUCCESS)
}

/// `orrery admin create-user`.
pub fn create_user(
    settings: Settings,
    email: &str,
    name: Option<&str>,
    role: Role,
    password_stdin: bool,
) -> anyhow::Result<ExitCode> {
    init_tracing(false);
    let email = email.trim().to_lowercase();
    if !email.contains('@') || email.len() > 254 || email.chars().any(char::is_whitespace) {
        eprintln!("error: `{email}` is not an email address");
        return Ok(ExitCode::from(2));
    }
    let (password, generated) = if password_stdin {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read the password from stdin")?;
        let password = text.trim_end_matches(['\n', '\r']).to_owned();
        if password.chars().count() < 8 {
            eprintln!("error: the password must have at least 8 characters");
            return Ok(ExitCode::from(2));
        }
        (password, false)
    } else {
        (orrery_server::auth::random_token(""), true)
    };
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        std::fs::create_dir_all(&settings.data_dir)?;
        let url = settings.effective_database_url();
        let store = Store::connect(&url, StoreOptions::default())
            .await
            .with_context(|| format!("cannot open the database {}", redact_url(&url)))?;
        let passwords = orrery_server::auth::Passwords::new(
            settings.argon2_memory_kib,
            settings.argon2_iterations,
        )?;
        let hash = passwords
            .hash(&SecretString::from(password.clone()))
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let user = store
            .create_user(NewUser {
                email: email.clone(),
                name: name.unwrap_or(&email).to_owned(),
                password_hash: Some(hash),
                google_sub: None,
                role,
                plan: Plan::Free,
                trial_ends_at: None,
            })
            .await
            .map_err(|e| match e {
                orrery_core::store::StoreError::Conflict(_) => {
                    anyhow::anyhow!("an account with email {email} already exists")
                }
                other => anyhow::Error::new(other),
            })?;
        println!("created {} {} ({})", role.as_str(), user.email, user.id);
        if generated {
            println!("password (shown once): {password}");
        }
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Where the config file is when none is given: `./orrery.toml` if it exists.
pub fn default_config() -> Option<PathBuf> {
    let path = PathBuf::from("orrery.toml");
    path.exists().then_some(path)
}
