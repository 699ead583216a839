//! One audit event as stored, and its hash: the canonical bytes of every field but `hash`,
//! chained to the previous event of its chain.
//!
//! It owns the event's shape and the hashing rule that `audit verify` recomputes; it must not
//! know where events are stored (`crate::store::audit`) or how a request fills one
//! (`super::scope`). An event never holds a value or a token: keys, ids, FQNs, versions and
//! subjects only.

use serde::Serialize;
use sha2::{Digest as _, Sha256};

/// An audit event. `chain`, `seq`, `prev_hash` and `hash` are set when it is appended.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub id: String,
    pub tenant_id: String,
    pub chain: String,
    pub seq: i64,
    /// Epoch milliseconds.
    pub at: i64,
    pub request_id: String,
    /// The document's operationId (`getSecret`).
    pub action: String,
    /// `user`, `virtualaccount`, or `token` (an unknown token: `actor_id` is its fingerprint).
    pub actor_type: String,
    pub actor_id: String,
    /// E-mail or account name; '' when unknown.
    pub actor_name: String,
    /// The client address as the trusted-proxy rules give it; '' when unknown.
    pub source: String,
    /// JSON array of `{type, id?, fqn?}`, exactly the text that was hashed.
    pub resources: String,
    pub status_code: i64,
    /// JSON object of what a write changed (`{}` for reads and refusals).
    pub changes: String,
    pub prev_hash: String,
    pub hash: String,
}

/// The hashed fields, in a fixed order: serde serializes a struct's fields in declaration order,
/// so these bytes are the same wherever they are computed.
#[derive(Serialize)]
struct Canonical<'a> {
    v: u8,
    id: &'a str,
    tenant_id: &'a str,
    chain: &'a str,
    seq: i64,
    at: i64,
    request_id: &'a str,
    action: &'a str,
    actor_type: &'a str,
    actor_id: &'a str,
    actor_name: &'a str,
    source: &'a str,
    resources: &'a str,
    status_code: i64,
    changes: &'a str,
}

impl Event {
    /// SHA-256 over `prev_hash`, a newline and the canonical bytes, hex. The chain and seq are
    /// inside the hashed bytes, so an event moved to another place does not verify.
    pub fn compute_hash(&self) -> String {
        let canonical = Canonical {
            v: 1,
            id: &self.id,
            tenant_id: &self.tenant_id,
            chain: &self.chain,
            seq: self.seq,
            at: self.at,
            request_id: &self.request_id,
            action: &self.action,
            actor_type: &self.actor_type,
            actor_id: &self.actor_id,
            actor_name: &self.actor_name,
            source: &self.source,
            resources: &self.resources,
            status_code: self.status_code,
            changes: &self.changes,
        };
        let mut digest = Sha256::new();
        digest.update(self.prev_hash.as_bytes());
        digest.update(b"\n");
        // Serializing strings and integers cannot fail.
        digest.update(serde_json::to_vec(&canonical).unwrap_or_default());
        hex(&digest.finalize())
    }

    /// The event as one JSON line for the SIEM file (no trailing newline).
    pub fn json_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> Event {
        Event {
            id: "e1".into(),
            tenant_id: "t".into(),
            chain: "t/0".into(),
            seq: 1,
            at: 5,
            request_id: "r".into(),
            action: "getSecret".into(),
            actor_type: "user".into(),
            actor_id: "u".into(),
            actor_name: "a@b".into(),
            source: "127.0.0.1".into(),
            resources: "[]".into(),
            status_code: 200,
            changes: "{}".into(),
            prev_hash: String::new(),
            hash: String::new(),
        }
    }

    #[test]
    fn every_field_and_the_previous_hash_change_the_hash() {
        let base = event().compute_hash();
        assert_eq!(base.len(), 64);
        assert_eq!(base, event().compute_hash(), "deterministic");
        let mut e = event();
        e.seq = 2;
        assert_ne!(e.compute_hash(), base);
        let mut e = event();
        e.status_code = 403;
        assert_ne!(e.compute_hash(), base);
        let mut e = event();
        e.prev_hash = "00".into();
        assert_ne!(e.compute_hash(), base);
        let mut e = event();
        e.hash = "ignored".into();
        assert_eq!(e.compute_hash(), base, "the hash is not part of its own input");
    }
}
