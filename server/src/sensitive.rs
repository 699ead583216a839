//! Text that must never be shown: secret values and tokens.
//!
//! [`SecretString`] prints as `[redacted]` under `Debug` (so a `tracing` field, an `{:?}` in an
//! error or a panic message never carries the text) and zeroes its buffer when dropped. Reading
//! the text takes an explicit [`SecretString::expose`], which makes every use easy to find.
//! It (de)serialises as a plain JSON string, so wire types can hold it directly.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::Zeroizing;

#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretString(Zeroizing<String>);

impl SecretString {
    pub fn new(text: String) -> Self {
        Self(Zeroizing::new(text))
    }

    /// The text itself. Call only where the text is meant to go: encryption, hashing, the one
    /// answer that returns it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for SecretString {
    fn from(text: String) -> Self {
        Self::new(text)
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl Serialize for SecretString {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for SecretString {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Self::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_text_and_serde_is_transparent() {
        let value = SecretString::new("hunter2-canary".to_owned());
        assert_eq!(format!("{value:?}"), "[redacted]");
        assert_eq!(format!("{:?}", Some(&value)), "Some([redacted])");
        assert_eq!(serde_json::to_string(&value).unwrap(), "\"hunter2-canary\"");
        let back: SecretString = serde_json::from_str("\"x\"").unwrap();
        assert_eq!(back.expose(), "x");
    }
}
