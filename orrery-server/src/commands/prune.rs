//! `orrery admin prune`: the retention job, once, by hand (the running server also runs it on a
//! timer). Safe beside running servers: the store moves each record once.

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use orrery_server::services::retention::Retention;
use time::OffsetDateTime;

use crate::commands::serve::{ServerArgs, init_tracing};

// `orrery admin prune`'s options.
#[derive(Debug, clap::Args)]
pub struct PruneArgs {
    #[command(flatten)]
    pub server: ServerArgs,
}

/// `orrery admin prune`.
pub fn prune(args: &PruneArgs) -> anyhow::Result<ExitCode> {
    let settings = args.server.settings(None)?;
    init_tracing(false);
    let bar = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} pruning {msg} {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    } else {
        ProgressBar::hidden()
    };
    let runtime = tokio::runtime::Runtime::new()?;
    let pruned = runtime.block_on(async {
        let store = orrery_server::startup::open_store(&settings).await?;
        let retention = Retention::new(store.clone(), &settings);
        let mut so_far = 0u64;
        let pruned = retention
            .run(OffsetDateTime::now_utc(), &|| false, &mut |what, n| {
                so_far += n;
                bar.set_message(format!("{}: {so_far} records removed", what.as_str()));
            })
            .await;
        store.close().await;
        anyhow::Ok(pruned?)
    })?;
    bar.finish_and_clear();
    for (what, n) in &pruned.removed {
        println!("{:<18} {n} removed", what.as_str());
    }
    println!("{} records removed in all", pruned.total());
    Ok(ExitCode::SUCCESS)
}
