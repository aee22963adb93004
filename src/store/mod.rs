//! State behind one trait, so the embedded single-node backend and Redis are
//! interchangeable: decisions and held comments, idempotency, duplicate detection,
//! author history, and the decisions going back to the CMS (the decision-event log and
//! the webhook's delivery state).

pub mod embedded;
mod embedded_outbox;
pub mod events;
pub mod redis_store;
pub mod spool;

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::limits::{Limited, RateBucket};

pub use embedded::EmbeddedStore;
pub use events::{DeadLetter, DecisionEvent, EventCursor, EventStamp};

pub use redis_store::{RedisLink, RedisStore, SharedConnection};
pub use spool::{DecisionSpool, SpooledDecision};

use crate::classify::Scores;
use crate::policy::{Action, Decision};

/// Everything modgate remembers about one moderated comment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DecisionRecord {
    /// modgate's id for the decision (random, URL-safe).
    pub moderation_id: String,
    pub site_id: String,
    /// The CMS's id: with the site, the idempotency key.
    pub comment_id: String,
    /// xxh3 of the submitted text, to tell a resubmission from a different comment
    /// reusing an id.
    pub text_fingerprint: u64,
    /// Fingerprint of the normalized (compact) text, for duplicate detection.
    pub content_fingerprint: u64,
    pub decision: Decision,
    pub scores: ScoresRecord,
    pub model_version: String,
    pub degraded: bool,
    /// Milliseconds since the Unix epoch.
    pub decided_at_ms: u64,
    /// Salted hash of the author's e-mail or CMS user id, when given.
    pub author_key: Option<String>,
    /// Salted hash of the client IP, when given.
    pub ip_hash: Option<String>,
    pub thread_id: String,
    pub thread_url: String,
    /// The comment text: kept while the comment is held, and for the site's retention
    /// period after a decision; `None` once dropped.
    pub text: Option<String>,
    /// Set when a moderator resolved a held comment.
    pub final_action: Option<Action>,
    /// Who resolved it, how and when (with `final_action`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<Resolution>,
    /// Resolutions a moderator took back (`Review.Undo`), oldest first. Kept so the
    /// history stays readable and, on the embedded store, so the decision-event log
    /// (which is rebuilt from the records) still holds the undone decision and the HOLD
    /// event that reopened it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reopenings: Vec<Reopening>,
}

/// A moderator putting a resolved comment back in the held queue.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reopening {
    /// The resolution taken back, as it was (with its event on the embedded store).
    pub undone: Resolution,
    /// Who undid it (today always the moderator who resolved it).
    pub moderator: String,
    /// Free text from the moderator (may be empty).
    pub note: String,
    /// Milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// The HOLD event announcing the reopening, on the embedded store (like
    /// [`Resolution::event`]); `None` on Redis, which keeps events in a stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<EventStamp>,
}

/// A moderator's decision on a held comment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Resolution {
    pub action: Action,
    /// The moderator's name, as configured.
    pub moderator: String,
    /// Free text from the moderator (may be empty).
    pub note: String,
    /// Milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// The decision event announcing this resolution, on the embedded store (whose event
    /// log is this field, so the two are written in one line); `None` before the
    /// resolution is stored, and on Redis, which keeps events in a stream.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<EventStamp>,
}

/// One moderator action, as the audit log keeps it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Milliseconds since the Unix epoch.
    pub at_ms: u64,
    pub moderator: String,
    pub site_id: String,
    pub comment_id: String,
    pub moderation_id: String,
    /// What the moderator asked for.
    pub requested: Action,
    /// The action in force before and after.
    pub before: Action,
    pub after: Action,
    /// Empty when the action took effect; else why not (another moderator was first).
    pub refused: String,
    pub note: String,
}

/// The outcome of resolving a held comment.
#[derive(Clone, Debug, PartialEq)]
pub enum Resolved {
    /// This resolution was stored; the record as it is now.
    Done(Box<DecisionRecord>),
    /// The comment is not (or no longer) held: resolved before, perhaps by another
    /// moderator a moment earlier, or never held. The record as it is.
    NotHeld(Box<DecisionRecord>),
    /// No decision for this comment.
    NotFound,
}

/// The outcome of putting a resolved comment back in the held queue.
#[derive(Clone, Debug, PartialEq)]
pub enum Reopened {
    /// Reopened: the record as it is now (held again).
    Done(Box<DecisionRecord>),
    /// The record changed since it was read (another undo, or a resolution after an
    /// undo, came first): nothing was written. The record as it is.
    Changed(Box<DecisionRecord>),
    /// No decision for this comment any more (it expired).
    NotFound,
}

impl DecisionRecord {
    /// This record resolved by `resolution`.
    pub fn resolved(&self, resolution: Resolution) -> Self {
        Self {
            final_action: Some(resolution.action),
            resolution: Some(resolution),
            ..self.clone()
        }
    }

    /// This record with its resolution taken back: held again, the reopening recorded.
    /// `None` when it has no resolution to take back.
    pub fn reopened(&self, moderator: &str, note: &str, at_ms: u64) -> Option<Self> {
        let undone = self.resolution.clone()?;
        let mut reopened = self.clone();
        reopened.final_action = None;
        reopened.resolution = None;
        reopened.reopenings.push(Reopening {
            undone,
            moderator: moderator.to_string(),
            note: note.to_string(),
            at_ms,
            event: None,
        });
        Some(reopened)
    }
}

impl DecisionRecord {
    /// The action in force: the moderator's, else the automatic one.
    pub fn effective_action(&self) -> Action {
        self.final_action.unwrap_or(self.decision.action)
    }

    pub fn is_held(&self) -> bool {
        self.final_action.is_none() && self.decision.action == Action::Hold
    }
}

/// [`Scores`] in a serializable form.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ScoresRecord {
    pub spam: f32,
    pub abuse: f32,
    pub hate: f32,
}

impl From<Scores> for ScoresRecord {
    fn from(s: Scores) -> Self {
        Self {
            spam: s.spam,
            abuse: s.abuse,
            hate: s.hate,
        }
    }
}

/// How often a text was seen before this comment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SeenBefore {
    /// By the same author (same hashed e-mail/user id, else same hashed IP).
    pub by_author: u32,
    /// On the whole site, by anyone.
    pub site_wide: u32,
}

/// The outcome of recording a decision.
#[derive(Clone, Debug, PartialEq)]
pub enum Recorded {
    /// Stored.
    New,
    /// A decision for this (site, comment id) already existed; it is returned unchanged.
    Existing(Box<DecisionRecord>),
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage I/O error on {path}: {source}")]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Shared state (Redis) could not be reached or did not answer in time.
    #[error("{0}")]
    Unavailable(String),
    #[error("storage file {path} is corrupt at line {line}: {message}")]
    Corrupt {
        path: std::path::PathBuf,
        line: usize,
        message: String,
    },
}

/// A text to count as a sighting for duplicate detection.
#[derive(Clone, Copy, Debug)]
pub struct Sighting<'a> {
    pub content_fingerprint: u64,
    /// Whose sighting (hashed e-mail or user id, else hashed IP), when known.
    pub author_key: Option<&'a str>,
    pub window: Duration,
    pub now_ms: u64,
}

/// What the pipeline needs to know about a comment before deciding it.
#[derive(Clone, Copy, Debug)]
pub struct AdmissionRequest<'a> {
    pub site_id: &'a str,
    pub comment_id: &'a str,
    /// Count the text for duplicate detection (`None`: too short to count).
    pub sighting: Option<Sighting<'a>>,
    /// Look up this author's approvals (when the site holds new authors).
    pub approvals_of: Option<&'a str>,
    /// Rate-limit buckets to count the comment in, for a backend that keeps rate limits
    /// (Redis); a backend that does not must be given none.
    pub rate_buckets: &'a [RateBucket],
}

/// The answer to an [`AdmissionRequest`].
#[derive(Clone, Debug, PartialEq)]
pub enum Admission {
    /// The comment was decided before: its decision, and nothing was counted.
    Existing(Box<DecisionRecord>),
    New {
        seen: Option<SeenBefore>,
        approved: Option<u64>,
        /// Set when a rate-limit bucket had no room (then no bucket counted it).
        limited: Option<Limited>,
    },
}

/// The state a moderation pipeline needs.
#[async_trait::async_trait]
pub trait Store: Send + Sync {
    /// Idempotency, duplicate sightings, author history and (where the backend keeps
    /// them) rate limits for one comment, in one round trip where the backend allows.
    /// Nothing is counted for a comment decided before.
    async fn admit(&self, request: AdmissionRequest<'_>) -> Result<Admission, StoreError> {
        debug_assert!(request.rate_buckets.is_empty(), "this backend keeps no rate limits");
        if let Some(existing) = self.get(request.site_id, request.comment_id).await? {
            return Ok(Admission::Existing(Box::new(existing)));
        }
        let seen = match request.sighting {
            Some(s) => Some(
                self.seen_before(request.site_id, s.content_fingerprint, s.author_key, s.window, s.now_ms)
                    .await?,
            ),
            None => None,
        };
        let approved = match request.approvals_of {
            Some(author) => Some(self.approved_count(request.site_id, author).await?),
            None => None,
        };
        Ok(Admission::New {
            seen,
            approved,
            limited: None,
        })
    }

    /// The decision recorded for a comment, if any.
    async fn get(&self, site_id: &str, comment_id: &str) -> Result<Option<DecisionRecord>, StoreError>;

    /// Records a decision durably (it survives a killed process) unless one exists for
    /// the same comment, which is then returned instead.
    async fn record(&self, record: DecisionRecord) -> Result<Recorded, StoreError>;

    /// Counts earlier sightings of a text within `window`, then counts this one.
    async fn seen_before(
        &self,
        site_id: &str,
        content_fingerprint: u64,
        author_key: Option<&str>,
        window: Duration,
        now_ms: u64,
    ) -> Result<SeenBefore, StoreError>;

    /// How many of an author's comments on a site ended approved.
    async fn approved_count(&self, site_id: &str, author_key: &str) -> Result<u64, StoreError>;

    /// Held comments of a site, oldest first.
    async fn held(&self, site_id: &str) -> Result<Vec<DecisionRecord>, StoreError>;

    /// A moderator's decision on a held comment. Of two racing resolutions exactly one is
    /// `Done`; the other sees `NotHeld` with the winner's record. A `Done` resolution has
    /// appended its [`DecisionEvent`] to the site's log in the same atomic write.
    async fn resolve(&self, site_id: &str, comment_id: &str, resolution: Resolution) -> Result<Resolved, StoreError>;

    /// Puts a resolved comment back in the held queue, as a compare-and-set: written only
    /// if the stored record still equals `expected` (the one the caller checked the undo
    /// window and the moderator against), so of two racing undos, or an undo racing a
    /// resolution, exactly one takes effect. In the same atomic write: the record is held
    /// again (kept without expiry, like any held comment), an approval the undone
    /// resolution counted for the author is taken back, and a HOLD [`DecisionEvent`] is
    /// appended to the site's log so the CMS learns the comment is back in moderation.
    /// `reopened` is `expected.reopened(..)`.
    async fn reopen(&self, expected: &DecisionRecord, reopened: DecisionRecord) -> Result<Reopened, StoreError>;

    /// The site's newest decision events, newest first, at most `limit`, stopping at the
    /// first one appended before `since_ms`. How a comment that left the queue is found
    /// by its moderation id: the events name it, and an undo (or a late resolution) is
    /// about a recent decision.
    async fn recent_decision_events(
        &self,
        site_id: &str,
        since_ms: u64,
        limit: usize,
    ) -> Result<Vec<DecisionEvent>, StoreError>;

    /// The record of a comment resolved since `since_ms`, by moderation id: the newest
    /// event naming it (at most `limit` events are looked at), then its record.
    async fn find_decided(
        &self,
        site_id: &str,
        moderation_id: &str,
        since_ms: u64,
        limit: usize,
    ) -> Result<Option<DecisionRecord>, StoreError> {
        let events = self.recent_decision_events(site_id, since_ms, limit).await?;
        match events.into_iter().find(|e| e.moderation_id == moderation_id) {
            Some(event) => self.get(site_id, &event.comment_id).await,
            None => Ok(None),
        }
    }

    /// The site's decision events after `after` (`None`: from the oldest kept), oldest
    /// first, at most `limit`.
    async fn decision_events(
        &self,
        site_id: &str,
        after: Option<EventCursor>,
        limit: usize,
    ) -> Result<Vec<DecisionEvent>, StoreError>;

    /// The cursor of the last event the site's webhook is done with (delivered or
    /// dead-lettered); `None` before the first.
    async fn webhook_position(&self, site_id: &str) -> Result<Option<EventCursor>, StoreError>;

    /// Moves the site's webhook position (durably: a restart resumes after it).
    async fn set_webhook_position(&self, site_id: &str, cursor: EventCursor) -> Result<(), StoreError>;

    /// Adds or replaces (by site and event id) a dead letter.
    async fn put_dead_letter(&self, letter: DeadLetter) -> Result<(), StoreError>;

    /// The site's dead letters, oldest failure first.
    async fn dead_letters(&self, site_id: &str) -> Result<Vec<DeadLetter>, StoreError>;

    /// Removes a dead letter (delivered after all); false if there was none.
    async fn remove_dead_letter(&self, site_id: &str, event_id: &str) -> Result<bool, StoreError>;

    /// Takes or renews the lease to deliver a site's webhooks for `ttl`: true while
    /// `holder` has it. On Redis, replicas share one lease per site, so one replica
    /// delivers a site's events at a time; a single-node backend always grants it.
    async fn webhook_lease(&self, site_id: &str, holder: &str, ttl: Duration) -> Result<bool, StoreError>;

    /// Appends to the site's audit log of moderator actions.
    async fn audit_append(&self, entry: AuditEntry) -> Result<(), StoreError>;

    /// The site's audit log, newest first, at most `limit` entries.
    async fn audit_log(&self, site_id: &str, limit: usize) -> Result<Vec<AuditEntry>, StoreError>;

    /// Replaces the decision of a comment that was held only to ask for a captcha, once
    /// it comes back with one (risk-based captcha). Counts an approval like `record`.
    async fn replace(&self, record: DecisionRecord) -> Result<(), StoreError>;

    /// The replay guard for captcha tokens: true the first time `token` is seen on the
    /// site, false after; remembered until `expires_at_ms` (when the token is refused
    /// anyway).
    async fn first_use(&self, site_id: &str, token: &str, expires_at_ms: u64, now_ms: u64) -> Result<bool, StoreError>;
}
