//! The Orrery server: the SaaS API around the graph engine. Start with [`startup::Application`]
//! (how the server is built and run) and [`http::app`] (every route and the middleware around
//! them); `main.rs` is only the command line.
//!
//! Invariants: handlers see the database only through the `orrery-core` storage traits
//! (implemented by `orrery-store`); every error reaches the client as `application/problem+json`
//! through [`http::error::ApiError`], and a 5xx never carries internals; secrets are
//! `SecretString`s and never logged; state shared between instances (rate limits, quotas,
//! caches) goes through [`shared::Shared`], in Redis when configured.

#![warn(missing_docs)]

pub mod auth;
pub mod billing;
pub mod events;
pub mod graphs;
pub mod http;
pub mod jobs;
pub mod mail;
pub mod metrics;
pub mod services;
pub mod settings;
pub mod shared;
pub mod startup;
pub mod storage;
pub mod usage;
