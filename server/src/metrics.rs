//! The process's Prometheus metrics: every series, the functions other modules call to count,
//! and the text `GET /metrics` answers (`crate::api::metrics` serves it).
//!
//! It owns metric names, types, labels and buckets (the README's "Metrics" section lists them);
//! it must not know the request, the database or the configuration, so that any module may call
//! it without an import cycle (it imports nothing of this crate). Labels are fixed enums, status
//! codes and the document's `operationId`s, never an id, a name, a path or a value: the set of
//! series is bounded whatever callers send.
//!
//! Counting is cheap enough for every request: each series' handle is registered once and kept
//! (a counter is one atomic add; a histogram sample a few atomics into a lock-free bucket that
//! [`upkeep`] or a scrape drains). The series live in one process-wide registry, as Prometheus
//! expects of a process; none of it is exposed when `SG_METRICS=off`.
//!
//! The recorder is kept here rather than installed as the `metrics` crate's global recorder: a
//! handle registered before a global install would count into nothing, and no other crate's
//! metrics reach the endpoint by accident.

use std::{
    collections::HashMap,
    sync::{LazyLock, OnceLock},
    time::Duration,
};

use ::metrics::{Counter, Gauge, Histogram, Key, KeyName, Label, Level, Metadata, Recorder as _, SharedString, Unit};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder};

/// Requests answered, by `operation` and `status`.
const HTTP_REQUESTS: &str = "sg_http_requests_total";
/// Time to answer (until the response head is ready), by `operation`.
const HTTP_DURATION: &str = "sg_http_request_duration_seconds";
const HTTP_IN_FLIGHT: &str = "sg_http_requests_in_flight";
const AUTH_FAILURES: &str = "sg_auth_failures_total";
const AUTH_CLIENTS_THROTTLED: &str = "sg_auth_clients_throttled_total";
const AUDIT_WRITTEN: &str = "sg_audit_events_written_total";
const AUDIT_FAILED: &str = "sg_audit_events_failed_total";
const POOL_CONNECTIONS: &str = "sg_db_pool_connections";
const POOL_IDLE: &str = "sg_db_pool_idle_connections";
const POOL_MAX: &str = "sg_db_pool_max_connections";
const GROUP_COMMIT_WRITES: &str = "sg_sqlite_group_commit_writes";
const TOKEN_CACHE_HITS: &str = "sg_token_cache_hits_total";
const TOKEN_CACHE_MISSES: &str = "sg_token_cache_misses_total";
const CONNECTIONS_OPEN: &str = "sg_connections_open";
const CONNECTIONS_REFUSED: &str = "sg_connections_refused_total";
const CONNECTIONS_EVICTED: &str = "sg_connections_evicted_total";
const HEADS_REFUSED: &str = "sg_request_heads_refused_total";

/// The `operation` label of requests no documented operation matched (documents, Swagger UI,
/// `/metrics`, unknown paths).
pub const OTHER_OPERATION: &str = "other";

/// Latency buckets, seconds: from a cached point read (well under a millisecond) to a list at
/// its time limit (`SG_LIST_TIMEOUT_MS`, 10 s by default).
const DURATION_BUCKETS: [f64; 15] =
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];
/// Writes per SQLite COMMIT: 1 when writes come one at a time, more as they queue up.
const BATCH_BUCKETS: [f64; 10] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0];

/// The status codes this server answers with (README, "Endpoints"); their counters are found
/// by position, any other code through the registry (slower, still bounded: codes are three
/// digits).
const STATUSES: [u16; 18] = [200, 201, 204, 400, 401, 403, 404, 405, 408, 409, 413, 414, 415, 422, 429, 431, 500, 503];

/// Why a request was refused authentication (`sg_auth_failures_total{reason}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// No `Authorization` header.
    Missing,
    /// A credential not shaped like a token (another scheme, garbage): refused by its shape.
    Malformed,
    /// A well-formed token that is not valid (unknown, expired, revoked, deactivated owner).
    Invalid,
    /// Answered 429: the client is over its failed-authentication limit.
    Throttled,
}

impl AuthFailure {
    const ALL: [Self; 4] = [Self::Missing, Self::Malformed, Self::Invalid, Self::Throttled];

    fn label(self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Malformed => "malformed",
            Self::Invalid => "invalid",
            Self::Throttled => "throttled",
        }
    }
}

/// What happened to a connection over the cap (`sg_connections_refused_total{answer}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Answered 503 `server_busy` and closed.
    Answered,
    /// Closed without an answer: every waiting slot was taken too.
    Closed,
}

/// Every series other than the per-operation ones, registered once.
struct Registry {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    in_flight: Gauge,
    auth_failures: [Counter; 4],
    clients_throttled: Counter,
    audit_written: Counter,
    audit_failed: Counter,
    pool_connections: Gauge,
    pool_idle: Gauge,
    pool_max: Gauge,
    group_commit_writes: Histogram,
    token_cache_hits: Counter,
    token_cache_misses: Counter,
    connections_open: Gauge,
    refused_answered: Counter,
    refused_closed: Counter,
    evicted: Counter,
}

static REGISTRY: LazyLock<Registry> = LazyLock::new(Registry::new);

const METADATA: Metadata<'static> = Metadata::new(module_path!(), Level::INFO, Some(module_path!()));

impl Registry {
    fn new() -> Self {
        let recorder = recorder();
        describe(&recorder);
        let counter = |name: &'static str, labels: Vec<Label>| recorder.register_counter(&key(name, labels), &METADATA);
        let gauge = |name: &'static str| recorder.register_gauge(&Key::from_static_name(name), &METADATA);
        let auth =
            |reason: AuthFailure| counter(AUTH_FAILURES, vec![Label::from_static_parts("reason", reason.label())]);
        let refused =
            |answer: &'static str| counter(CONNECTIONS_REFUSED, vec![Label::from_static_parts("answer", answer)]);
        Self {
            handle: recorder.handle(),
            in_flight: gauge(HTTP_IN_FLIGHT),
            auth_failures: AuthFailure::ALL.map(auth),
            clients_throttled: counter(AUTH_CLIENTS_THROTTLED, vec![]),
            audit_written: counter(AUDIT_WRITTEN, vec![]),
            audit_failed: counter(AUDIT_FAILED, vec![]),
            pool_connections: gauge(POOL_CONNECTIONS),
            pool_idle: gauge(POOL_IDLE),
            pool_max: gauge(POOL_MAX),
            group_commit_writes: recorder.register_histogram(&Key::from_static_name(GROUP_COMMIT_WRITES), &METADATA),
            token_cache_hits: counter(TOKEN_CACHE_HITS, vec![]),
            token_cache_misses: counter(TOKEN_CACHE_MISSES, vec![]),
            connections_open: gauge(CONNECTIONS_OPEN),
            refused_answered: refused("503"),
            refused_closed: refused("none"),
            evicted: counter(CONNECTIONS_EVICTED, vec![]),
            recorder,
        }
    }
}

fn key(name: &'static str, labels: Vec<Label>) -> Key {
    Key::from_parts(name, labels)
}

/// A recorder whose histograms are Prometheus histograms with our buckets (not summaries).
fn recorder() -> PrometheusRecorder {
    let builder = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(HTTP_DURATION.to_owned()), &DURATION_BUCKETS)
        .and_then(|builder| {
            builder.set_buckets_for_metric(Matcher::Full(GROUP_COMMIT_WRITES.to_owned()), &BATCH_BUCKETS)
        });
    // Only an empty bucket list is refused, and both lists are constants that are not empty.
    builder.unwrap_or_else(|_| PrometheusBuilder::new()).build_recorder()
}

/// `# HELP` text of every metric (promtool requires one).
fn describe(recorder: &PrometheusRecorder) {
    let help: [(&'static str, Option<Unit>, &'static str); 17] = [
        (HTTP_REQUESTS, None, "Requests answered, by the document's operationId (or other) and status code."),
        (HTTP_DURATION, Some(Unit::Seconds), "Time from a request's arrival until its answer's head is ready."),
        (HTTP_IN_FLIGHT, None, "Requests being served now."),
        (AUTH_FAILURES, None, "Requests refused authentication, by reason (missing, malformed, invalid, throttled)."),
        (
            AUTH_CLIENTS_THROTTLED,
            None,
            "Times a client reached its failed-authentication limit (SG_AUTH_FAILURE_LIMIT).",
        ),
        (AUDIT_WRITTEN, None, "Audit events stored."),
        (AUDIT_FAILED, None, "Audit events that could not be stored (their requests failed)."),
        (POOL_CONNECTIONS, None, "Connections open in the database pool, read at scrape."),
        (POOL_IDLE, None, "Idle connections in the database pool, read at scrape."),
        (POOL_MAX, None, "Most connections the database pool opens (SG_DB_POOL_SIZE)."),
        (GROUP_COMMIT_WRITES, None, "Writes committed by one SQLite COMMIT (group commit batch size)."),
        (TOKEN_CACHE_HITS, None, "Token checks answered from the verified-token cache."),
        (TOKEN_CACHE_MISSES, None, "Token checks the verified-token cache could not answer."),
        (CONNECTIONS_OPEN, None, "Connections being served (under SG_MAX_CONNECTIONS)."),
        (CONNECTIONS_REFUSED, None, "Connections over the cap, answered 503 (answer=503) or closed (answer=none)."),
        (CONNECTIONS_EVICTED, None, "Connections waiting for a request head, closed to make room under the cap."),
        (HEADS_REFUSED, None, "Request heads refused as they arrived, by status (414 target, 431 headers)."),
    ];
    for (name, unit, text) in help {
        let name = KeyName::from_const_str(name);
        let text = SharedString::const_str(text);
        match name.as_str() {
            HTTP_IN_FLIGHT | POOL_CONNECTIONS | POOL_IDLE | POOL_MAX | CONNECTIONS_OPEN => {
                recorder.describe_gauge(name, unit, text);
            }
            HTTP_DURATION | GROUP_COMMIT_WRITES => recorder.describe_histogram(name, unit, text),
            _ => recorder.describe_counter(name, unit, text),
        }
    }
}

/// The metrics in the Prometheus text format (version 0.0.4). Also drains histogram samples.
pub fn render() -> String {
    REGISTRY.handle.render()
}

/// The content type of [`render`]'s text.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// How often [`upkeep`] drains histogram samples.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// Drains histogram samples into their buckets every few seconds, for ever: samples wait in
/// memory until a scrape or this takes them, so without it a server nobody scrapes would grow.
/// The server spawns it once.
pub async fn upkeep() {
    let mut every = tokio::time::interval(UPKEEP_EVERY);
    loop {
        every.tick().await;
        REGISTRY.handle.run_upkeep();
    }
}

// ---- requests ----

/// The per-operation series of HTTP requests.
pub struct Http {
    operations: HashMap<&'static str, Operation>,
    other: Operation,
}

/// One operation's series, each registered on its first use, so that a scrape lists only
/// what happened (a few dozen operations × a dozen statuses would otherwise be hundreds of
/// zeros).
struct Operation {
    id: &'static str,
    duration: OnceLock<Histogram>,
    answers: [OnceLock<Counter>; STATUSES.len()],
}

impl Operation {
    fn new(id: &'static str) -> Self {
        Self { id, duration: OnceLock::new(), answers: std::array::from_fn(|_| OnceLock::new()) }
    }

    fn answers(&self, status: u16) -> Counter {
        let register = || {
            let labels = vec![Label::from_static_parts("operation", self.id), Label::new("status", status.to_string())];
            REGISTRY.recorder.register_counter(&key(HTTP_REQUESTS, labels), &METADATA)
        };
        match STATUSES.iter().position(|&known| known == status) {
            Some(slot) => self.answers[slot].get_or_init(register).clone(),
            None => register(),
        }
    }

    fn duration(&self) -> &Histogram {
        self.duration.get_or_init(|| {
            let labels = vec![Label::from_static_parts("operation", self.id)];
            REGISTRY.recorder.register_histogram(&key(HTTP_DURATION, labels), &METADATA)
        })
    }
}

static HTTP: OnceLock<Http> = OnceLock::new();

/// The request series for the documented `operation_ids` (from `Operations::ids`); built on
/// the first call, later calls get the same (every router is built from the one document).
pub fn http(operation_ids: impl IntoIterator<Item = &'static str>) -> &'static Http {
    HTTP.get_or_init(|| Http {
        operations: operation_ids.into_iter().map(|id| (id, Operation::new(id))).collect(),
        other: Operation::new(OTHER_OPERATION),
    })
}

impl Http {
    /// Counts one answer of `operation` (`None`: no documented operation) with `status`,
    /// which took `elapsed`.
    pub fn answered(&self, operation: Option<&str>, status: u16, elapsed: Duration) {
        // An id missing from the table (a router built from another document) counts as other,
        // so labels stay within the set fixed at start.
        let series = operation.and_then(|id| self.operations.get(id)).unwrap_or(&self.other);
        series.answers(status).increment(1);
        series.duration().record(elapsed.as_secs_f64());
    }
}

/// A request being served: counted in `sg_http_requests_in_flight` until dropped (answered, or
/// abandoned by a client that went away).
pub struct InFlight(());

impl InFlight {
    pub fn enter() -> Self {
        REGISTRY.in_flight.increment(1.0);
        Self(())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        REGISTRY.in_flight.decrement(1.0);
    }
}

// ---- authentication ----

/// A request refused authentication, for `reason`.
pub fn auth_failed(reason: AuthFailure) {
    let index = AuthFailure::ALL.iter().position(|&r| r == reason).unwrap_or(0);
    REGISTRY.auth_failures[index].increment(1);
}

/// A client just reached its failed-authentication limit (it is answered 429 from now until
/// its window ends).
pub fn client_throttled() {
    REGISTRY.clients_throttled.increment(1);
}

/// A token check the verified-token cache answered.
pub fn token_cache_hit() {
    REGISTRY.token_cache_hits.increment(1);
}

/// A token check the verified-token cache could not answer (a database lookup follows unless
/// the client is throttled).
pub fn token_cache_miss() {
    REGISTRY.token_cache_misses.increment(1);
}

// ---- audit trail ----

/// `count` audit events were stored (committed, or appended where the audit trail keeps them).
/// For the audit trail to call; one atomic add, whether or not metrics are served.
pub fn audit_events_written(count: u64) {
    REGISTRY.audit_written.increment(count);
}

/// `count` audit events could not be stored (and so their requests failed). For the audit
/// trail to call; one atomic add, whether or not metrics are served.
pub fn audit_events_failed(count: u64) {
    REGISTRY.audit_failed.increment(count);
}

// ---- database ----

/// The database pool as it is now: connections open, idle, and the most it opens. Called at
/// scrape, so the gauges are as fresh as the scrape.
pub fn db_pool(open: u32, idle: usize, max: u32) {
    REGISTRY.pool_connections.set(f64::from(open));
    REGISTRY.pool_idle.set(idle as f64);
    REGISTRY.pool_max.set(f64::from(max));
}

/// One SQLite group COMMIT succeeded, holding `writes` writes.
pub fn group_commit(writes: usize) {
    REGISTRY.group_commit_writes.record(writes as f64);
}

// ---- connections ----

/// A connection being served (it holds a place under the cap) until dropped.
pub struct OpenConnection(());

impl OpenConnection {
    pub fn enter() -> Self {
        REGISTRY.connections_open.increment(1.0);
        Self(())
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        REGISTRY.connections_open.decrement(1.0);
    }
}

/// A connection over the cap was refused.
pub fn connection_refused(how: Refusal) {
    match how {
        Refusal::Answered => REGISTRY.refused_answered.increment(1),
        Refusal::Closed => REGISTRY.refused_closed.increment(1),
    }
}

/// A connection waiting for a request head was closed to make room.
pub fn connection_evicted() {
    REGISTRY.evicted.increment(1);
}

/// A request head was refused as it arrived, with `status` (414 or 431).
pub fn head_refused(status: u16) {
    let labels = vec![Label::new("status", status.to_string())];
    // Rare (a refusal closes the connection), so the registry's lookup is cheap enough.
    REGISTRY.recorder.register_counter(&key(HEADS_REFUSED, labels), &METADATA).increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_series_is_described_and_labelled_only_by_the_fixed_sets() {
        let http = http(["getSecret", "listSecrets"]);
        http.answered(Some("getSecret"), 200, Duration::from_millis(3));
        http.answered(Some("noSuchOperation"), 404, Duration::from_millis(1));
        http.answered(None, 599, Duration::from_millis(1));
        auth_failed(AuthFailure::Invalid);
        group_commit(3);
        head_refused(431);
        let text = render();
        assert!(text.contains(r#"sg_http_requests_total{operation="getSecret",status="200"} 1"#), "{text}");
        assert!(text.contains(r#"sg_http_requests_total{operation="other",status="404"} 1"#), "{text}");
        assert!(text.contains(r#"sg_http_requests_total{operation="other",status="599"} 1"#), "{text}");
        assert!(!text.contains("noSuchOperation"), "{text}");
        assert!(
            text.contains(r#"sg_http_request_duration_seconds_bucket{operation="getSecret",le="0.005"} 1"#),
            "{text}"
        );
        assert!(text.contains(r#"sg_auth_failures_total{reason="invalid"} 1"#), "{text}");
        assert!(text.contains(r#"sg_sqlite_group_commit_writes_bucket{le="4"} 1"#), "{text}");
        assert!(text.contains(r#"sg_request_heads_refused_total{status="431"} 1"#), "{text}");
        for line in text.lines().filter(|line| line.starts_with("# TYPE ")) {
            let name = line.split(' ').nth(2).unwrap_or_default();
            assert!(text.contains(&format!("# HELP {name} ")), "no help for {name}:\n{text}");
        }
    }
}
