//! What an email address and a display name may be. Both are normalised (NFKC, so full-width
//! `ａdmin` is `admin`; emails lowercased) and refused when they hold characters that make one
//! identity look like another: invisible and bidirectional-control characters anywhere, and
//! letters of several scripts inside one word (`pаypal` with a Cyrillic `а`). The same rules
//! run for sign-up, Google sign-in, admin-created accounts and `orrery admin create-user`.

use unicode_normalization::UnicodeNormalization;
use unicode_security::MixedScript;

/// The longest email address (RFC 5321's path limit).
pub const EMAIL_MAX_CHARS: usize = orrery_core::store::MAX_EMAIL_CHARS;
/// The longest display name, in characters.
pub const NAME_MAX_CHARS: usize = orrery_core::store::MAX_USER_NAME_CHARS;
/// The shortest password, in characters.
pub const PASSWORD_MIN_CHARS: usize = 8;
/// The longest password, in characters (hashing cost grows with it).
pub const PASSWORD_MAX_CHARS: usize = 256;

/// Why a value was refused, for the person who typed it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

fn refused<T>(message: impl Into<String>) -> Result<T, Refused> {
    Err(Refused(message.into()))
}

/// Characters that render as nothing or reorder text: default-ignorable code points (zero-width
/// spaces and joiners, soft hyphen, variation selectors, Hangul fillers, tags), bidirectional
/// controls, and line/paragraph separators.
pub fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
        | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}'
        | '\u{FFA0}' | '\u{FFF0}'..='\u{FFFB}' | '\u{1BCA0}'..='\u{1BCA3}'
        | '\u{1D173}'..='\u{1D17A}' | '\u{E0000}'..='\u{E0FFF}')
}

/// Whether each word of `text` (split at `separators`) is written in one script (digits and
/// punctuation go with any).
fn words_single_script(text: &str, separators: &[char]) -> bool {
    text.split(|c: char| c.is_whitespace() || separators.contains(&c))
        .all(|word| word.is_single_script())
}

/// A normalised email address of a plausible shape: NFKC, trimmed, lowercased; no spaces,
/// control or invisible characters; the local part and each domain label in one script.
pub fn normalize_email(raw: &str) -> Result<String, Refused> {
    let email: String = raw.trim().nfkc().collect::<String>().to_lowercase();
    if email.is_empty() || email.chars().count() > EMAIL_MAX_CHARS {
        return refused(format!(
            "must be an email address of at most {EMAIL_MAX_CHARS} characters"
        ));
    }
    if email
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || is_invisible(c))
    {
        return refused("must not contain spaces, control or invisible characters");
    }
    let shape = "must be an email address like name@example.com";
    let Some((local, domain)) = email.split_once('@') else {
        return refused(shape);
    };
    if local.is_empty()
        || domain.len() < 3
        || !domain.contains('.')
        || domain.contains('@')
        || domain.starts_with('.')
        || domain.ends_with('.')
        || domain.contains("..")
    {
        return refused(shape);
    }
    if !words_single_script(local, &['.', '+', '-', '_']) || !words_single_script(domain, &['.']) {
        return refused("must not mix letters of different scripts (look-alike characters)");
    }
    Ok(email)
}

/// A display name: NFKC, trimmed, 1 to [`NAME_MAX_CHARS`] characters, no control or invisible
/// characters, each word in one script.
pub fn check_name(raw: &str) -> Result<String, Refused> {
    let name: String = raw.nfkc().collect::<String>().trim().to_owned();
    if name.is_empty() || name.chars().count() > NAME_MAX_CHARS {
        return refused(format!("must be 1 to {NAME_MAX_CHARS} characters"));
    }
    if name.chars().any(|c| c.is_control() || is_invisible(c)) {
        return refused("must not contain control or invisible characters");
    }
    if !words_single_script(&name, &[]) {
        return refused("must not mix letters of different scripts within a word");
    }
    Ok(name)
}

/// A name taken from elsewhere (Google's profile): normalised like [`check_name`], cut to the
/// limit, with `fallback` when nothing usable is left.
pub fn name_or(raw: Option<&str>, fallback: &str) -> String {
    raw.map(|n| n.chars().take(NAME_MAX_CHARS * 2).collect::<String>())
        .and_then(|n| {
            let cut: String = n.nfkc().collect::<String>().trim().to_owned();
            check_name(&cut.chars().take(NAME_MAX_CHARS).collect::<String>()).ok()
        })
        .unwrap_or_else(|| fallback.chars().take(NAME_MAX_CHARS).collect())
}

/// [`PASSWORD_MIN_CHARS`] to [`PASSWORD_MAX_CHARS`] characters, not only spaces.
pub fn check_password(password: &str) -> Result<(), Refused> {
    let n = password.chars().count();
    if !(PASSWORD_MIN_CHARS..=PASSWORD_MAX_CHARS).contains(&n) || password.trim().is_empty() {
        return refused(format!(
            "must be {PASSWORD_MIN_CHARS} to {PASSWORD_MAX_CHARS} characters"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalized_or_refused() {
        assert_eq!(
            normalize_email("  Ada@Example.COM ").unwrap(),
            "ada@example.com"
        );
        // Full-width letters are the ASCII ones after NFKC, so they meet the same account.
        assert_eq!(
            normalize_email("ａdmin@example.com").unwrap(),
            "admin@example.com"
        );
        assert_eq!(normalize_email("иван@пример.рф").unwrap(), "иван@пример.рф");
        assert_eq!(
            normalize_email("ivan+tag@example.com").unwrap(),
            "ivan+tag@example.com"
        );
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "ada@example",
            "a da@example.com",
            "a@b@c.com",
            "ada@.com",
            "ada@example..com",
            "admin\u{200b}@example.com",
            "ad\u{202e}min@example.com",
            "\u{0430}dmin@example.com",
            "admin@ex\u{0430}mple.com",
            "a\u{0}b@example.com",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn names_are_normalized_or_refused() {
        assert_eq!(check_name("  Ada ").unwrap(), "Ada");
        assert_eq!(check_name("Ａｄａ").unwrap(), "Ada");
        assert_eq!(check_name("José García").unwrap(), "José García");
        assert_eq!(check_name("Ada 李").unwrap(), "Ada 李");
        assert!(check_name("").is_err());
        assert!(check_name(&"x".repeat(NAME_MAX_CHARS + 1)).is_err());
        assert!(check_name(&"x".repeat(NAME_MAX_CHARS)).is_ok());
        for bad in [
            "a\u{0}b",
            "Ada\u{202e}evil",
            "Ad\u{200d}a",
            "P\u{0430}ypal",
            "a\nb",
        ] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        assert_eq!(name_or(Some("  "), "a@example.com"), "a@example.com");
        assert_eq!(name_or(Some("Ada\u{202e}"), "fallback"), "fallback");
        assert_eq!(name_or(Some("Ada"), "fallback"), "Ada");
    }

    #[test]
    fn passwords_have_bounds() {
        assert!(check_password("short").is_err());
        assert!(check_password("        ").is_err());
        assert!(check_password("long enough").is_ok());
        assert!(check_password(&"p".repeat(PASSWORD_MAX_CHARS)).is_ok());
        assert!(check_password(&"p".repeat(PASSWORD_MAX_CHARS + 1)).is_err());
    }
}
