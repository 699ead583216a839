//! The rules that neither JSON shape nor a checked newtype (`crate::model::names`) expresses:
//! sizes counted in characters, uniqueness within a list, collaborator subjects. Each check mirrors a `pattern`,
//! bound or uniqueness rule of the OpenAPI document, and fails with a 422 naming the field.

use std::collections::HashSet;

use crate::{
    error::ApiError,
    model::{MAX_SECRETS_PER_GROUP, MAX_VALUE_CHARS, SECRET_VALUE_PATTERN},
};

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

/// Keys distinct (each is a valid `SecretKey` already), values within the size limit (`None` =
/// keep the current value), at most the per-group count.
pub fn secrets<'a>(entries: impl ExactSizeIterator<Item = (&'a str, Option<&'a str>)>) -> Result<(), ApiError> {
    if entries.len() > MAX_SECRETS_PER_GROUP {
        return Err(ApiError::validation("secrets", format!("must have at most {MAX_SECRETS_PER_GROUP} items")));
    }
    let mut seen = HashSet::new();
    for (index, (key, value)) in entries.enumerate() {
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
        assert!(secrets([("A", Some(big.as_str()))].into_iter()).is_err());
        assert!(secrets([("A", Some("a\0b"))].into_iter()).is_err());
        assert!(secrets([("A", Some("ünïcödé \u{1F511}"))].into_iter()).is_ok());
    }
}
