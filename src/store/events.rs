//! Decisions going back to the CMS: the per-site log of moderators' final decisions
//! (what `WatchDecisions` streams and the webhook worker posts) and the webhook's
//! delivery state (how far it got, and the events it gave up on).
//!
//! The log is append-only and ordered by [`EventCursor`]. Both backends write an event in
//! the same atomic step as the resolution it reports (the embedded store in the same
//! line of its decision file, Redis in the same script), so a resolution that was stored
//! always has its event: nothing a moderator decided can be lost on the way to the CMS.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::policy::Action;

/// Events kept per site (approximately on Redis, which trims whole stream nodes). A
/// watcher or webhook further behind than this resumes at the oldest event kept.
pub const DECISION_EVENTS_KEPT: usize = 100_000;

/// A position in a site's decision-event log: `<milliseconds>-<sequence>`, the shape of a
/// Redis stream id (which it is on Redis). Totally ordered; what a client sends back as
/// `after_cursor` to resume. Clients treat it as opaque text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventCursor {
    pub ms: u64,
    pub seq: u64,
}

impl EventCursor {
    /// The cursor for an event appended at `now_ms` after `self`: later than `self` even
    /// when the clock went back or several events share a millisecond (as Redis does it).
    pub fn next(self, now_ms: u64) -> Self {
        if now_ms > self.ms {
            Self { ms: now_ms, seq: 0 }
        } else {
            Self {
                ms: self.ms,
                seq: self.seq + 1,
            }
        }
    }
}

impl fmt::Display for EventCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// A cursor that is not `<digits>-<digits>`.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("not a cursor from a decision event: {0:?}")]
pub struct BadCursor(pub String);

impl FromStr for EventCursor {
    type Err = BadCursor;

    fn from_str(s: &str) -> Result<Self, BadCursor> {
        let bad = || BadCursor(s.chars().take(64).collect());
        let (ms, seq) = s.split_once('-').ok_or_else(bad)?;
        let digits = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
        if !digits(ms) || !digits(seq) {
            return Err(bad());
        }
        Ok(Self {
            ms: ms.parse().map_err(|_| bad())?,
            seq: seq.parse().map_err(|_| bad())?,
        })
    }
}

impl Serialize for EventCursor {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for EventCursor {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Where a resolution's event sits in the log, kept with the resolution by the embedded
/// store (its log is rebuilt from these on start).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventStamp {
    pub cursor: EventCursor,
    pub event_id: String,
}

/// A moderator's decision on a held comment (or its undoing), as the CMS learns it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DecisionEvent {
    /// Where it sits in its site's log (set by the store that appended it).
    #[serde(default)]
    pub cursor: EventCursor,
    /// Unique and stable across redeliveries: what a CMS deduplicates on.
    pub event_id: String,
    pub site_id: String,
    pub comment_id: String,
    pub moderation_id: String,
    /// The action now in force for the comment: approve or reject, or HOLD when the
    /// moderator undid their decision and the comment is back in moderation (a CMS that
    /// published it on an earlier APPROVE unpublishes it).
    pub action: Action,
    /// The moderator's name, as configured.
    pub moderator: String,
    pub note: String,
    /// When the moderator decided (ms since the Unix epoch).
    pub decided_at_ms: u64,
}

/// A random event id (128 bits, hex): unique without coordination between replicas.
pub fn new_event_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// An event the webhook gave up on after its last attempt, waiting for an operator to
/// requeue it (`modgate webhooks retry`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub event: DecisionEvent,
    /// Delivery attempts so far, over every round.
    pub attempts: u32,
    /// What the last attempt got: an HTTP status, a timeout, a connection error.
    pub last_error: String,
    /// When the last attempt failed (ms since the Unix epoch).
    pub failed_at_ms: u64,
    /// An operator asked for another round of deliveries; the worker picks it up.
    pub requeued: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_order_like_stream_ids() {
        let c: EventCursor = "1732600000000-3".parse().unwrap();
        assert_eq!(
            c,
            EventCursor {
                ms: 1_732_600_000_000,
                seq: 3
            }
        );
        assert_eq!(c.to_string(), "1732600000000-3");
        assert!(EventCursor { ms: 5, seq: 9 } < EventCursor { ms: 6, seq: 0 });
        for bad in [
            "",
            "12",
            "-1",
            "1-",
            "a-1",
            "1-2-3",
            "1--2",
            " 1-2",
            "99999999999999999999999-0",
        ] {
            assert!(bad.parse::<EventCursor>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_next_cursor_is_later_even_when_the_clock_is_not() {
        let c = EventCursor { ms: 100, seq: 0 };
        assert_eq!(c.next(150), EventCursor { ms: 150, seq: 0 });
        assert_eq!(c.next(100), EventCursor { ms: 100, seq: 1 });
        assert_eq!(c.next(90), EventCursor { ms: 100, seq: 1 });
    }
}
