//! State behind one trait, so the embedded single-node backend and (later) Redis are
//! interchangeable: decisions and held comments, idempotency, duplicate detection and
//! author history.

pub mod embedded;
pub mod redis_store;

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use embedded::EmbeddedStore;
pub use redis_store::{RedisLink, RedisStore, SharedConnection};

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

/// The state a moderation pipeline needs.
#[async_trait::async_trait]
pub trait Store: Send + Sync {
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
}
