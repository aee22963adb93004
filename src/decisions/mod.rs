//! Decisions back to the CMS, at least once: moderators' final decisions on held
//! comments reach the CMS through `WatchDecisions` streams and signed webhooks
//! ([`webhook`]).
//!
//! Both read the per-site decision-event log in the store ([`crate::store::events`]),
//! which the store appends to in the same atomic write as each resolution. Readers keep
//! their own position (a watcher its cursor, the webhook worker a stored position), so a
//! reader that was away picks up where it left off. New events are noticed two ways: a
//! resolution made by this process wakes every reader at once ([`DecisionFeed::announce`]),
//! and readers poll the store every [`DecisionFeed::poll`] for resolutions made by other
//! replicas sharing Redis.

pub mod webhook;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};

use crate::store::{DecisionEvent, EventCursor, Store, StoreError};

/// How often readers look at the store for events another replica appended: a decision
/// made on one replica reaches watchers on another within this (plus a Redis round trip).
pub const POLL_INTERVAL: Duration = Duration::from_millis(500);

/// Events read from the store per round trip.
const BATCH: usize = 100;

/// What the readers of decision events share: the store, the wake-up and the stop signal.
pub struct DecisionFeed {
    store: Arc<dyn Store>,
    /// Counts resolutions stored by this process; readers wait for it to change.
    wake: watch::Sender<u64>,
    /// Set when the server shuts down: readers end instead of keeping the drain waiting.
    stop: watch::Receiver<bool>,
    poll: Duration,
}

/// Why a followed stream of events ended.
#[derive(Debug, thiserror::Error)]
pub enum FollowEnd {
    #[error("storage: {0}")]
    Store(#[from] StoreError),
    #[error("the server is shutting down")]
    ShuttingDown,
}

impl DecisionFeed {
    pub fn new(store: Arc<dyn Store>, stop: watch::Receiver<bool>, poll: Duration) -> Self {
        Self {
            store,
            wake: watch::Sender::new(0),
            stop,
            poll,
        }
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn poll(&self) -> Duration {
        self.poll
    }

    /// Wakes every reader: a resolution (or a requeued dead letter) was just stored.
    pub fn announce(&self) {
        self.wake.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// A wake-up receiver for [`Self::wait`].
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.wake.subscribe()
    }

    /// Resolves when the server starts shutting down.
    pub async fn stopped(&self) {
        let mut stop = self.stop.clone();
        // The borrow the wait returns ends here, so callers' futures stay `Send`.
        let _ = stop.wait_for(|stopping| *stopping).await;
    }

    pub fn is_stopping(&self) -> bool {
        *self.stop.borrow()
    }

    /// Waits for an announcement not yet seen on `wake`, or the poll interval, whichever
    /// comes first. False when the server is shutting down.
    pub async fn wait(&self, wake: &mut watch::Receiver<u64>) -> bool {
        self.wait_at_most(wake, self.poll).await
    }

    /// [`Self::wait`] for at most `limit` instead of the poll interval.
    pub async fn wait_at_most(&self, wake: &mut watch::Receiver<u64>, limit: Duration) -> bool {
        tokio::select! {
            changed = wake.changed() => {
                if changed.is_err() {
                    // No sender can announce any more: only the timer is left.
                    tokio::time::sleep(limit).await;
                }
            }
            () = tokio::time::sleep(limit) => {}
            () = self.stopped() => {}
        }
        !self.is_stopping()
    }

    /// The site's events after `after`, then each new one as it is appended, until the
    /// receiver is dropped, the store fails, or the server stops (the last item then
    /// says why). The channel is bounded: a slow reader slows its own reading only.
    pub fn follow(
        self: &Arc<Self>,
        site_id: String,
        after: Option<EventCursor>,
    ) -> mpsc::Receiver<Result<DecisionEvent, FollowEnd>> {
        let (tx, rx) = mpsc::channel(BATCH);
        let feed = self.clone();
        tokio::spawn(async move {
            let mut wake = feed.subscribe();
            let mut cursor = after;
            loop {
                // Marked seen before reading, so an announcement during the read is not
                // lost: the wait below then returns at once.
                wake.borrow_and_update();
                let batch = match feed.store.decision_events(&site_id, cursor, BATCH).await {
                    Ok(batch) => batch,
                    Err(e) => {
                        let _ = tx.send(Err(FollowEnd::Store(e))).await;
                        return;
                    }
                };
                let full = batch.len() == BATCH;
                for event in batch {
                    cursor = Some(event.cursor);
                    if tx.send(Ok(event)).await.is_err() {
                        return;
                    }
                }
                if full {
                    continue;
                }
                tokio::select! {
                    running = feed.wait(&mut wake) => {
                        if !running {
                            let _ = tx.send(Err(FollowEnd::ShuttingDown)).await;
                            return;
                        }
                    }
                    () = tx.closed() => return,
                }
            }
        });
        rx
    }
}
