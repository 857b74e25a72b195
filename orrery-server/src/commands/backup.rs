//! `orrery admin backup`: a consistent copy of the SQLite database, made while the server
//! runs. PostgreSQL is backed up with `pg_dump`, which the error says.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use orrery_server::settings::redact_url;
use orrery_store::{Store, StoreOptions};

use crate::commands::serve::{ServerArgs, init_tracing};

// `orrery admin backup`'s options.
#[derive(Debug, clap::Args)]
pub struct BackupArgs {
    /// The file to write the copy to; it must not exist yet. The copy is an SQLite database:
    /// to restore, stop the server and put it in the database's place (or point
    /// ORRERY_DATABASE_URL at it).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    #[command(flatten)]
    pub server: ServerArgs,
}

/// `orrery admin backup`.
pub fn backup(args: &BackupArgs) -> anyhow::Result<ExitCode> {
    let settings = args.server.settings(None)?;
    init_tracing(false);
    let url = settings.effective_database_url();
    if !url.starts_with("sqlite:") {
        eprintln!(
            "error: {} is PostgreSQL: back it up with pg_dump (see the README's Deployment section)",
            redact_url(&url)
        );
        return Ok(ExitCode::from(2));
    }
    if args.out.exists() {
        eprintln!(
            "error: {} exists already; choose a new file",
            args.out.display()
        );
        return Ok(ExitCode::from(2));
    }
    // A backup never creates the database it copies: a wrong path is an error, not an empty
    // backup.
    let url = url.replace("mode=rwc", "mode=rw");
    let bar = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} copying the database to {msg} {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_message(args.out.display().to_string());
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    } else {
        ProgressBar::hidden()
    };
    let runtime = tokio::runtime::Runtime::new()?;
    let out = args.out.clone();
    let copied = runtime.block_on(async move {
        let store = Store::connect(
            &url,
            StoreOptions {
                max_connections: 1,
                ..StoreOptions::default()
            },
        )
        .await
        .with_context(|| format!("cannot open the database {}", redact_url(&url)))?;
        store
            .backup_to(&out)
            .await
            .with_context(|| format!("cannot back the database up to {}", out.display()))?;
        store.close().await;
        anyhow::Ok(())
    });
    bar.finish_and_clear();
    copied?;
    let size = std::fs::metadata(&args.out).map(|m| m.len()).unwrap_or(0);
    println!("backed up to {} ({size} bytes)", args.out.display());
    Ok(ExitCode::SUCCESS)
}
