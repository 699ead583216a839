//! `.env` files as python-dotenv (1.x) reads them, and written so that it reads them back.
//!
//! Reading uses python-dotenv's own grammar (its `parser.py` regular expressions, which the
//! `regex` crate matches with the same leftmost-first semantics): `export ` prefixes, `#`
//! comments, single quotes (only `\\` and `\'` are escapes), double quotes (`\\ \' \" \a \b \f
//! \n \r \t \v`), values spanning lines inside quotes, unquoted values cut at ` #`. Line ends
//! are normalised first as Python's text mode does. Two deliberate differences: a statement
//! python-dotenv would skip with a warning is an error here (an import must not lose a key
//! silently), and `${VAR}` is not expanded (python-dotenv's `interpolate=False`), so that an
//! import never copies the importer's own environment into a group.
//!
//! dotenvy was not used: it expands `$VAR` as well as `${VAR}` and treats escapes in single
//! quotes differently, so files would not read as python-dotenv reads them.

use std::sync::LazyLock;

use regex::Regex;

use crate::error::{CliError, Result};

fn anchored(pattern: &str) -> Regex {
    // Every pattern is a constant from this file; the test below compiles them all.
    Regex::new(&format!("^(?:{pattern})")).unwrap_or_else(|e| panic!("bad built-in pattern {pattern}: {e}"))
}

static MULTILINE_WHITESPACE: LazyLock<Regex> = LazyLock::new(|| anchored(r"\s*"));
static WHITESPACE: LazyLock<Regex> = LazyLock::new(|| anchored(r"[^\S\r\n]*"));
static EXPORT: LazyLock<Regex> = LazyLock::new(|| anchored(r"(?:export[^\S\r\n]+)?"));
static SINGLE_QUOTED_KEY: LazyLock<Regex> = LazyLock::new(|| anchored(r"'([^']+)'"));
static UNQUOTED_KEY: LazyLock<Regex> = LazyLock::new(|| anchored(r"([^=\#\s]+)"));
static EQUAL_SIGN: LazyLock<Regex> = LazyLock::new(|| anchored(r"(=[^\S\r\n]*)"));
static SINGLE_QUOTED_VALUE: LazyLock<Regex> = LazyLock::new(|| anchored(r"'((?:\\'|[^'])*)'"));
static DOUBLE_QUOTED_VALUE: LazyLock<Regex> = LazyLock::new(|| anchored(r#""((?:\\"|[^"])*)""#));
static UNQUOTED_VALUE: LazyLock<Regex> = LazyLock::new(|| anchored(r"([^\r\n]*)"));
static COMMENT: LazyLock<Regex> = LazyLock::new(|| anchored(r"(?:[^\S\r\n]*#[^\r\n]*)?"));
static END_OF_LINE: LazyLock<Regex> = LazyLock::new(|| anchored(r"[^\S\r\n]*(?:\r\n|\n|\r|$)"));
static INLINE_COMMENT: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\s+#.*").unwrap_or_else(|e| panic!("{e}")));

/// Parses `text` into its bindings, in file order (a later binding of a key wins when
/// collected into a map, as in python-dotenv).
pub fn parse(text: &str) -> Result<Vec<(String, String)>> {
    // Python's text mode turns \r\n and lone \r into \n before python-dotenv sees the text.
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let mut reader = Reader { text: &text, pos: 0 };
    let mut bindings = Vec::new();
    loop {
        reader.read(&MULTILINE_WHITESPACE);
        if reader.pos >= text.len() {
            return Ok(bindings);
        }
        let line = 1 + text[..reader.pos].matches('\n').count();
        let at = |what: &str| CliError::failed(format!("line {line}: {what}"));
        reader.read(&EXPORT);
        let key = match reader.peek() {
            Some('#') => None,
            Some('\'') => Some(reader.group(&SINGLE_QUOTED_KEY).ok_or_else(|| at("unterminated quoted key"))?),
            _ => Some(reader.group(&UNQUOTED_KEY).ok_or_else(|| at("expected KEY=VALUE"))?),
        };
        reader.read(&WHITESPACE);
        let value = if reader.peek() == Some('=') {
            reader.read(&EQUAL_SIGN);
            Some(value(&mut reader).ok_or_else(|| at("unterminated quoted value"))?)
        } else {
            None
        };
        reader.read(&COMMENT);
        if reader.read(&END_OF_LINE).is_none() {
            return Err(at("unexpected text after the value (quote values that hold spaces and quotes)"));
        }
        match (key, value) {
            (Some(key), Some(value)) => bindings.push((key.to_owned(), value)),
            (Some(key), None) => return Err(at(&format!("{key} has no `=` and no value"))),
            (None, _) => {}
        }
    }
}

struct Reader<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Reader<'a> {
    fn peek(&self) -> Option<char> {
        self.text[self.pos..].chars().next()
    }

    /// Matches `regex` at the current position and moves past it.
    fn read(&mut self, regex: &Regex) -> Option<regex::Captures<'a>> {
        let captures = regex.captures(&self.text[self.pos..])?;
        self.pos += captures.get(0).map_or(0, |m| m.end());
        Some(captures)
    }

    /// The first group of `regex` matched at the current position.
    fn group(&mut self, regex: &Regex) -> Option<&'a str> {
        self.read(regex).and_then(|c| c.get(1)).map(|m| m.as_str())
    }
}

fn value(reader: &mut Reader<'_>) -> Option<String> {
    match reader.peek() {
        Some('\'') => reader.group(&SINGLE_QUOTED_VALUE).map(|v| decode(v, "\\'")),
        Some('"') => reader.group(&DOUBLE_QUOTED_VALUE).map(|v| decode(v, "\\'\"abfnrtv")),
        None | Some('\n') | Some('\r') => Some(String::new()),
        Some(_) => {
            let part = reader.group(&UNQUOTED_VALUE)?;
            Some(INLINE_COMMENT.replace(part, "").trim_end().to_owned())
        }
    }
}

/// Replaces each `\c` with `c` in `escapes` by the character it stands for, left to right.
fn decode(raw: &str, escapes: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        match chars.peek() {
            Some(&next) if c == '\\' && escapes.contains(next) => {
                chars.next();
                out.push(match next {
                    'a' => '\x07',
                    'b' => '\x08',
                    'f' => '\x0c',
                    'n' => '\n',
                    'r' => '\r',
                    't' => '\t',
                    'v' => '\x0b',
                    other => other,
                });
            }
            _ => out.push(c),
        }
    }
    out
}

/// One `KEY=VALUE` line (or lines) that python-dotenv and [`parse`] read back as exactly `value`.
///
/// Single quotes hold anything but a carriage return (Python's text mode would turn it into a
/// line feed) and a trailing backslash (python-dotenv's pattern would then run past the
/// closing quote); double quotes with `\r` and `\n` escapes hold those; a value needing both
/// is refused rather than written wrongly.
pub fn format_binding(key: &str, value: &str) -> Result<String> {
    let trailing_backslash = value.ends_with('\\');
    if !value.contains('\r') && !trailing_backslash {
        return Ok(format!("{key}='{}'", value.replace('\\', "\\\\").replace('\'', "\\'")));
    }
    if trailing_backslash && safe_unquoted(value) {
        return Ok(format!("{key}={value}"));
    }
    if !trailing_backslash && !value.contains("${") {
        let escaped = value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n").replace('\r', "\\r");
        return Ok(format!("{key}=\"{escaped}\""));
    }
    Err(CliError::failed(format!(
        "the value of {key} cannot be written to a .env file so that python-dotenv reads it back exactly \
         (it ends with a backslash and holds a line break, or holds both a carriage return and `${{`); use --format json"
    )))
}

/// Whether python-dotenv reads `value` written without quotes as exactly `value`.
fn safe_unquoted(value: &str) -> bool {
    let starts_plain = value.chars().next().is_some_and(|c| !c.is_whitespace() && c != '\'' && c != '"');
    starts_plain
        && !value.ends_with(char::is_whitespace)
        && !value.contains(['\n', '\r'])
        && !value.contains("${")
        && !INLINE_COMMENT.is_match(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> String {
        let bindings = parse(text).unwrap_or_else(|e| panic!("{text:?}: {e}"));
        assert_eq!(bindings.len(), 1, "{text:?} → {bindings:?}");
        bindings[0].1.clone()
    }

    // Cases from python-dotenv's documentation and tests/test_parser.py.
    #[test]
    fn reads_as_python_dotenv_does() {
        assert_eq!(one("a=b"), "b");
        assert_eq!(one("a = b"), "b");
        assert_eq!(one("export a=b"), "b");
        assert_eq!(one(" a = b \n"), "b");
        assert_eq!(one("a=b c"), "b c");
        assert_eq!(one("a=b # comment"), "b");
        assert_eq!(one("a=b#c"), "b#c");
        assert_eq!(one("a='b # c'"), "b # c");
        assert_eq!(one("a=\"b\\nc\""), "b\nc");
        assert_eq!(one("a='b\\nc'"), "b\\nc");
        assert_eq!(one("a='b\\'c'"), "b'c");
        assert_eq!(one("a=\"b\\\"c\""), "b\"c");
        assert_eq!(one("a='b\nc'"), "b\nc");
        assert_eq!(one("a=\"b\nc\""), "b\nc");
        assert_eq!(one("a="), "");
        assert_eq!(one("a=\"\""), "");
        assert_eq!(one("a=${B}"), "${B}");
        assert_eq!(one("'a b'=c"), "c");
        assert_eq!(one("a=é ü 日本"), "é ü 日本");
        assert_eq!(one("a=\"\\t\\\\\\u\""), "\t\\\\u");
        assert_eq!(parse("# comment\n\n  # another\na=b\nc=d\n").unwrap().len(), 2);
        assert_eq!(parse("a=b\r\nc='x\r\ny'").unwrap()[1].1, "x\ny");
    }

    #[test]
    fn refuses_what_python_dotenv_would_skip() {
        assert!(parse("a='unterminated").unwrap_err().to_string().contains("line 1"));
        assert!(parse("a=b\nnovalue\n").unwrap_err().to_string().contains("line 2"));
        assert!(parse("a='b' c").is_err());
    }

    #[test]
    fn written_values_read_back_exactly() {
        let values = [
            "plain",
            "with spaces",
            " leading and trailing ",
            "quote ' and \" both",
            "a=b=c",
            "# not a comment",
            "x #y",
            "line\nbreak",
            "cr\rlf\r\n",
            "back\\slash",
            "ends with \\",
            "\\",
            "${HOME}",
            "é ü 日本 🙂",
            "",
            "'quoted'",
            "\"dq\"",
            "tab\there",
            "\\'",
            "\\\\'",
        ];
        let mut file = String::new();
        for (i, v) in values.iter().enumerate() {
            file.push_str(&format_binding(&format!("K{i}"), v).unwrap());
            file.push('\n');
        }
        let back = parse(&file).unwrap();
        for (i, v) in values.iter().enumerate() {
            assert_eq!(back[i], (format!("K{i}"), v.to_string()), "{file}");
        }
        assert!(format_binding("K", "line\nends \\").is_err());
    }
}
