//! The rules that JSON shape alone does not express (names, keys, sizes, uniqueness). Each check mirrors a `pattern`,
//! bound or uniqueness rule of the OpenAPI document, and fails with a 422 naming the field.

use std::collections::HashSet;

use crate::{
    error::ApiError,
    model::{GROUP_NAME_PATTERN, MAX_SECRETS_PER_GROUP, MAX_VALUE_CHARS, SECRET_KEY_PATTERN, SECRET_VALUE_PATTERN},
};

/// `^[A-Za-z0-9][A-Za-z0-9._-]{1,126}$`
pub fn is_group_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    (2..=127).contains(&bytes.len())
        && bytes[0].is_ascii_alphanumeric()
        && bytes[1..].iter().all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// `^[A-Za-z_][A-Za-z0-9_.-]{0,254}$`
pub fn is_secret_key(key: &str) -> bool {
    let bytes = key.as_bytes();
    (1..=255).contains(&bytes.len())
        && (bytes[0].is_ascii_alphabetic() || bytes[0] == b'_')
        && bytes[1..].iter().all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// `^(user|team|virtualaccount):[^:\s]+$`, at most 320 characters.
pub fn is_collaborator_subject(subject: &str) -> bool {
    subject.chars().count() <= 320
        && subject.split_once(':').is_some_and(|(kind, rest)| {
            matches!(kind, "user" | "team" | "virtualaccount")
                && !rest.is_empty()
                && !rest.chars().any(|c| c == ':' || is_ecma_whitespace(c))
        })
}

/// `\s` of the document's patterns, which JSON Schema reads as ECMA-262 regular expressions:
/// WhiteSpace and LineTerminator. Rust's `char::is_whitespace` (Unicode White_Space) differs in
/// two characters: it has U+0085 and lacks U+FEFF, so `user:a\u{85}b` matched the document and
/// was refused (schemathesis' `positive_data_acceptance` found it).
fn is_ecma_whitespace(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\u{b}' | '\u{c}' | '\r' | ' ' | '\u{a0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200a}' | '\u{2028}' | '\u{2029}' | '\u{202f}' | '\u{205f}' | '\u{3000}' | '\u{feff}'
    )
}

pub fn group_name(field: &str, name: &str) -> Result<(), ApiError> {
    if is_group_name(name) {
        Ok(())
    } else {
        Err(ApiError::validation(field, format!("must match {GROUP_NAME_PATTERN}")))
    }
}

/// `pattern: ^[^\x00]*$` of free text that is stored as is (PostgreSQL's text cannot hold U+0000).
pub fn no_nul(field: &str, text: &str) -> Result<(), ApiError> {
    if text.contains('\0') {
        Err(ApiError::validation(field, format!("must match {SECRET_VALUE_PATTERN} (no NUL character)")))
    } else {
        Ok(())
    }
}

pub fn length(field: &str, text: &str, min: usize, max: usize) -> Result<(), ApiError> {
    let len = text.chars().count();
    if (min..=max).contains(&len) {
        Ok(())
    } else {
        Err(ApiError::validation(field, format!("must be {min} to {max} characters long")))
    }
}

/// Keys valid and distinct, values within the size limit (`None` = keep the current value), at
/// most the per-group count.
pub fn secrets<'a>(entries: impl ExactSizeIterator<Item = (&'a str, Option<&'a str>)>) -> Result<(), ApiError> {
    if entries.len() > MAX_SECRETS_PER_GROUP {
        return Err(ApiError::validation("secrets", format!("must have at most {MAX_SECRETS_PER_GROUP} items")));
    }
    let mut seen = HashSet::new();
    for (index, (key, value)) in entries.enumerate() {
        if !is_secret_key(key) {
            return Err(ApiError::validation(
                format!("secrets[{index}].key"),
                format!("must match {SECRET_KEY_PATTERN}"),
            ));
        }
        if !seen.insert(key) {
            return Err(ApiError::validation(format!("secrets[{index}].key"), format!("repeats the key {key}")));
        }
        if value.is_some_and(|v| v.chars().count() > MAX_VALUE_CHARS) {
            return Err(ApiError::validation(
                format!("secrets[{index}].value"),
                format!("must be at most {MAX_VALUE_CHARS} characters"),
            ));
        }
        // `pattern: ^[^\x00]*$`: PostgreSQL's text cannot hold U+0000, and a value must read back
        // exactly as written on either backend (schemathesis found the 500 on PostgreSQL).
        if value.is_some_and(|v| v.contains('\0')) {
            return Err(ApiError::validation(
                format!("secrets[{index}].value"),
                format!("must match {SECRET_VALUE_PATTERN} (no NUL character)"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_names_follow_the_pattern() {
        for good in ["ab", "payments", "a.b_c-d", "0x", &"a".repeat(127)] {
            assert!(is_group_name(good), "{good}");
        }
        for bad in ["", "a", "-ab", ".ab", "a b", "t:g", "naïve", &"a".repeat(128)] {
            assert!(!is_group_name(bad), "{bad}");
        }
    }

    #[test]
    fn secret_keys_follow_the_pattern() {
        for good in ["A", "_", "DB_PASSWORD", "a.b-c", &"k".repeat(255)] {
            assert!(is_secret_key(good), "{good}");
        }
        for bad in ["", "1A", "-a", "a b", "a:b", "ключ", &"k".repeat(256)] {
            assert!(!is_secret_key(bad), "{bad}");
        }
    }

    #[test]
    fn collaborator_subjects_follow_the_pattern() {
        for good in ["user:a@b.c", "team:ops", "virtualaccount:ci"] {
            assert!(is_collaborator_subject(good), "{good}");
        }
        for bad in ["user:", "group:x", "user:a b", "user:a:b", "a@b.c", "user:a\u{feff}b", "user:a\u{2028}"] {
            assert!(!is_collaborator_subject(bad), "{bad}");
        }
        // Not whitespace to ECMA-262 (U+0085 is to Unicode), so the pattern takes it.
        for good in ["user:a\u{85}b", "team:\u{1c}x", "user:\u{180e}"] {
            assert!(is_collaborator_subject(good), "{good:?}");
        }
    }

    #[test]
    fn secrets_reject_repeats_bad_keys_and_big_values() {
        let big = "x".repeat(MAX_VALUE_CHARS + 1);
        assert!(secrets([("A", Some("1")), ("B", None)].into_iter()).is_ok());
        assert!(secrets([("A", Some("1")), ("A", Some("2"))].into_iter()).is_err());
        assert!(secrets([("1A", Some("1"))].into_iter()).is_err());
        assert!(secrets([("A", Some(big.as_str()))].into_iter()).is_err());
        assert!(secrets([("A", Some("a\0b"))].into_iter()).is_err());
        assert!(secrets([("A", Some("ünïcödé \u{1F511}"))].into_iter()).is_ok());
    }
}
