//! Accepting and serving connections: our own accept loop over hyper's HTTP/1 connection,
//! because `axum::serve` has no connection cap, no timeouts and a shutdown that waits for ever.
//!
//! - At most `max_connections` are served at once. One more makes the connection that has
//!   waited longest for a request head close ([`registry`]) and takes its place; when every
//!   connection is inside a request, it waits up to a second for one to end, then is answered
//!   503 (an `HttpError`) and closed. The requests being served keep their answers.
//! - Each connection's socket is a [`guard::GuardedIo`]: header, idle and write-stall
//!   timeouts, and our own 414/431 answers.
//! - On shutdown the listener closes, idle connections close, in-flight requests get
//!   `shutdown_timeout` to finish, and whatever is left is cut.

mod guard;
mod registry;

use std::{
    convert::Infallible,
    net::SocketAddr,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use axum::{Router, body::Body, extract::ConnectInfo};
use hyper::{body::Incoming, server::conn::http1, service::service_fn};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    net::{TcpListener, TcpSocket, TcpStream},
    sync::{OwnedSemaphorePermit, Semaphore, watch},
    task::JoinSet,
    time::timeout,
};
use tower::ServiceExt as _;

use guard::{GuardedIo, Progress, Timeouts};
pub use guard::{MAX_HEAD_BYTES, MAX_HEADERS, MAX_URI_BYTES};
use registry::{Registration, Registry};

use crate::{
    config::ConnectionArgs,
    error::ApiError,
    metrics::{self, Refusal},
    request_id::RequestId,
};

/// Connections over the cap that may wait for a place (up to [`ADMISSION_WAIT`]) and then be
/// refused with a 503 (for up to [`REFUSAL_TIME`]) at once; beyond that a connection over the
/// cap is closed without an answer.
const WAITING_SLOTS: usize = 64;
/// Connections waiting for a head closed at once when the cap is reached (see `registry`).
const EVICTED_AT_ONCE: usize = 16;
const ADMISSION_WAIT: Duration = Duration::from_secs(1);
const REFUSAL_TIME: Duration = Duration::from_secs(1);
/// hyper's own head limits, above ours so that ours (with a JSON body) are met first.
const HYPER_MAX_BUF: usize = 2 * MAX_HEAD_BYTES;
const HYPER_MAX_HEADERS: usize = MAX_HEADERS + 28;
/// Descriptors kept for the database, the log and the listener beyond the connections.
const SPARE_DESCRIPTORS: u64 = 128;

/// Connections the kernel completes and queues before we accept them: a burst of new
/// connections waits there (while room is made) instead of overflowing the queue, which
/// would leave clients with sockets the server never sees. The kernel caps it at
/// `net.core.somaxconn`.
const ACCEPT_BACKLOG: u32 = 4096;

/// Listens on `address` with a deep accept queue (`ACCEPT_BACKLOG`).
pub fn bind(address: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if address.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    // As std's bind does: a restarted server may listen while old connections linger.
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(ACCEPT_BACKLOG)
}

/// Serves `app` on `listener` until `shutdown` resolves, then drains as described above.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: &ConnectionArgs,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let cap = connection_cap(u64::from(limits.max_connections));
    let server = Server::new(app, limits, cap);
    let (stop, stopped) = watch::channel(false);
    let mut tasks = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => server.admit(stream, peer, &stopped, &mut tasks).await,
                Err(e) => {
                    // Out of descriptors or memory: waiting lets connections close instead of
                    // spinning on accept.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    drop(listener);
    // No receiver left only means no connection is open.
    let _ = stop.send(true);
    let drained = timeout(limits.shutdown_timeout, async { while tasks.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::warn!(connections = tasks.len(), "shutdown deadline passed; closing the connections left");
        tasks.shutdown().await;
    }
    Ok(())
}

/// What every connection shares.
#[derive(Clone)]
struct Server {
    app: Router,
    http: Arc<http1::Builder>,
    timeouts: Timeouts,
    connections: Arc<Semaphore>,
    waiting: Arc<Semaphore>,
    registry: Arc<Registry>,
}

impl Server {
    fn new(app: Router, limits: &ConnectionArgs, cap: usize) -> Self {
        let timeouts =
            Timeouts { header: limits.header_timeout, idle: limits.idle_timeout, write: limits.body_timeout };
        let mut http = http1::Builder::new();
        // hyper's header timer runs from the moment it waits for a head, idle time included:
        // a backstop only; the guard applies the idle and header timeouts separately.
        http.timer(TokioTimer::new())
            .header_read_timeout(limits.idle_timeout + limits.header_timeout)
            .max_buf_size(HYPER_MAX_BUF)
            .max_headers(HYPER_MAX_HEADERS)
            .keep_alive(true);
        Self {
            app,
            http: Arc::new(http),
            timeouts,
            connections: Arc::new(Semaphore::new(cap.clamp(1, Semaphore::MAX_PERMITS))),
            waiting: Arc::new(Semaphore::new(WAITING_SLOTS)),
            registry: Registry::new(),
        }
    }

    /// Serves `stream` if under the cap; otherwise makes room or answers 503 (see the module).
    /// Making room is awaited here, so that a flood of new connections waits in the kernel's
    /// accept queue rather than being dropped, and a real client queued among them is reached.
    async fn admit(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
        stopped: &watch::Receiver<bool>,
        tasks: &mut JoinSet<()>,
    ) {
        // Answers are written whole; delaying small writes would only add latency.
        let _ = stream.set_nodelay(true);
        let stopped = stopped.clone();
        if let Ok(permit) = self.connections.clone().try_acquire_owned() {
            tasks.spawn(self.clone().run(stream, peer, permit, stopped));
            return;
        }
        if self.registry.evict_longest_waiting(EVICTED_AT_ONCE) > 0
            && let Ok(Ok(permit)) = timeout(ADMISSION_WAIT, self.connections.clone().acquire_owned()).await
        {
            tasks.spawn(self.clone().run(stream, peer, permit, stopped));
            return;
        }
        // Every connection is inside a request: wait aside for one to end, or refuse.
        let Ok(slot) = self.waiting.clone().try_acquire_owned() else {
            tracing::debug!("over the connection cap with every waiting slot taken; closed without an answer");
            metrics::connection_refused(Refusal::Closed);
            return;
        };
        let server = self.clone();
        tasks.spawn(async move {
            match timeout(ADMISSION_WAIT, server.connections.clone().acquire_owned()).await {
                Ok(Ok(permit)) => {
                    drop(slot);
                    server.run(stream, peer, permit, stopped).await;
                }
                _ => refuse(stream, slot).await,
            }
        });
    }

    /// Serves one connection while it holds `permit`.
    async fn run(
        self,
        stream: TcpStream,
        peer: SocketAddr,
        permit: OwnedSemaphorePermit,
        stopped: watch::Receiver<bool>,
    ) {
        let registration = self.registry.register();
        let _open = metrics::OpenConnection::enter();
        let connection = Connection { app: self.app, http: self.http, timeouts: self.timeouts, peer, _permit: permit };
        connection.run(stream, registration, stopped).await;
    }
}

/// Answers 503 on a connection over the cap. The request is read (briefly) after the answer
/// so that closing does not reset the connection before the client has read it.
async fn refuse(mut stream: TcpStream, _slot: OwnedSemaphorePermit) {
    metrics::connection_refused(Refusal::Answered);
    let id = RequestId::generate();
    tracing::debug!(request_id = %id, "over the connection cap; answered 503");
    let answer = ApiError::busy("the server is serving as many connections as it is set to").into_raw_response(&id);
    let _ = timeout(REFUSAL_TIME, async {
        stream.write_all(&answer).await?;
        stream.shutdown().await?;
        let mut sink = [0u8; 4096];
        while stream.read(&mut sink).await? > 0 {}
        Ok::<_, std::io::Error>(())
    })
    .await;
}

/// One accepted connection and its place under the cap.
struct Connection {
    app: Router,
    http: Arc<http1::Builder>,
    timeouts: Timeouts,
    peer: SocketAddr,
    _permit: OwnedSemaphorePermit,
}

impl Connection {
    async fn run(self, stream: TcpStream, registration: Registration, mut stopped: watch::Receiver<bool>) {
        let entry = registration.entry.clone();
        let progress = entry.progress.clone();
        let io = TokioIo::new(GuardedIo::new(stream, progress.clone(), self.timeouts));
        let (app, peer) = (self.app, self.peer);
        let service = service_fn(move |mut request: hyper::Request<Incoming>| {
            // The peer address feeds the failed-authentication limit (auth.rs).
            request.extensions_mut().insert(ConnectInfo(peer));
            progress.request_started();
            let finished = Finished(progress.clone());
            let app = app.clone();
            async move {
                let response = match app.oneshot(request).await {
                    Ok(response) => response,
                    Err(never) => match never {},
                };
                Ok::<_, Infallible>(response.map(|body| TrackedBody { body, _finished: finished }))
            }
        });
        let connection = self.http.serve_connection(io, service);
        tokio::pin!(connection);
        let result = tokio::select! {
            result = connection.as_mut() => result,
            () = stop_requested(&mut stopped) => {
                // Connections waiting for a head close now (hyper would wait for a new
                // connection's first one); one in a request closes after its answer.
                if entry.progress.waiting_since().is_some() {
                    return;
                }
                connection.as_mut().graceful_shutdown();
                connection.await
            }
            () = entry.evict.notified() => {
                // Chosen to make room while waiting for a head: closed at once (hyper's own
                // graceful shutdown would wait for a new connection's first head). Should a
                // request have begun since, it is answered first.
                if entry.progress.waiting_since().is_some() {
                    tracing::debug!(peer = %peer, "closed a connection waiting for a head to make room");
                    metrics::connection_evicted();
                    return;
                }
                connection.as_mut().graceful_shutdown();
                connection.await
            }
        };
        drop(registration);
        if let Err(e) = result {
            // Timeouts and clients that go away are routine.
            tracing::debug!(peer = %peer, error = %e, "connection ended");
        }
    }
}

/// Resolves when shutdown begins (or the server is gone).
async fn stop_requested(stopped: &mut watch::Receiver<bool>) {
    let _ = stopped.wait_for(|stop| *stop).await;
}

/// Counts a response as finished when hyper drops its body (sent, or the connection gone).
struct Finished(Arc<Progress>);

impl Drop for Finished {
    fn drop(&mut self) {
        self.0.response_finished();
    }
}

/// A response body that reports, by being dropped, that the connection is between requests.
struct TrackedBody {
    body: Body,
    _finished: Finished,
}

impl http_body::Body for TrackedBody {
    type Data = axum::body::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// The connection cap in force: `wanted`, or less if the process may not open that many
/// descriptors. Out of descriptors, accept fails and nobody is served until a connection closes;
/// under the cap, room is made (see the module).
fn connection_cap(wanted: u64) -> usize {
    let allowed = raise_open_files_limit(wanted + SPARE_DESCRIPTORS);
    let cap = match allowed {
        Some(allowed) if allowed < wanted + SPARE_DESCRIPTORS => {
            let cap = allowed.saturating_sub(SPARE_DESCRIPTORS).max(allowed / 2).max(1);
            tracing::warn!(
                open_files = allowed,
                max_connections = wanted,
                serving = cap,
                "the open-files limit is below SG_MAX_CONNECTIONS plus spare; serving fewer connections at once"
            );
            cap
        }
        _ => wanted,
    };
    usize::try_from(cap).unwrap_or(usize::MAX)
}

/// Raises the soft open-files limit towards `wanted` (up to the hard limit), since each
/// connection is a descriptor and many systems start services with a soft limit of 1,024.
/// Returns the limit in force (`None` where there is no such limit or it cannot be read).
fn raise_open_files_limit(wanted: u64) -> Option<u64> {
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: getrlimit/setrlimit only read and write the struct passed.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
                return None;
            }
            if limit.rlim_cur < wanted as libc::rlim_t {
                let raised = libc::rlimit { rlim_cur: (wanted as libc::rlim_t).min(limit.rlim_max), ..limit };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                    limit = raised;
                }
            }
        }
        // `rlim_t` is u64 on Linux, not on every Unix.
        #[allow(clippy::unnecessary_cast)]
        Some(limit.rlim_cur as u64)
    }
    #[cfg(not(unix))]
    {
        let _ = wanted;
        None
    }
}
