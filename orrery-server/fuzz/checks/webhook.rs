//! What the `webhook` fuzz target checks of one input: a `Stripe-Signature` header line, a
//! newline, then the payload. The payload goes through the server's webhook parsing twice: with
//! the header as delivered (which almost never verifies), then signed with the endpoint secret at
//! the header's `t=` (or now), so that every payload reaches the event parser. Nothing may panic,
//! and a signature is accepted exactly when its time is within the tolerance.
//!
//! The parent module provides `parse`, `Prices` and `TOLERANCE_SECONDS`: the fuzz target imports
//! them from `src/billing/webhook.rs`, whose unit tests include this file to replay
//! `fuzz/regressions/webhook/` and the seeds.

use orrery_core::billing::BillingError;
use stripe_webhook::Webhook;
use time::OffsetDateTime;

use super::{Prices, TOLERANCE_SECONDS, parse};

/// The endpoint secret.
pub const SECRET: &str = "whsec_orrery_fuzz";
/// The time the checks run at, 2026-01-01T00:00:00Z; the seeds are signed at about this time.
pub const NOW: i64 = 1_767_225_600;
/// The price of the pro plan, as the seeds name it.
pub const PRICE_PRO: &str = "price_1OrreryPro000000000000";
/// The price of the enterprise plan, as the seeds name it.
pub const PRICE_ENTERPRISE: &str = "price_1OrreryEnterprise00000";

/// Runs every check on `data`; panics on the first that fails.
pub fn check(data: &[u8]) {
    let (header, payload) = split(data);
    let now = OffsetDateTime::from_unix_timestamp(NOW).expect("NOW is a time");
    let prices = prices();
    let _ = parse(payload, &header, SECRET, now, &prices);

    let Ok(text) = std::str::from_utf8(payload) else {
        return;
    };
    let t = header_time(&header).unwrap_or(NOW);
    let signed = Webhook::generate_test_header(text, SECRET, Some(t));
    let in_tolerance = (i128::from(NOW) - i128::from(t)).abs() <= i128::from(TOLERANCE_SECONDS);
    match parse(payload, &signed, SECRET, now, &prices) {
        Err(BillingError::BadSignature) => assert!(
            !in_tolerance,
            "a signature made with the secret {} s from now was refused",
            i128::from(NOW) - i128::from(t)
        ),
        _ => assert!(
            in_tolerance,
            "a signature made {} s from now was accepted",
            i128::from(NOW) - i128::from(t)
        ),
    }
}

/// The prices the checks run with.
pub fn prices() -> Prices {
    Prices {
        pro: PRICE_PRO.to_owned(),
        enterprise: PRICE_ENTERPRISE.to_owned(),
    }
}

/// The header (up to the first newline, lossily decoded) and the payload (the rest).
pub fn split(data: &[u8]) -> (String, &[u8]) {
    let (header, payload) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    (String::from_utf8_lossy(header).into_owned(), payload)
}

/// The time of the header's last `t=` pair, when it is a number.
fn header_time(header: &str) -> Option<i64> {
    header
        .split(',')
        .filter_map(|pair| pair.strip_prefix("t="))
        .next_back()?
        .parse()
        .ok()
}
