//! Arbitrary bytes through the whole engine: parse, validate, digest, canonical round trip,
//! flatten and diff (the checks are in `checks/parse_validate.rs`). Nothing may panic.
//!
//! Run with: cargo +nightly fuzz run --fuzz-dir orrery-core/fuzz parse_validate
//! (`scripts/test-all` runs it for a bounded time; see ARCHITECTURE.md, Tests).

#![no_main]

#[path = "../checks/parse_validate.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::check(data));
