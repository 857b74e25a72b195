//! The conformance suite: every case runs on SQLite and on PostgreSQL (see `suite.rs` for the
//! list, `harness.rs` for where the databases come from, `cases/` for the cases).

mod cases;
mod harness;
mod suite;
