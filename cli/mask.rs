//! `run --mask`: replaces every secret value in a byte stream by `*****`, streaming.
//!
//! A value may arrive split across two reads, and a short value may be the beginning of a
//! longer one, so the masker keeps back the last (longest value − 1) bytes until more input
//! (or the end) decides them. Bytes that can no longer start a value are passed on at once.

use regex::bytes::Regex;

pub const MASK: &[u8] = b"*****";

pub struct Masker {
    pattern: Option<Regex>,
    longest: usize,
    pending: Vec<u8>,
}

impl Masker {
    /// Masks each of `values` (empty ones are ignored). At a position where several values
    /// match, the longest one is masked.
    pub fn new<'a>(values: impl IntoIterator<Item = &'a str>) -> Self {
        let mut values: Vec<&str> = values.into_iter().filter(|v| !v.is_empty()).collect();
        // Leftmost-first alternation: longer values first, so the longest match wins.
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        values.dedup();
        let longest = values.first().map_or(0, |v| v.len());
        let alternation = values.iter().map(|v| regex::escape(v)).collect::<Vec<_>>().join("|");
        // Escaped literals always compile; a size limit is the only way to fail, and then
        // nothing could be masked, so the caller is told (see `is_ready`).
        let pattern = (!values.is_empty())
            .then(|| regex::bytes::RegexBuilder::new(&alternation).size_limit(1 << 28).build().ok())
            .flatten();
        Self { pattern, longest, pending: Vec::new() }
    }

    /// False when the values could not be compiled into a pattern (far beyond any real set).
    pub fn is_ready(&self) -> bool {
        self.pattern.is_some() || self.longest == 0
    }

    /// Takes the next bytes of the stream (`end`: there are no more) and returns what may be
    /// written now, masked.
    pub fn feed(&mut self, input: &[u8], end: bool) -> Vec<u8> {
        self.pending.extend_from_slice(input);
        let Some(pattern) = &self.pattern else {
            return std::mem::take(&mut self.pending);
        };
        // A match starting before `decided` lies wholly inside `pending`, whatever comes next.
        let decided = if end { self.pending.len() } else { (self.pending.len() + 1).saturating_sub(self.longest) };
        let mut out = Vec::with_capacity(self.pending.len());
        let mut written = 0;
        for found in pattern.find_iter(&self.pending) {
            if found.start() >= decided {
                break;
            }
            out.extend_from_slice(&self.pending[written..found.start()]);
            out.extend_from_slice(MASK);
            written = found.end();
        }
        let release = written.max(decided);
        out.extend_from_slice(&self.pending[written..release]);
        self.pending.drain(..release);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masked_in_pieces(values: &[&str], input: &str, piece: usize) -> String {
        let mut masker = Masker::new(values.iter().copied());
        let mut out = Vec::new();
        for chunk in input.as_bytes().chunks(piece) {
            out.extend(masker.feed(chunk, false));
        }
        out.extend(masker.feed(&[], true));
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn masks_values_split_across_reads() {
        let input = "token=s3cr3t-value and again s3cr3t-value, done";
        for piece in 1..input.len() + 1 {
            assert_eq!(
                masked_in_pieces(&["s3cr3t-value"], input, piece),
                "token=***** and again *****, done",
                "piece {piece}"
            );
        }
    }

    #[test]
    fn longest_value_wins_and_prefix_is_not_leaked() {
        for piece in 1..12 {
            assert_eq!(masked_in_pieces(&["abc", "abcdef"], "xabcdefy abcz", piece), "x*****y *****z", "piece {piece}");
        }
    }

    #[test]
    fn without_values_passes_everything_through_at_once() {
        let mut masker = Masker::new(["", ""]);
        assert_eq!(masker.feed(b"hello", false), b"hello");
        let mut masker = Masker::new(["long-secret"]);
        assert_eq!(masker.feed(b"0123456789abcdef", false), b"012345");
    }
}
