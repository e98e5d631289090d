//! One shutdown signal shared by every server of a process.

use std::time::Duration;
use tokio::sync::watch;

/// A clonable handle that resolves once shutdown was requested.
#[derive(Debug, Clone)]
pub struct Shutdown {
    receiver: watch::Receiver<bool>,
}

/// The side that requests shutdown.
#[derive(Debug)]
pub struct ShutdownTrigger {
    sender: watch::Sender<bool>,
}

impl Shutdown {
    pub fn new() -> (ShutdownTrigger, Self) {
        let (sender, receiver) = watch::channel(false);
        (ShutdownTrigger { sender }, Self { receiver })
    }

    /// Resolves when shutdown was requested (or the trigger was dropped).
    pub async fn wait(mut self) {
        // An error means the trigger is gone, which also means "stop".
        let _ = self.receiver.wait_for(|stop| *stop).await;
    }

    pub fn is_requested(&self) -> bool {
        *self.receiver.borrow()
    }
}

impl ShutdownTrigger {
    pub fn trigger(&self) {
        let _ = self.sender.send(true);
    }
}

/// Resolves on SIGTERM or SIGINT.
///
/// Kubernetes sends SIGTERM when it stops a pod, then waits
/// `terminationGracePeriodSeconds` before SIGKILL; everything in flight must
/// finish within that window.
pub async fn signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => tracing::info!("received SIGTERM, shutting down"),
                    _ = tokio::signal::ctrl_c() => tracing::info!("received SIGINT, shutting down"),
                }
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM, only SIGINT stops this process");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Awaits `drain` for at most `grace`, warning when the grace period runs out.
pub async fn drain_within<F: std::future::Future>(grace: Duration, what: &str, drain: F) {
    if tokio::time::timeout(grace, drain).await.is_err() {
        tracing::warn!(
            part = what,
            grace_secs = grace.as_secs(),
            "grace period ran out before in-flight requests finished"
        );
    }
}
