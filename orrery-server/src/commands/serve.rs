//! `orrery serve` and `orrery admin`: run the server, and bootstrap accounts.

use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::ValueEnum;
use orrery_core::store::Role;
use orrery_server::events::SignInMethod;
use orrery_server::services::accounts::{AccountError, NewAccount};
use orrery_server::settings::Settings;
use orrery_server::startup::Application;
use secrecy::SecretString;

// Where the server's configuration comes from.
#[derive(Debug, clap::Args)]
pub struct ServerArgs {
    /// TOML configuration file (default: ./orrery.toml when it exists).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// sqlite://… or postgres://… (overrides ORRERY_DATABASE_URL and the file).
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,
}

// `orrery serve`'s options.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub server: ServerArgs,
    /// Address to listen on (overrides the configuration).
    #[arg(long, value_name = "ADDR")]
    pub bind: Option<SocketAddr>,
}

// `orrery admin create-user`'s options.
#[derive(Debug, clap::Args)]
pub struct CreateUserArgs {
    /// The account's email.
    #[arg(long)]
    pub email: String,
    /// Display name (default: the email).
    #[arg(long)]
    pub name: Option<String>,
    /// The account's role.
    #[arg(long, value_enum, default_value_t = RoleArg::User)]
    pub role: RoleArg,
    /// Read the password from stdin instead of generating one.
    #[arg(long)]
    pub password_stdin: bool,
    #[command(flatten)]
    pub server: ServerArgs,
}

/// An account's role.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum RoleArg {
    /// A customer.
    User,
    /// An operator: the admin API and console.
    Admin,
}

impl From<RoleArg> for Role {
    fn from(role: RoleArg) -> Role {
        match role {
            RoleArg::User => Role::User,
            RoleArg::Admin => Role::Admin,
        }
    }
}

impl ServerArgs {
    /// The settings these options select.
    pub fn settings(&self, bind: Option<SocketAddr>) -> anyhow::Result<Settings> {
        let config = self.config.clone().or_else(default_config);
        settings(config.as_deref(), bind, self.database_url.clone())
    }
}

/// Settings from defaults, the config file and the environment, then command-line overrides.
fn settings(
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
pub fn serve(args: &ServeArgs) -> anyhow::Result<ExitCode> {
    let settings = args.server.settings(args.bind)?;
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

/// `orrery admin create-user`: the accounts service's `create`, as sign-up and the admin API
/// use it (the same identity and password rules, the sign-up event, the welcome mail), without
/// a trial.
pub fn create_user(args: &CreateUserArgs) -> anyhow::Result<ExitCode> {
    let settings = args.server.settings(None)?;
    let (email, name) = (args.email.as_str(), args.name.as_deref());
    let (role, password_stdin) = (Role::from(args.role), args.password_stdin);
    init_tracing(false);
    let (password, generated) = if password_stdin {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .context("cannot read the password from stdin")?;
        (text.trim_end_matches(['\n', '\r']).to_owned(), false)
    } else {
        (orrery_server::auth::random_token(""), true)
    };
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async move {
        let accounts = orrery_server::startup::accounts_service(&settings).await?;
        let created = accounts
            .create(NewAccount {
                email: email.to_owned(),
                name: name.map(str::to_owned),
                password: Some(SecretString::from(password.clone())),
                google_sub: None,
                role,
                method: SignInMethod::Admin,
            })
            .await;
        match created {
            Ok(user) => {
                println!("created {} {} ({})", role.as_str(), user.email, user.id);
                if generated {
                    println!("password (shown once): {password}");
                }
                anyhow::Ok(ExitCode::SUCCESS)
            }
            Err(AccountError::Invalid { field, reason }) => {
                eprintln!("error: {field} {reason}");
                Ok(ExitCode::from(2))
            }
            Err(AccountError::EmailTaken) => {
                eprintln!("error: an account with this email already exists");
                Ok(ExitCode::from(2))
            }
            Err(e) => Err(anyhow::anyhow!("{e}")),
        }
    })
}

/// Where the config file is when none is given: `./orrery.toml` if it exists.
fn default_config() -> Option<PathBuf> {
    let path = PathBuf::from("orrery.toml");
    path.exists().then_some(path)
}
