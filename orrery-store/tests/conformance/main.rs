//! The conformance suite: every case runs on SQLite, on PostgreSQL and on the memory store (see
//! `suite.rs` for the list, `harness.rs` for where the stores come from, `cases/` for the
//! cases); `schema.rs` checks that the two SQL schemas agree.

mod cases;
mod harness;
mod schema;
mod suite;
