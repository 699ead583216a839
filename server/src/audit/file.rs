//! `SG_AUDIT_FILE`: committed audit events copied as JSON lines to a file for a SIEM, each batch
//! written and fsynced before its requests are answered, reopened on SIGHUP (log rotation).
//!
//! It owns the file only; it must not decide what is written (events come committed from the
//! store) and it is a copy: the database is the record `audit verify` checks.

use std::{
    fs::{File, OpenOptions},
    io::Write as _,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};

use super::event::Event;

pub struct FileSink {
    path: PathBuf,
    file: Mutex<File>,
}

fn open(path: &Path) -> std::io::Result<File> {
    let mut options = OpenOptions::new();
    options.create(true).append(true);
    // The events name who read which secret: for the operator's eyes, like the database.
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

impl FileSink {
    pub fn open(path: &Path) -> std::io::Result<Self> {
        Ok(Self { path: path.to_owned(), file: Mutex::new(open(path)?) })
    }

    /// Appends `events`, one JSON line each, and fsyncs. Blocking: callers run it off the
    /// runtime's threads ([`write_async`]).
    pub fn write(&self, events: &[Event]) -> std::io::Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let mut text = String::new();
        for event in events {
            text.push_str(&event.json_line());
            text.push('\n');
        }
        let mut file = self.file.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        file.write_all(text.as_bytes())?;
        file.sync_data()
    }

    /// Opens the path again (after `logrotate` moved the file away): later events go to the new
    /// file. On failure the old file is kept.
    pub fn reopen(&self) -> std::io::Result<()> {
        let fresh = open(&self.path)?;
        *self.file.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = fresh;
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// [`FileSink::write`] on a blocking thread.
pub async fn write_async(sink: Arc<FileSink>, events: Vec<Event>) -> std::io::Result<()> {
    match tokio::task::spawn_blocking(move || sink.write(&events)).await {
        Ok(result) => result,
        Err(e) => Err(std::io::Error::other(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: &str) -> Event {
        Event {
            id: id.into(),
            tenant_id: "t".into(),
            chain: "t/0".into(),
            seq: 1,
            at: 1,
            request_id: "r".into(),
            action: "getSecret".into(),
            actor_type: "user".into(),
            actor_id: "u".into(),
            actor_name: "a@b".into(),
            source: String::new(),
            resources: "[]".into(),
            status_code: 200,
            changes: "{}".into(),
            prev_hash: String::new(),
            hash: "h".into(),
        }
    }

    #[test]
    fn appends_json_lines_and_reopens_after_rotation() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("audit.jsonl");
        let sink = FileSink::open(&path).expect("open");
        sink.write(&[event("e1"), event("e2")]).expect("write");
        // logrotate moves the file away; until SIGHUP the old file keeps receiving events.
        let rotated = dir.path().join("audit.jsonl.1");
        std::fs::rename(&path, &rotated).expect("rotate");
        sink.write(&[event("e3")]).expect("write");
        sink.reopen().expect("reopen");
        sink.write(&[event("e4")]).expect("write");
        let ids = |p: &Path| -> Vec<String> {
            std::fs::read_to_string(p)
                .expect("read")
                .lines()
                .map(|line| serde_json::from_str::<serde_json::Value>(line).expect("JSON")["id"].to_string())
                .collect()
        };
        assert_eq!(ids(&rotated), ["\"e1\"", "\"e2\"", "\"e3\""]);
        assert_eq!(ids(&path), ["\"e4\""]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path).expect("metadata").permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
    }
}
