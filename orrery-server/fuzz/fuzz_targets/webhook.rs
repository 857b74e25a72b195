//! Stripe webhooks through the server's own verification and parsing (`src/billing/webhook.rs`,
//! compiled here on its own): each input is a `Stripe-Signature` header line and a payload, tried
//! as delivered and signed with the endpoint secret (the checks are in `checks/webhook.rs`).
//!
//! Run with: cargo +nightly fuzz run --fuzz-dir orrery-server/fuzz webhook
//! (`scripts/test-all` runs it for a bounded time, from `seeds/webhook`; see ARCHITECTURE.md).

#![no_main]

#[path = "../checks/webhook.rs"]
mod checks;
// The server's module as it is. The checks reach it as `super::{parse, …}`: through the import
// below here, and directly when the server's unit tests include them inside that module.
#[allow(dead_code)]
#[path = "../../src/billing/webhook.rs"]
mod webhook;

use webhook::{Prices, TOLERANCE_SECONDS, parse};

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::check(data));
