//! Signed webhooks: every decision event of a site is POSTed as JSON to the site's
//! `webhook_url`, at least once.
//!
//! One worker per site with a webhook walks the site's decision-event log from a stored
//! position, one event at a time, in order:
//!
//! - each attempt is signed afresh (`X-Modgate-Signature: t=<unix seconds>,v1=<hex
//!   HMAC-SHA256 of "<t>.<body>">`, the scheme in docs/webhooks.md) and carries
//!   `X-Modgate-Event-Id`, the same on every attempt, for the CMS to deduplicate;
//! - a 2xx answer is success; anything else, no answer within the site's timeout or no
//!   connection is a failure, retried after `retry_base`, then twice that, and so on
//!   (at most [`MAX_BACKOFF`]);
//! - after `max_attempts` failures the event becomes a dead letter in the store, shown
//!   by `modgate webhooks dead-letters` until an operator requeues it;
//! - the position moves past an event only after it was delivered or dead-lettered, so
//!   a restart (or a crash mid-POST) sends it again rather than never: at least once.
//!
//! Replicas sharing Redis take a per-site lease before delivering and renew it while they
//! work, so one replica delivers a site's events at a time; if it dies, another takes
//! over when the lease expires and resends the event that was in flight.

use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::DecisionFeed;
use crate::pipeline::{now_ms, rfc3339_millis};
use crate::policy::Action;
use crate::store::{DeadLetter, DecisionEvent, StoreError};

/// The longest wait between two attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(600);

/// A site's validated webhook settings.
#[derive(Clone)]
pub struct WebhookSettings {
    pub url: String,
    /// Signs every POST; never logged.
    pub secret: String,
    /// Longest wait for one POST's answer.
    pub timeout: Duration,
    /// Attempts per event before it is dead-lettered.
    pub max_attempts: u32,
    /// Wait after the first failure; doubled after each further one.
    pub retry_base: Duration,
}

impl std::fmt::Debug for WebhookSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookSettings")
            .field("url", &crate::config::redact_url(&self.url))
            .field("secret", &"***")
            .field("timeout", &self.timeout)
            .field("max_attempts", &self.max_attempts)
            .field("retry_base", &self.retry_base)
            .finish()
    }
}

/// The `X-Modgate-Signature` value for `body` sent at `unix_seconds`.
pub fn signature(secret: &str, unix_seconds: u64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(unix_seconds.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("t={unix_seconds},v1={hex}")
}

/// The JSON body of an event's webhook.
pub fn payload(event: &DecisionEvent) -> Vec<u8> {
    let action = match event.action {
        Action::Approve => "APPROVE",
        Action::Reject => "REJECT",
        Action::Hold => "HOLD",
    };
    serde_json::to_vec(&serde_json::json!({
        "event_id": event.event_id,
        "cursor": event.cursor.to_string(),
        "site_id": event.site_id,
        "comment_id": event.comment_id,
        "moderation_id": event.moderation_id,
        "action": action,
        "moderator": event.moderator,
        "note": event.note,
        "decided_at": rfc3339_millis(event.decided_at_ms),
    }))
    .expect("webhook payloads serialize")
}

/// The wait before attempt `failed + 1`, after `failed` failures (1 or more).
pub fn backoff(base: Duration, failed: u32) -> Duration {
    let factor = 1u32.checked_shl(failed.saturating_sub(1).min(31)).unwrap_or(u32::MAX);
    base.saturating_mul(factor).min(MAX_BACKOFF)
}

/// How one event's round of attempts ended.
enum Round {
    Delivered,
    /// Every attempt failed; the last error.
    Failed {
        attempts: u32,
        last_error: String,
    },
    /// Another replica took the site's lease: it delivers from here.
    LeaseLost,
    Stopping,
}

/// Delivers one site's decision events to its webhook.
pub struct WebhookWorker {
    feed: Arc<DecisionFeed>,
    site_id: String,
    settings: WebhookSettings,
    client: reqwest::Client,
    /// This process's name in the lease (random, so two replicas never share one).
    holder: String,
    lease_ttl: Duration,
    metrics: Arc<crate::api::metrics::Metrics>,
}

impl WebhookWorker {
    pub fn new(
        feed: Arc<DecisionFeed>,
        site_id: String,
        settings: WebhookSettings,
        client: reqwest::Client,
        holder: String,
        metrics: Arc<crate::api::metrics::Metrics>,
    ) -> Self {
        // Long enough to cover one POST with room to spare; renewed during backoff waits.
        let lease_ttl = (settings.timeout * 2 + Duration::from_secs(10)).max(Duration::from_secs(15));
        Self {
            feed,
            site_id,
            settings,
            client,
            holder,
            lease_ttl,
            metrics,
        }
    }

    /// Delivers until the server stops. A storage failure is logged and retried after
    /// the poll interval: nothing is skipped, the position just does not move.
    pub async fn run(self) {
        let mut wake = self.feed.subscribe();
        // Logged when storage starts and stops failing, not on every poll of an outage.
        let mut storage_failing = false;
        loop {
            if self.feed.is_stopping() {
                return;
            }
            wake.borrow_and_update();
            let step = self.step().await;
            match (&step, storage_failing) {
                (Err(e), false) => {
                    tracing::warn!(site = %self.site_id, error = %e, "webhook delivery paused: storage unavailable")
                }
                (Ok(_), true) => tracing::info!(site = %self.site_id, "webhook delivery resumed"),
                _ => {}
            }
            storage_failing = step.is_err();
            if let Ok(true) = step {
                continue;
            }
            if !self.feed.wait(&mut wake).await {
                return;
            }
        }
    }

    /// One event (a requeued dead letter first, else the next in the log). True when
    /// there may be more to do at once.
    async fn step(&self) -> Result<bool, StoreError> {
        let store = self.feed.store();
        if !store.webhook_lease(&self.site_id, &self.holder, self.lease_ttl).await? {
            return Ok(false);
        }
        // An operator asked for these again: they go before new events.
        let requeued = store
            .dead_letters(&self.site_id)
            .await?
            .into_iter()
            .find(|letter| letter.requeued);
        if let Some(letter) = requeued {
            match self.deliver(&letter.event).await? {
                Round::Delivered => {
                    store.remove_dead_letter(&self.site_id, &letter.event.event_id).await?;
                }
                Round::Failed { attempts, last_error } => {
                    self.dead_letter(letter.event, letter.attempts + attempts, last_error)
                        .await?;
                }
                Round::LeaseLost | Round::Stopping => return Ok(false),
            }
            return Ok(true);
        }
        let position = store.webhook_position(&self.site_id).await?;
        let Some(event) = store
            .decision_events(&self.site_id, position, 1)
            .await?
            .into_iter()
            .next()
        else {
            return Ok(false);
        };
        match self.deliver(&event).await? {
            Round::Delivered => {}
            Round::Failed { attempts, last_error } => self.dead_letter(event.clone(), attempts, last_error).await?,
            Round::LeaseLost | Round::Stopping => return Ok(false),
        }
        store.set_webhook_position(&self.site_id, event.cursor).await?;
        Ok(true)
    }

    async fn dead_letter(&self, event: DecisionEvent, attempts: u32, last_error: String) -> Result<(), StoreError> {
        self.metrics.webhook(&self.site_id, "dead_lettered");
        tracing::warn!(
            site = %self.site_id,
            event_id = %event.event_id,
            attempts,
            error = %last_error,
            "webhook gave up on an event: dead letter (modgate webhooks dead-letters)"
        );
        self.feed
            .store()
            .put_dead_letter(DeadLetter {
                event,
                attempts,
                last_error,
                failed_at_ms: now_ms(),
                requeued: false,
            })
            .await
    }

    /// Up to `max_attempts` POSTs of one event, with backoff between them.
    async fn deliver(&self, event: &DecisionEvent) -> Result<Round, StoreError> {
        let body = payload(event);
        let mut last_error = String::new();
        for attempt in 1..=self.settings.max_attempts {
            if attempt > 1 {
                let wait = backoff(self.settings.retry_base, attempt - 1);
                if let Some(end) = self.pause(wait).await? {
                    return Ok(end);
                }
            }
            let outcome = tokio::select! {
                outcome = self.post(event, &body) => outcome,
                () = self.feed.stopped() => return Ok(Round::Stopping),
            };
            match outcome {
                Ok(()) => {
                    self.metrics.webhook(&self.site_id, "delivered");
                    return Ok(Round::Delivered);
                }
                Err(error) => {
                    self.metrics.webhook(&self.site_id, "failed");
                    tracing::debug!(site = %self.site_id, event_id = %event.event_id, attempt, %error, "webhook attempt failed");
                    last_error = error;
                }
            }
        }
        Ok(Round::Failed {
            attempts: self.settings.max_attempts,
            last_error,
        })
    }

    /// Waits `wait`, renewing the lease so no other replica starts on the same event.
    /// `None` when the wait is over and the lease still ours.
    async fn pause(&self, wait: Duration) -> Result<Option<Round>, StoreError> {
        let renew_every = self.lease_ttl / 3;
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                break;
            }
            // Announcements do not cut a backoff short: only time and the stop signal.
            tokio::select! {
                () = tokio::time::sleep(left.min(renew_every)) => {}
                () = self.feed.stopped() => return Ok(Some(Round::Stopping)),
            }
            if !self
                .feed
                .store()
                .webhook_lease(&self.site_id, &self.holder, self.lease_ttl)
                .await?
            {
                return Ok(Some(Round::LeaseLost));
            }
        }
        Ok(None)
    }

    /// One signed POST; the error says what went wrong, without the URL (it may carry
    /// credentials).
    async fn post(&self, event: &DecisionEvent, body: &[u8]) -> Result<(), String> {
        let signed = signature(&self.settings.secret, now_ms() / 1000, body);
        let response = self
            .client
            .post(&self.settings.url)
            .timeout(self.settings.timeout)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("X-Modgate-Event-Id", &event.event_id)
            .header("X-Modgate-Signature", signed)
            .body(body.to_vec())
            .send()
            .await;
        match response {
            Ok(response) if response.status().is_success() => Ok(()),
            Ok(response) => Err(format!("HTTP {}", response.status().as_u16())),
            Err(e) if e.is_timeout() => Err(format!("no answer within {} ms", self.settings.timeout.as_millis())),
            Err(e) => Err(format!("no connection: {}", e.without_url())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_an_hmac_of_the_time_and_the_body() {
        // Reference value computed independently:
        // printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac 'whsec-0123456789abcdef'
        assert_eq!(
            signature("whsec-0123456789abcdef", 1_700_000_000, br#"{"a":1}"#),
            "t=1700000000,v1=d77c78ac4da074c56908b55eac30358b2a7bfc573be4c76819af5102e8dcf939"
        );
    }

    #[test]
    fn backoff_doubles_from_the_base_up_to_the_cap() {
        let base = Duration::from_secs(5);
        assert_eq!(backoff(base, 1), Duration::from_secs(5));
        assert_eq!(backoff(base, 2), Duration::from_secs(10));
        assert_eq!(backoff(base, 7), Duration::from_secs(320));
        assert_eq!(backoff(base, 8), MAX_BACKOFF);
        assert_eq!(backoff(base, 49), MAX_BACKOFF);
    }
}
