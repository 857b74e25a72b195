//! The application layer: services that own the server's rules, transactions, cache
//! invalidation, audit events and mail. HTTP handlers parse a request, call one service and
//! build the view; the CLI (`orrery admin …`) and the background jobs call the same services,
//! so a rule exists once. Each service holds only what it uses and has its own error type,
//! which the HTTP layer maps to a problem document.

pub mod accounts;
pub mod admin;
pub mod billing;
pub mod graphs;
pub mod identity;
pub mod keys;
pub mod retention;
#[cfg(test)]
pub(crate) mod testing;
pub mod usage;
