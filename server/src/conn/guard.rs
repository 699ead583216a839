//! The socket of one connection as hyper sees it, with the limits hyper lacks or answers with
//! an empty body: how long a head may take, how long a kept-alive connection may sit idle, how
//! long a response write may stall, and how large a head may grow (our 414/431 carry an
//! `HttpError` body; hyper's own would not, so ours are reached first).
//!
//! It knows where a request head begins from [`Progress`]: when every request handed to the
//! application has had its response finished, the next bytes are a new head. Bytes a client
//! pipelines (sends before its previous answer) are hyper's to limit.

use std::{
    io,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    task::{Context, Poll, ready},
    time::Duration,
};

use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    time::{Instant, Sleep, sleep_until},
};

use crate::{error::ApiError, request_id::RequestId};

/// The largest request head (line and headers) read; larger gets 431.
pub const MAX_HEAD_BYTES: usize = 32 * 1024;
/// The longest request target read; longer gets 414.
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// The most header lines a head may have; more gets 431.
pub const MAX_HEADERS: usize = 100;
/// Room for the method and version around the target on the request line.
const REQUEST_LINE_SLACK: usize = 64;
/// How long a refusal we write ourselves may take to send.
const REFUSAL_WRITE_TIME: Duration = Duration::from_secs(2);

/// The timeouts one connection runs under.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub header: Duration,
    pub idle: Duration,
    pub write: Duration,
}

/// Requests handed to the application and responses hyper has finished taking, on one
/// connection. Equal counts mean the connection waits for a new head.
#[derive(Debug)]
pub struct Progress {
    started: AtomicU64,
    finished: AtomicU64,
    /// When the counts last changed, in milliseconds after `epoch`.
    changed_at: AtomicU64,
    epoch: Instant,
}

impl Progress {
    /// A new connection; `epoch` is shared by all, so that their times compare.
    pub fn new(epoch: Instant) -> Self {
        let progress =
            Self { started: AtomicU64::new(0), finished: AtomicU64::new(0), changed_at: AtomicU64::new(0), epoch };
        progress.touch();
        progress
    }

    fn touch(&self) {
        let now = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.changed_at.store(now, Ordering::Release);
    }

    pub fn request_started(&self) {
        self.started.fetch_add(1, Ordering::AcqRel);
        self.touch();
    }

    pub fn response_finished(&self) {
        self.finished.fetch_add(1, Ordering::AcqRel);
        self.touch();
    }

    /// `Some(responses finished so far)` while no request is in the application.
    fn waiting(&self) -> Option<u64> {
        let finished = self.finished.load(Ordering::Acquire);
        (self.started.load(Ordering::Acquire) == finished).then_some(finished)
    }

    /// Since when (milliseconds after the epoch) the connection has waited for a head, if it
    /// does.
    pub fn waiting_since(&self) -> Option<u64> {
        self.waiting().map(|_| self.changed_at.load(Ordering::Acquire))
    }
}

/// What has been seen of the current head.
#[derive(Debug, Default)]
struct HeadScan {
    bytes: usize,
    lines: usize,
    /// Anything but CR/LF seen (leading empty lines are skipped, as hyper does).
    started: bool,
    /// The last byte other than CR was LF: one more LF ends the head.
    after_newline: bool,
    done: bool,
}

impl HeadScan {
    /// Takes `data`; `Some(refusal)` once the head breaks a limit.
    fn scan(&mut self, data: &[u8]) -> Option<ApiError> {
        for &byte in data {
            if self.done {
                return None;
            }
            self.bytes += 1;
            match byte {
                b'\n' if self.started && self.after_newline => self.done = true,
                b'\n' if self.started => {
                    self.lines += 1;
                    self.after_newline = true;
                }
                b'\n' | b'\r' => {}
                _ => {
                    self.started = true;
                    self.after_newline = false;
                }
            }
            if self.lines == 0 && self.bytes > MAX_URI_BYTES + REQUEST_LINE_SLACK {
                return Some(ApiError::uri_too_long(MAX_URI_BYTES));
            }
            // The request line and MAX_HEADERS header lines.
            if self.bytes > MAX_HEAD_BYTES || self.lines > MAX_HEADERS + 1 {
                return Some(ApiError::headers_too_large(MAX_HEAD_BYTES));
            }
        }
        None
    }
}

/// A connection's stream with its timeouts and head limits.
pub struct GuardedIo<S> {
    inner: S,
    progress: Arc<Progress>,
    timeouts: Timeouts,
    head: HeadScan,
    /// The `finished` count the current wait was set up for (`None` before the first).
    waiting_after: Option<u64>,
    read_deadline: Option<Pin<Box<Sleep>>>,
    write_deadline: Option<Pin<Box<Sleep>>>,
    /// An answer we write ourselves, and how much of it is written.
    refusal: Option<(Vec<u8>, usize)>,
    /// Set once the write half is shut: until when, and how much more, the connection is
    /// drained before it closes (see [`Linger`]).
    linger: Option<Linger>,
}

/// Lingering close, as nginx does it: a request answered before its body was read (413 from
/// `Content-Length`, 401/403 before the body) leaves the client still sending. Closing the
/// socket with unread input makes the kernel send a reset, and the client loses the answer
/// (its write fails with a broken pipe before it reads). So after the answer the write half
/// is shut (FIN) and what still arrives is read and dropped, until the client closes too, or
/// for at most [`LINGER_TIME`] and [`LINGER_BYTES`]: a bound, so lingering costs no memory and
/// little time.
struct Linger {
    until: Pin<Box<Sleep>>,
    left: usize,
}

/// How long a closing connection is drained at most.
const LINGER_TIME: Duration = Duration::from_secs(2);

/// How much a closing connection drains at most: more than the largest body (4 MiB) a client
/// may still be sending when it is answered.
const LINGER_BYTES: usize = 8 * 1024 * 1024;

impl<S> GuardedIo<S> {
    /// A new connection: its first head must arrive within the header timeout.
    pub fn new(inner: S, progress: Arc<Progress>, timeouts: Timeouts) -> Self {
        Self {
            inner,
            progress,
            timeouts,
            head: HeadScan::default(),
            waiting_after: None,
            read_deadline: Some(Box::pin(sleep_until(Instant::now() + timeouts.header))),
            write_deadline: None,
            refusal: None,
            linger: None,
        }
    }

    /// Sets the read deadline for where the connection is: waiting for a head (idle or
    /// header timeout) or inside a request (none here: the body timeout is the handler's).
    fn track_phase(&mut self) {
        match self.progress.waiting() {
            Some(finished) if finished > 0 && self.waiting_after != Some(finished) => {
                self.waiting_after = Some(finished);
                self.head = HeadScan::default();
                self.read_deadline = Some(Box::pin(sleep_until(Instant::now() + self.timeouts.idle)));
            }
            Some(finished) => self.waiting_after = Some(finished),
            None => self.read_deadline = None,
        }
    }

    fn timed_out(what: &str) -> io::Error {
        io::Error::new(io::ErrorKind::TimedOut, format!("{what} timed out"))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> GuardedIo<S> {
    /// Writes the refusal, then reports end of input so that hyper closes without an answer
    /// of its own.
    fn poll_refuse(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(deadline) = &mut self.write_deadline
            && deadline.as_mut().poll(cx).is_ready()
        {
            return Poll::Ready(Err(Self::timed_out("refusal write")));
        }
        if let Some((bytes, written)) = &mut self.refusal {
            while *written < bytes.len() {
                let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &bytes[*written..]))?;
                if n == 0 {
                    return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                }
                *written += n;
            }
        }
        ready!(Pin::new(&mut self.inner).poll_flush(cx))?;
        Poll::Ready(Ok(()))
    }

    fn start_refusal(&mut self, err: ApiError) {
        // The head is not parsed, so a caller's X-Request-Id is unknown: the answer names a
        // fresh id, and so does the log line.
        let id = RequestId::generate();
        let status = err.status().as_u16();
        tracing::debug!(status, request_id = %id, "refusing a request head");
        crate::metrics::head_refused(status);
        self.refusal = Some((err.into_raw_response(&id), 0));
        self.write_deadline = Some(Box::pin(sleep_until(Instant::now() + REFUSAL_WRITE_TIME)));
    }

    /// Drains input until the client closes too, or the linger time or bytes run out (see
    /// [`Linger`]); ends without error whatever happens, as the answer is already sent.
    fn poll_linger(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Self { inner, linger, .. } = self;
        let Some(linger) = linger else { return Poll::Ready(Ok(())) };
        let mut scratch = [0u8; 8 * 1024];
        loop {
            if linger.left == 0 || linger.until.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Ok(()));
            }
            let mut buf = ReadBuf::new(&mut scratch);
            match Pin::new(&mut *inner).poll_read(cx, &mut buf) {
                Poll::Ready(Ok(())) if buf.filled().is_empty() => return Poll::Ready(Ok(())),
                Poll::Ready(Ok(())) => linger.left = linger.left.saturating_sub(buf.filled().len()),
                Poll::Ready(Err(_)) => return Poll::Ready(Ok(())),
                Poll::Pending => return Poll::Pending,
            }
        }
    }

    /// `poll` under the write-stall timeout: a write that makes no progress for that long fails.
    fn stall_guard<T>(&mut self, cx: &mut Context<'_>, poll: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        if poll.is_ready() {
            self.write_deadline = None;
            return poll;
        }
        let write = self.timeouts.write;
        let deadline = self.write_deadline.get_or_insert_with(|| Box::pin(sleep_until(Instant::now() + write)));
        if deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(Self::timed_out("response write")));
        }
        Poll::Pending
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for GuardedIo<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.refusal.is_some() {
            return this.poll_refuse(cx);
        }
        this.track_phase();
        // A client trickling bytes never lets a read wait, so the deadline is checked first.
        if this.read_deadline.as_ref().is_some_and(|deadline| deadline.is_elapsed()) {
            return Poll::Ready(Err(Self::timed_out("request head")));
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                let Some(finished) = this.progress.waiting() else { return Poll::Ready(Ok(())) };
                let new = &buf.filled()[before..];
                if finished > 0 && this.head.bytes == 0 && !new.is_empty() {
                    // The first byte of a head after an idle wait: now the header timeout runs.
                    this.read_deadline = Some(Box::pin(sleep_until(Instant::now() + this.timeouts.header)));
                }
                if let Some(refusal) = this.head.scan(new) {
                    buf.set_filled(before);
                    this.start_refusal(refusal);
                    return this.poll_refuse(cx);
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => {
                if let Some(deadline) = &mut this.read_deadline
                    && deadline.as_mut().poll(cx).is_ready()
                {
                    return Poll::Ready(Err(Self::timed_out("request head")));
                }
                Poll::Pending
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for GuardedIo<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_write(cx, data);
        this.stall_guard(cx, poll)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.stall_guard(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_flush(cx);
        this.stall_guard(cx, poll)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.linger.is_none() {
            let poll = Pin::new(&mut this.inner).poll_shutdown(cx);
            ready!(this.stall_guard(cx, poll))?;
            this.linger =
                Some(Linger { until: Box::pin(sleep_until(Instant::now() + LINGER_TIME)), left: LINGER_BYTES });
        }
        this.poll_linger(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_head_ends_at_its_empty_line_and_body_bytes_are_not_counted() {
        let mut scan = HeadScan::default();
        assert!(scan.scan(b"\r\nPOST / HTTP/1.1\r\nHost: x\r\n\r\n").is_none());
        assert!(scan.done);
        let body = vec![b'\n'; MAX_HEAD_BYTES * 2];
        assert!(scan.scan(&body).is_none());
    }

    #[test]
    fn long_targets_and_large_heads_are_refused() {
        let mut scan = HeadScan::default();
        let long_target = format!("GET /{} HTTP/1.1\r\n", "a".repeat(MAX_URI_BYTES + REQUEST_LINE_SLACK));
        let refusal = scan.scan(long_target.as_bytes()).map(|e| e.status().as_u16());
        assert_eq!(refusal, Some(414));

        let mut scan = HeadScan::default();
        assert!(scan.scan(b"GET / HTTP/1.1\r\n").is_none());
        let many = "a: b\r\n".repeat(MAX_HEADERS + 1);
        assert_eq!(scan.scan(many.as_bytes()).map(|e| e.status().as_u16()), Some(431));

        let mut scan = HeadScan::default();
        let big = format!("GET / HTTP/1.1\r\nx: {}\r\n", "b".repeat(MAX_HEAD_BYTES));
        assert_eq!(scan.scan(big.as_bytes()).map(|e| e.status().as_u16()), Some(431));
    }
}
