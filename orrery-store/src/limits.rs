//! What the store accepts: lengths of names and texts, document sizes, and the characters
//! PostgreSQL cannot hold. Both backends check the same things in Rust before any SQL runs, so
//! a bad input is the same typed error on each.

use orrery_core::store::{StoreError, StoreResult};

/// Longest graph, key or template name, in characters.
pub(crate) const MAX_NAME: usize = orrery_core::store::MAX_GRAPH_NAME_CHARS;
/// Longest account name, in characters.
pub(crate) const MAX_USER_NAME: usize = orrery_core::store::MAX_USER_NAME_CHARS;
/// Longest graph description, in characters.
pub(crate) const MAX_DESCRIPTION: usize = orrery_core::store::MAX_GRAPH_DESCRIPTION_CHARS;
/// Longest email address (RFC 5321 allows 254 in practice; a little slack).
pub(crate) const MAX_EMAIL: usize = 320;
/// Longest short identifier-like text: provider ids, event kinds, methods, prefixes.
pub(crate) const MAX_TOKEN: usize = 255;
/// Longest endpoint pattern of a usage record.
pub(crate) const MAX_ENDPOINT: usize = 512;
/// Largest small JSON value (event data, mail variables), in bytes.
pub(crate) const MAX_SMALL_JSON: usize = 64 << 10;
/// Largest email template part, in bytes.
pub(crate) const MAX_TEMPLATE: usize = 256 << 10;
/// Longest error text kept for a mail; longer ones are cut.
pub(crate) const MAX_ERROR: usize = 2_000;

/// A required text: not blank, at most `max` characters, no NUL.
pub(crate) fn required(what: &str, value: &str, max: usize) -> StoreResult<()> {
    if value.trim().is_empty() {
        return Err(StoreError::Invalid(format!("{what} cannot be empty")));
    }
    optional(what, value, max)
}

/// An optional text: at most `max` characters, no NUL.
pub(crate) fn optional(what: &str, value: &str, max: usize) -> StoreResult<()> {
    let chars = value.chars().count();
    if chars > max {
        return Err(StoreError::Limit(format!(
            "{what} is {chars} characters, over the limit of {max}"
        )));
    }
    if value.contains('\0') {
        return Err(StoreError::Invalid(format!(
            "{what} cannot contain the NUL character"
        )));
    }
    Ok(())
}

/// JSON text: at most `max` bytes, and no `\u0000` escape (jsonb refuses it).
pub(crate) fn json(what: &str, text: &str, max: usize) -> StoreResult<()> {
    if text.len() > max {
        return Err(StoreError::Limit(format!(
            "{what} is {} bytes, over the limit of {max} bytes",
            text.len()
        )));
    }
    if has_nul_escape(text) {
        return Err(StoreError::Invalid(format!(
            "{what} cannot contain the NUL character"
        )));
    }
    Ok(())
}

/// An agent id: the single-segment id grammar of `orrery-core`.
pub(crate) fn agent_id(value: &str) -> StoreResult<()> {
    orrery_core::id::check_name(value)
        .map_err(|e| StoreError::Invalid(format!("agent id `{value}` is not valid: {e}")))
}

/// Cuts `text` to at most `max` characters.
pub(crate) fn truncate(text: &str, max: usize) -> String {
    text.chars().filter(|&c| c != '\0').take(max).collect()
}

/// Whether JSON text holds a `\u0000` escape (an escaped backslash before `u0000` does not
/// count).
fn has_nul_escape(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut from = 0;
    while let Some(at) = text[from..].find("\\u0000").map(|i| i + from) {
        let backslashes = bytes[..at]
            .iter()
            .rev()
            .take_while(|&&b| b == b'\\')
            .count();
        if backslashes % 2 == 0 {
            return true;
        }
        from = at + 1;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_escapes_are_found_but_escaped_backslashes_are_not() {
        assert!(has_nul_escape(r#"{"a":"\u0000"}"#));
        assert!(has_nul_escape(r#"{"a":"x\\\u0000"}"#));
        assert!(!has_nul_escape(r#"{"a":"\\u0000"}"#));
        assert!(!has_nul_escape(
            r#"{"a":"\u00001"}"#.replace("\\u0000", "\\u0001").as_str()
        ));
    }

    #[test]
    fn names_are_checked_for_blankness_length_and_nul() {
        assert!(matches!(
            required("name", " ", 5),
            Err(StoreError::Invalid(_))
        ));
        assert!(matches!(
            required("name", "abcdef", 5),
            Err(StoreError::Limit(_))
        ));
        assert!(matches!(
            required("name", "a\0", 5),
            Err(StoreError::Invalid(_))
        ));
        assert!(required("name", "héllo", 5).is_ok());
    }
}
