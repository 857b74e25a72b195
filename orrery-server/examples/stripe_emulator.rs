//! The API tests' Stripe emulator as a process of its own, for the schemathesis stage of
//! `scripts/test-all` (`scripts/lib/schemathesis.sh`): it prints the settings that point a
//! server at it as `ORRERY_…=value` lines, then serves until it is killed.
//!
//! Run with: cargo run -p orrery-server --example stripe_emulator -- WEBHOOK_URL
//! (`cargo test` builds it too, as `target/debug/examples/stripe_emulator`).

// The emulator writes Stripe's large objects as `json!` literals.
#![recursion_limit = "256"]

// Shared with the API tests, which use more of it than this program does.
#[allow(dead_code)]
#[path = "../tests/api/stripe_emulator.rs"]
mod stripe_emulator;

use std::io::Write;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let webhook_url = std::env::args()
        .nth(1)
        .ok_or_else(|| anyhow::anyhow!("usage: stripe_emulator WEBHOOK_URL"))?;
    let emulator = stripe_emulator::StripeEmulator::start().await;
    emulator.set_webhook_url(&webhook_url);
    let mut out = std::io::stdout().lock();
    writeln!(out, "ORRERY_STRIPE_API_BASE={}", emulator.url)?;
    writeln!(out, "ORRERY_STRIPE_SECRET_KEY={}", emulator.secret_key)?;
    writeln!(
        out,
        "ORRERY_STRIPE_WEBHOOK_SECRET={}",
        emulator.webhook_secret
    )?;
    writeln!(out, "ORRERY_STRIPE_PRICE_PRO={}", emulator.price_pro)?;
    writeln!(
        out,
        "ORRERY_STRIPE_PRICE_ENTERPRISE={}",
        emulator.price_enterprise
    )?;
    out.flush()?;
    drop(out);
    tokio::signal::ctrl_c().await?;
    Ok(())
}
