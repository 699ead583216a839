//! The audit scope of one request: a draft event that the capture middleware opens, the
//! authentication fills with the actor, handlers and the store fill with resources and changes,
//! and that either a write transaction commits (`crate::store::WriteTx::commit`) or the
//! middleware appends after the handler.
//!
//! The draft is in the request's extensions and, while the handler runs, in a task-local, so
//! code far from the request (the store) reaches it without a parameter. Outside a request (the
//! CLI, migrations, the readiness probe of a GET) there is no scope and every function here does
//! nothing. It must not store anything or decide what is audited beyond [`Draft::due`]; it
//! depends on no other module of the crate but its siblings, so anything may call it.

use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{Map, Value, json};

use super::{event::Event, file::FileSink};

tokio::task_local! {
    static SCOPE: Arc<Draft>;
}

/// What is known so far of the request's event.
pub struct Draft {
    state: Mutex<State>,
    /// Where committed events are copied as JSON lines (`SG_AUDIT_FILE`).
    sink: Option<Arc<FileSink>>,
}

struct State {
    request_id: String,
    action: &'static str,
    source: String,
    at: i64,
    /// The request may write (not a GET/HEAD, not a list): its write transaction commits the event.
    write: bool,
    tenant_id: String,
    actor: Option<(&'static str, String, String)>,
    /// The fingerprint of a presented token that did not authenticate.
    token: Option<String>,
    resources: Vec<Value>,
    changes: Map<String, Value>,
    reads_values: bool,
    /// Appended already (by a write's transaction): nothing left to do.
    done: bool,
}

impl Draft {
    pub fn new(request_id: String, action: &'static str, source: String, write: bool) -> Self {
        Self::with_sink(request_id, action, source, write, None)
    }

    pub fn with_sink(
        request_id: String,
        action: &'static str,
        source: String,
        write: bool,
        sink: Option<Arc<FileSink>>,
    ) -> Self {
        let state = State {
            request_id,
            action,
            source,
            at: chrono::Utc::now().timestamp_millis(),
            write,
            tenant_id: String::new(),
            actor: None,
            token: None,
            resources: Vec::new(),
            changes: Map::new(),
            reads_values: false,
            done: false,
        };
        Self { state: Mutex::new(state), sink }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock only ever interrupts a push; the data stays usable.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn sink(&self) -> Option<&Arc<FileSink>> {
        self.sink.as_ref()
    }

    /// The event the middleware appends for an answer with `status`, if one is due: a read of
    /// values that succeeded, or a refusal (401 of a presented token, 403 or 404 of an
    /// authenticated caller). Writes are appended by their transaction, never here.
    pub fn due(&self, status: u16) -> Option<Event> {
        let state = self.lock();
        if state.done {
            return None;
        }
        let due = match status {
            200..=299 => state.reads_values,
            401 => state.token.is_some(),
            403 | 404 => state.actor.is_some(),
            _ => false,
        };
        due.then(|| state.event(status))
    }

    /// The event of a write about to commit, marked done so it is appended once.
    pub fn take_write(&self) -> Option<Event> {
        let mut state = self.lock();
        if !state.write || state.done || state.actor.is_none() {
            return None;
        }
        state.done = true;
        Some(state.event(200))
    }
}

impl State {
    fn event(&self, status: u16) -> Event {
        let (actor_type, actor_id, actor_name) = match (&self.actor, &self.token) {
            (Some((kind, id, name)), _) => (*kind, id.clone(), name.clone()),
            (None, Some(fingerprint)) => ("token", fingerprint.clone(), String::new()),
            (None, None) => ("anonymous", String::new(), String::new()),
        };
        Event {
            id: uuid::Uuid::now_v7().to_string(),
            tenant_id: self.tenant_id.clone(),
            chain: String::new(),
            seq: 0,
            at: self.at,
            request_id: self.request_id.clone(),
            action: self.action.to_owned(),
            actor_type: actor_type.to_owned(),
            actor_id,
            actor_name,
            source: self.source.clone(),
            resources: Value::Array(self.resources.clone()).to_string(),
            status_code: i64::from(status),
            changes: Value::Object(self.changes.clone()).to_string(),
            prev_hash: String::new(),
            hash: String::new(),
        }
    }
}

/// Runs `work` (the rest of the request) with `draft` as the current scope.
pub async fn run<F: Future>(draft: Arc<Draft>, work: F) -> F::Output {
    SCOPE.scope(draft, work).await
}

/// The current request's draft, if any.
pub fn current() -> Option<Arc<Draft>> {
    SCOPE.try_with(Arc::clone).ok()
}

fn with(update: impl FnOnce(&mut State)) {
    if let Some(draft) = current() {
        update(&mut draft.lock());
    }
}

/// The authenticated caller: `kind` is `user` or `virtualaccount`, `name` the e-mail or name.
pub fn actor(tenant_id: &str, kind: &'static str, id: &str, name: &str) {
    with(|state| {
        state.tenant_id = tenant_id.to_owned();
        state.actor = Some((kind, id.to_owned(), name.to_owned()));
    });
}

/// A presented token that did not authenticate, by a fingerprint from which it cannot be
/// recovered (a prefix of its keyed hash).
pub fn failed_token(fingerprint: &str) {
    with(|state| state.token = Some(fingerprint.to_owned()));
}

/// A resource the request touched: `kind` (`secret-group`, `secret`, `user`…), its id and FQN.
pub fn resource(kind: &str, id: Option<&str>, fqn: Option<&str>) {
    with(|state| {
        let mut item = Map::new();
        item.insert("type".to_owned(), json!(kind));
        if let Some(id) = id {
            item.insert("id".to_owned(), json!(id));
        }
        if let Some(fqn) = fqn {
            item.insert("fqn".to_owned(), json!(fqn));
        }
        // The same object named twice is one: by the path, then by the handler with its FQN; or
        // by the handler with its FQN, then by the store with the id it just made.
        let same = |r: &&mut Value| {
            r["type"] == item["type"]
                && match (r.get("id"), item.get("id")) {
                    (Some(known), Some(id)) => known == id,
                    (None, Some(_)) => item.get("fqn").is_none(),
                    _ => false,
                }
        };
        match state.resources.iter_mut().find(|r| same(r)) {
            Some(Value::Object(known)) => known.extend(item),
            _ => state.resources.push(Value::Object(item)),
        }
    });
}

/// An object named by its name rather than an id or FQN: a user's e-mail, a team's, a virtual
/// account's or a token's name.
pub fn resource_named(kind: &str, name: &str) {
    with(|state| {
        let item = json!({ "type": kind, "name": name });
        if !state.resources.contains(&item) {
            state.resources.push(item);
        }
    });
}

/// One item of what a write changed, appended to the list `kind` (`added`, `changed`,
/// `removed`, `collaborators`…). Never a value.
pub fn change(kind: &str, item: Value) {
    with(|state| {
        let list = state.changes.entry(kind.to_owned()).or_insert_with(|| Value::Array(Vec::new()));
        if let Value::Array(items) = list {
            items.push(item);
        }
    });
}

/// The request answers secret values: its event must be durable before the answer leaves.
pub fn reads_values() {
    with(|state| state.reads_values = true);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(write: bool) -> Arc<Draft> {
        Arc::new(Draft::new("r".into(), "getSecret", "127.0.0.1".into(), write))
    }

    #[tokio::test]
    async fn events_are_due_for_value_reads_and_refusals_only() {
        let read = draft(false);
        run(read.clone(), async { actor("t", "user", "u", "a@b") }).await;
        assert!(read.due(200).is_none(), "a read without values");
        assert!(read.due(404).is_some_and(|e| e.actor_name == "a@b" && e.status_code == 404));
        assert!(read.due(422).is_none(), "not a refusal of access");
        run(read.clone(), async { reads_values() }).await;
        assert!(read.due(200).is_some());

        let anonymous = draft(false);
        assert!(anonymous.due(401).is_none(), "no token presented");
        run(anonymous.clone(), async { failed_token("0123456789abcdef") }).await;
        let event = anonymous.due(401).expect("a presented token");
        assert_eq!((event.actor_type.as_str(), event.actor_id.as_str()), ("token", "0123456789abcdef"));
        assert!(anonymous.due(403).is_none(), "403 needs an authenticated caller");
    }

    #[tokio::test]
    async fn a_write_is_taken_once_and_then_never_due_again() {
        let write = draft(true);
        assert!(write.take_write().is_none(), "no caller yet");
        run(write.clone(), async {
            actor("t", "user", "u", "a@b");
            resource("secret-group", None, Some("t:g"));
            resource("secret-group", Some("id1"), None);
            change("added", serde_json::json!({"key": "K", "version": 1}));
        })
        .await;
        let event = write.take_write().expect("the write's event");
        let parsed = |text: &str| serde_json::from_str::<Value>(text).expect("JSON");
        assert_eq!(parsed(&event.resources), json!([{"type": "secret-group", "fqn": "t:g", "id": "id1"}]));
        assert_eq!(parsed(&event.changes), json!({"added": [{"key": "K", "version": 1}]}));
        assert!(write.take_write().is_none());
        assert!(write.due(200).is_none() && write.due(403).is_none());
        // Outside a scope, nothing happens and nothing fails.
        actor("t", "user", "u", "a@b");
        assert!(current().is_none());
    }
}
