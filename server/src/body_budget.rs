//! The memory request bodies may hold at once, across all connections, and how long a client
//! has to send one. `DefaultBodyLimit` caps one body; this caps their sum, so that stalled
//! bodies on many connections cannot take the process's memory (README, "Running it in
//! production").

use std::{sync::Arc, time::Duration};

use axum::body::{Body, Bytes};
use http_body_util::BodyExt as _;
use tokio::{
    sync::{OwnedSemaphorePermit, Semaphore},
    time::{Instant, timeout_at},
};

use crate::error::ApiError;

/// A byte semaphore: a body holds one permit per byte it has buffered until it is dropped.
#[derive(Debug)]
pub struct BodyBudget {
    bytes: Arc<Semaphore>,
    timeout: Duration,
}

/// A buffered body and the share of the budget it holds; the share goes back when this is
/// dropped (after the handler has parsed it).
pub struct BufferedBody {
    pub bytes: Bytes,
    _permit: Option<OwnedSemaphorePermit>,
}

impl BodyBudget {
    /// `total` bytes at once (at least `max_body`, else no body of the largest size could ever
    /// be read); each body must arrive within `timeout`.
    pub fn new(total: u64, max_body: usize, timeout: Duration) -> Self {
        let total = usize::try_from(total).unwrap_or(usize::MAX).clamp(max_body, Semaphore::MAX_PERMITS);
        Self { bytes: Arc::new(Semaphore::new(total)), timeout }
    }

    /// Bytes of budget not held by any body now.
    pub fn available(&self) -> usize {
        self.bytes.available_permits()
    }

    /// Reads `body` whole, at most `max` bytes: 413 beyond (or at once when `declared`, the
    /// Content-Length, says so), 503 when no budget frees up in time, 408 when the client does
    /// not send the body in time.
    pub async fn read(&self, body: Body, declared: Option<u64>, max: usize) -> Result<BufferedBody, ApiError> {
        let deadline = Instant::now() + self.timeout;
        match declared {
            Some(length) if length > max as u64 => Err(ApiError::payload_too_large(max)),
            // A declared length is reserved whole before a byte is read; hyper ends the body
            // there, so it cannot outgrow the reservation.
            Some(length) => {
                let permit = self.reserve(length as usize, deadline).await?;
                let bytes = timeout_at(deadline, collect(body, max)).await.map_err(|_| ApiError::body_timeout())??;
                Ok(BufferedBody { bytes, _permit: permit })
            }
            None => timeout_at(deadline, self.read_chunked(body, max, deadline))
                .await
                .map_err(|_| ApiError::body_timeout())?,
        }
    }

    /// A body of unknown length (chunked): budget taken chunk by chunk as they arrive.
    async fn read_chunked(&self, mut body: Body, max: usize, deadline: Instant) -> Result<BufferedBody, ApiError> {
        let mut held: Option<OwnedSemaphorePermit> = None;
        let mut buffer = Vec::new();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| ApiError::malformed_body(format!("cannot read the request body: {e}")))?;
            let Ok(chunk) = frame.into_data() else { continue };
            if buffer.len() + chunk.len() > max {
                return Err(ApiError::payload_too_large(max));
            }
            if let Some(permit) = self.reserve(chunk.len(), deadline).await? {
                match &mut held {
                    Some(held) => held.merge(permit),
                    None => held = Some(permit),
                }
            }
            buffer.extend_from_slice(&chunk);
        }
        Ok(BufferedBody { bytes: Bytes::from(buffer), _permit: held })
    }

    /// `bytes` of budget, waiting for others to free it until `deadline` (then 503).
    async fn reserve(&self, bytes: usize, deadline: Instant) -> Result<Option<OwnedSemaphorePermit>, ApiError> {
        if bytes == 0 {
            return Ok(None);
        }
        let count = u32::try_from(bytes).map_err(|_| ApiError::payload_too_large(bytes))?;
        match timeout_at(deadline, self.bytes.clone().acquire_many_owned(count)).await {
            Ok(Ok(permit)) => Ok(Some(permit)),
            // The semaphore is never closed; a closed one would mean no budget at all.
            Ok(Err(_)) | Err(_) => Err(ApiError::busy("request bodies are using all the memory set aside for them")),
        }
    }
}

/// Collects a body whose length hyper enforces, still refusing more than `max` bytes.
async fn collect(mut body: Body, max: usize) -> Result<Bytes, ApiError> {
    let mut buffer = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| ApiError::malformed_body(format!("cannot read the request body: {e}")))?;
        if let Ok(chunk) = frame.into_data() {
            if buffer.len() + chunk.len() > max {
                return Err(ApiError::payload_too_large(max));
            }
            buffer.extend_from_slice(&chunk);
        }
    }
    Ok(Bytes::from(buffer))
}
