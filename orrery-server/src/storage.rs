//! The storage the server holds: any backend of [`orrery_store::Storage`] (every
//! `orrery-core` storage trait, plus ping and the backend's name), as a trait object.
//! `orrery-store`'s SQLite and PostgreSQL [`orrery_store::Store`] is the one `orrery serve`
//! opens; an embedder can hand [`crate::startup::Application::build_with_storage`] their own.

use std::sync::Arc;

pub use orrery_store::Storage;

/// The storage as the server shares it.
pub type Db = Arc<dyn Storage>;
