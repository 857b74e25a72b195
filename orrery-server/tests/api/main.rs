//! API tests: each starts the real application on port 0 with its own database (SQLite, and
//! PostgreSQL when the test command provides one) and speaks HTTP to it.

// The Stripe emulator writes Stripe's large objects as `json!` literals.
#![recursion_limit = "256"]

mod admin;
mod agents;
mod auth;
mod bad_input;
mod billing;
mod deployment;
mod google;
mod graphs;
mod hardening;
mod health;
mod helpers;
mod isolation;
mod keys;
mod limits;
mod mail;
mod me;
mod multi_instance;
mod smtp_sink;
mod stripe_emulator;
mod usage;

/// Runs an async test case on SQLite and on PostgreSQL: `both!(name);` makes `name::sqlite`
/// and `name::postgres`, each calling `crate::<module>::name(Backend)` — the workspace's one
/// backend-test macro (`orrery_store::backend_tests!`, which the store's conformance suite uses
/// too), with the shared PostgreSQL rules (`orrery_store::testing`).
#[macro_export]
macro_rules! both {
    ($($case:ident),* $(,)?) => {
        orrery_store::backend_tests! {
            run = $crate::helpers::run,
            backends = [sqlite, postgres],
            cases = [$($case),*],
        }
    };
}
