//! The grammar of node ids, port names and agent ids.
//!
//! An id is one or more segments joined by `/`; a segment is ASCII letters, digits, `_` and `-`,
//! starting with a letter, digit or `_`. Authored graphs use single-segment ids; a `/` marks a
//! node inlined from a custom agent by [`flatten`](crate::flatten()) (`billing/classify`). A `.`
//! never appears in an id: it separates a node from its port in an edge (`classify.text`).

/// The longest id, port name or agent id accepted, in bytes.
pub const MAX_ID_LEN: usize = 128;

/// Why a string is not a valid id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdError {
    /// The string is empty.
    #[error("an id cannot be empty")]
    Empty,
    /// The string is longer than [`MAX_ID_LEN`].
    #[error("an id is at most {MAX_ID_LEN} bytes, this one has {0}")]
    TooLong(usize),
    /// A character outside the grammar.
    #[error("character {0:?} is not allowed in an id (use letters, digits, `_` and `-`)")]
    BadChar(char),
    /// A segment starts with `-`.
    #[error("an id segment cannot start with `-`")]
    LeadingDash,
    /// A `/` where only one segment is allowed, or an empty segment.
    #[error("`/` is reserved for the ids of flattened agents")]
    Namespaced,
}

/// Checks a single-segment name: a port name, an agent id, or an authored node id.
pub fn check_name(s: &str) -> Result<(), IdError> {
    check_len(s)?;
    check_segment(s)
}

/// Checks an id that may have several `/`-separated segments.
pub fn check_path(s: &str) -> Result<(), IdError> {
    check_len(s)?;
    for segment in s.split('/') {
        if segment.is_empty() {
            return Err(IdError::Namespaced);
        }
        check_segment(segment)?;
    }
    Ok(())
}

fn check_len(s: &str) -> Result<(), IdError> {
    match s.len() {
        0 => Err(IdError::Empty),
        n if n > MAX_ID_LEN => Err(IdError::TooLong(n)),
        _ => Ok(()),
    }
}

fn check_segment(s: &str) -> Result<(), IdError> {
    // Bytes, not chars: every allowed character is ASCII, and this runs for every id.
    if let Some(at) = s
        .bytes()
        .position(|b| !(b.is_ascii_alphanumeric() || b == b'_' || b == b'-'))
    {
        let c = s[at..].chars().next().unwrap_or_default();
        return Err(if c == '/' {
            IdError::Namespaced
        } else {
            IdError::BadChar(c)
        });
    }
    if s.starts_with('-') {
        return Err(IdError::LeadingDash);
    }
    if s.is_empty() {
        return Err(IdError::Empty);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_grammar() {
        assert_eq!(check_name("classify_2"), Ok(()));
        assert_eq!(check_name("a-b"), Ok(()));
        assert_eq!(check_name(""), Err(IdError::Empty));
        assert_eq!(check_name("-a"), Err(IdError::LeadingDash));
        assert_eq!(check_name("a.b"), Err(IdError::BadChar('.')));
        assert_eq!(check_name("a b"), Err(IdError::BadChar(' ')));
        assert_eq!(check_name("a/b"), Err(IdError::Namespaced));
        assert_eq!(check_name(&"x".repeat(129)), Err(IdError::TooLong(129)));
    }

    #[test]
    fn paths_allow_segments() {
        assert_eq!(check_path("billing/classify"), Ok(()));
        assert_eq!(check_path("billing//classify"), Err(IdError::Namespaced));
        assert_eq!(check_path("/a"), Err(IdError::Namespaced));
        assert_eq!(check_path("a/b"), Ok(()));
        assert_eq!(check_path("é"), Err(IdError::BadChar('é')));
    }
}
