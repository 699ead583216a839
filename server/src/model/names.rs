//! Names the server checks by pattern, each rule written once: a `const` pattern, the check
//! that implements it, and a newtype that only holds a value passing the check. The newtypes
//! deserialize with `#[serde(try_from = "String")]`, so a request carrying a bad name is refused
//! while its body is parsed (422 `validation_failed`, the field's path as `details[].field`,
//! "must match <pattern>" as the message; see `api::extract`), and their utoipa schema carries the
//! same `const`, so the document's `pattern` and the check cannot drift apart unnoticed (the
//! contract test compares them).
//!
//! This module must not know about HTTP or storage: it says what a valid name is, nothing more.

use std::{fmt, ops::Deref};

use serde::{Deserialize, Serialize};
use utoipa::{
    PartialSchema, ToSchema,
    openapi::{ObjectBuilder, RefOr, Schema, Type},
};

/// Group names; also team, virtual-account and tenant names. No `:`, so a name can sit inside an
/// FQN (`<tenant>:<group>`).
pub const GROUP_NAME_PATTERN: &str = "^[A-Za-z0-9][A-Za-z0-9._-]{1,126}$";
/// Secret keys: a valid environment variable name, plus `.` and `-`.
pub const SECRET_KEY_PATTERN: &str = "^[A-Za-z_][A-Za-z0-9_.-]{0,254}$";
/// Personal access token names (TrueFoundry's rule): 3 to 36 characters, lowercase letters,
/// digits and `-`, starting with a letter and not ending with `-`.
pub const TOKEN_NAME_PATTERN: &str = "^[a-z][a-z0-9-]{1,34}[a-z0-9]$";
/// A secret group named by FQN, `<tenant>:<group>`: two [`GROUP_NAME_PATTERN`]s joined by `:`
/// (a unit test checks that it is exactly that).
pub const GROUP_FQN_PATTERN: &str = "^[A-Za-z0-9][A-Za-z0-9._-]{1,126}:[A-Za-z0-9][A-Za-z0-9._-]{1,126}$";

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

/// `^[a-z][a-z0-9-]{1,34}[a-z0-9]$`
pub fn is_token_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    (3..=36).contains(&bytes.len())
        && bytes[0].is_ascii_lowercase()
        && bytes.iter().all(|&b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && bytes.last().is_some_and(|&b| b != b'-')
}

/// `<tenant>:<group>`, both group names (see [`GROUP_FQN_PATTERN`]).
pub fn is_group_fqn(fqn: &str) -> bool {
    fqn.split_once(':').is_some_and(|(tenant, group)| is_group_name(tenant) && is_group_name(group))
}

/// A value that does not match its pattern; the message serde reports for the field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PatternMismatch(pub &'static str);

impl fmt::Display for PatternMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "must match {}", self.0)
    }
}

/// A `String` newtype that holds only values passing `$check`, with a string schema carrying
/// `$pattern` and whatever `$more` adds to it (the schema is inlined where used: the document
/// writes the pattern into each schema).
macro_rules! checked_string {
    ($(#[$doc:meta])* $name:ident, $pattern:expr, $check:expr, $more:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[serde(try_from = "String")]
        pub struct $name(String);

        impl $name {
            pub const PATTERN: &'static str = $pattern;

            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = PatternMismatch;

            fn try_from(value: String) -> Result<Self, Self::Error> {
                if $check(value.as_str()) { Ok(Self(value)) } else { Err(PatternMismatch($pattern)) }
            }
        }

        impl Deref for $name {
            type Target = str;

            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                let more: fn(ObjectBuilder) -> ObjectBuilder = $more;
                more(ObjectBuilder::new().schema_type(Type::String).pattern(Some($pattern))).into()
            }
        }

        impl ToSchema for $name {}
    };
}

checked_string!(
    /// A group, team, virtual-account or tenant name ([`GROUP_NAME_PATTERN`]).
    GroupName,
    GROUP_NAME_PATTERN,
    is_group_name,
    |schema| schema
);
checked_string!(
    /// A secret key ([`SECRET_KEY_PATTERN`]).
    SecretKey,
    SECRET_KEY_PATTERN,
    is_secret_key,
    |schema| schema
);
checked_string!(
    /// A personal access token's name ([`TOKEN_NAME_PATTERN`]).
    TokenName,
    TOKEN_NAME_PATTERN,
    is_token_name,
    |schema| schema
);
checked_string!(
    /// A secret group's FQN, `<tenant>:<group>` ([`GROUP_FQN_PATTERN`]).
    GroupFqn,
    GROUP_FQN_PATTERN,
    is_group_fqn,
    // The bounds the document gave the field before it had a pattern (which implies them).
    |schema| schema.min_length(Some(1)).max_length(Some(256))
);

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
    fn token_names_follow_the_pattern() {
        for good in ["abc", "ci-deploy", "a1b", &format!("a{}", "b".repeat(35))] {
            assert!(is_token_name(good), "{good}");
        }
        for bad in ["ab", "Abc", "1bc", "ab-", "a_b", &format!("a{}", "b".repeat(36))] {
            assert!(!is_token_name(bad), "{bad}");
        }
    }

    #[test]
    fn group_fqns_are_two_group_names() {
        let body = GROUP_NAME_PATTERN.trim_start_matches('^').trim_end_matches('$');
        assert_eq!(GROUP_FQN_PATTERN, format!("^{body}:{body}$"));
        for good in ["t1:payments", "acme.corp:a-b"] {
            assert!(is_group_fqn(good), "{good}");
        }
        for bad in ["0", "t:payments", "t1:", ":payments", "t1:pay:ments", "t1:p", "t 1:payments"] {
            assert!(!is_group_fqn(bad), "{bad}");
        }
    }

    /// Each hand-written check says yes exactly where its pattern matches (JSON Schema patterns
    /// are ECMA-262; these use only what `regex` reads the same way), over every string of up to
    /// 3 characters from an alphabet with each character class the patterns tell apart, and
    /// around each length bound.
    #[test]
    fn each_check_agrees_with_its_pattern() {
        let alphabet = ['a', 'Z', '0', '_', '.', '-', ':', ' ', 'é'];
        let mut samples = vec![String::new()];
        for _ in 0..3 {
            let longer: Vec<String> =
                samples.iter().flat_map(|s| alphabet.iter().map(move |c| format!("{s}{c}"))).collect();
            samples.extend(longer);
        }
        for n in [35, 36, 37, 126, 127, 128, 254, 255, 256] {
            samples.push(format!("a{}", "b".repeat(n - 1)));
            samples.push(format!("t1:a{}", "b".repeat(n - 1)));
        }
        type Check = fn(&str) -> bool;
        let checks: [(&str, Check); 4] = [
            (GROUP_NAME_PATTERN, is_group_name),
            (SECRET_KEY_PATTERN, is_secret_key),
            (TOKEN_NAME_PATTERN, is_token_name),
            (GROUP_FQN_PATTERN, is_group_fqn),
        ];
        for (pattern, check) in checks {
            let regex = regex::Regex::new(pattern).expect("a valid pattern");
            for sample in &samples {
                assert_eq!(check(sample), regex.is_match(sample), "{pattern} on {sample:?}");
            }
        }
    }

    #[test]
    fn a_bad_name_is_refused_while_parsing_with_the_pattern() {
        let err = serde_json::from_str::<GroupName>(r#""-ab""#).expect_err("not a group name");
        assert!(err.to_string().starts_with(&format!("must match {GROUP_NAME_PATTERN}")), "{err}");
        let name: GroupName = serde_json::from_str(r#""payments""#).expect("a group name");
        assert_eq!(serde_json::to_string(&name).ok().as_deref(), Some(r#""payments""#));
    }
}
