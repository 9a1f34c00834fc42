//! The connection a batch runs on, made again when it is lost: every file
//! task takes the current [`Client`] from the [`Link`]; a task that finds
//! the connection gone hands its file back to the runner, which reconnects
//! once (whichever task noticed first) with bounded backoff and runs the
//! file again, resuming its partial.

use std::time::Duration;

use tokio::sync::Mutex;

use crate::{Client, ConnectError};

/// The first pause before reconnecting; each next one doubles, up to
/// [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
/// The longest pause between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(8);
/// How long one attempt waits for the handshake: a live server on a
/// working path answers within a few round trips.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3);

/// A connection that can be made again, shared by a batch's tasks.
#[derive(Debug)]
pub(crate) struct Link {
    current: Mutex<(Client, u64)>,
}

impl Link {
    pub(crate) fn new(client: Client) -> Self {
        Link {
            current: Mutex::new((client, 0)),
        }
    }

    /// The current connection and its generation.
    pub(crate) async fn get(&self) -> (Client, u64) {
        let current = self.current.lock().await;
        (current.0.clone(), current.1)
    }

    /// Replaces connection `generation` with a new one, trying up to
    /// `attempts` times with growing pauses; a connection that another task
    /// already replaced is not replaced again. `tried` hears of each attempt
    /// (1-based) before it is made.
    pub(crate) async fn reconnect(
        &self,
        generation: u64,
        attempts: u32,
        tried: &(dyn Fn(u32) + Sync),
    ) -> Result<(), ConnectError> {
        let mut current = self.current.lock().await;
        if current.1 != generation && !current.0.is_closed() {
            return Ok(());
        }
        current.0.close().await;
        let mut pause = FIRST_BACKOFF;
        let mut last = None;
        for attempt in 1..=attempts {
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(MAX_BACKOFF);
            tried(attempt);
            match current.0.reconnect_within(ATTEMPT_TIMEOUT).await {
                Ok(client) => {
                    *current = (client, current.1 + 1);
                    return Ok(());
                }
                // Trust problems do not go away by trying again.
                Err(e @ (ConnectError::HostKeyChanged { .. } | ConnectError::Untrusted { .. })) => {
                    return Err(e)
                }
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or(ConnectError::Timeout {
            target: current.0.target().to_string(),
            after: Duration::ZERO,
        }))
    }
}
