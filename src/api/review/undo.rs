//! `Review.Undo`, and finding a comment that already left the held queue by its
//! moderation id.
//!
//! A resolved comment is no longer in the queue, so it is found through the site's
//! decision-event log, which names the moderation id of every resolution: an undo is
//! about a decision made within the undo window (at most a day), so only the newest events
//! are read. No extra key per comment is needed, and decisions made before this existed
//! are found the same way.

use tonic::{Code, Status};

use super::{ReviewService, unavailable};
use crate::api::moderation::{action_to_proto, invalid};
use crate::api::proto;
use crate::config::Moderator;
use crate::pipeline::now_ms;
use crate::policy::Action;
use crate::store::{AuditEntry, DecisionRecord, Reopened};

/// How far back a moderation id is looked for among decision events: the longest undo
/// window the configuration allows.
pub(super) const LOOKBACK_MS: u64 = 86_400_000;
/// Events read per site at most when looking for one moderation id. A site deciding more
/// than this in a day finds fewer of its older decisions (NOT_FOUND instead of a refusal).
pub(super) const LOOKUP_EVENTS: usize = 10_000;
/// Slack for clocks: on Redis an event's cursor is Redis's time, the resolution's is the
/// replica's.
const CLOCK_SLACK_MS: u64 = 60_000;

impl ReviewService {
    /// The comment with this moderation id resolved on one of `sites` within the last
    /// [`LOOKBACK_MS`], as it is now (perhaps held again after an undo).
    pub(super) async fn find_decided(
        &self,
        sites: &[String],
        moderation_id: &str,
    ) -> Result<Option<DecisionRecord>, Status> {
        let since = now_ms().saturating_sub(LOOKBACK_MS + CLOCK_SLACK_MS);
        for site in sites {
            let found = self
                .pipeline
                .store()
                .find_decided(site, moderation_id, since, LOOKUP_EVENTS)
                .await
                .map_err(unavailable)?;
            if found.is_some() {
                return Ok(found);
            }
        }
        Ok(None)
    }

    /// Appends an audit entry for an action on `record` (as it was found).
    pub(super) async fn audit(
        &self,
        moderator: &Moderator,
        record: &DecisionRecord,
        requested: Action,
        after: Action,
        refused: String,
        note: &str,
    ) -> Result<(), Status> {
        self.pipeline
            .store()
            .audit_append(AuditEntry {
                at_ms: now_ms(),
                moderator: moderator.name.clone(),
                site_id: record.site_id.clone(),
                comment_id: record.comment_id.clone(),
                moderation_id: record.moderation_id.clone(),
                requested,
                before: record.effective_action(),
                after,
                refused,
                note: note.to_string(),
            })
            .await
            .map_err(|e| Status::new(Code::Unavailable, format!("storage (audit log): {e}")))
    }

    pub(super) async fn undo_inner(
        &self,
        moderator: Moderator,
        request: proto::UndoRequest,
    ) -> Result<proto::UndoResponse, Status> {
        if request.moderation_id.trim().is_empty() {
            return Err(invalid(
                "moderation_id",
                "required: the moderation id of a comment you resolved",
            ));
        }
        if request.note.len() > 1000 {
            return Err(invalid("note", "at most 1000 bytes"));
        }
        let sites = self.sites_for(&moderator, "")?;
        let Some(found) = self.find_decided(&sites, &request.moderation_id).await? else {
            let held = self.held(&sites).await?;
            if held.iter().any(|r| r.moderation_id == request.moderation_id) {
                return Err(Status::new(
                    Code::FailedPrecondition,
                    format!(
                        "comment with moderation id {:?} is held, not resolved: nothing to undo",
                        request.moderation_id
                    ),
                ));
            }
            return Err(Status::new(
                Code::NotFound,
                format!(
                    "no comment resolved in the last 24 hours with moderation id {:?} on your sites",
                    request.moderation_id.chars().take(64).collect::<String>()
                ),
            ));
        };
        let now = now_ms();
        let refusal = self.undo_refusal(&moderator, &found, now);
        if let Some((code, message)) = refusal {
            self.audit(
                &moderator,
                &found,
                Action::Hold,
                found.effective_action(),
                message.clone(),
                &request.note,
            )
            .await?;
            return Err(Status::new(code, message));
        }
        let undone_action = found.effective_action();
        let reopened = found
            .reopened(&moderator.name, &request.note, now)
            .expect("refused above unless resolved");
        let outcome = self
            .pipeline
            .store()
            .reopen(&found, reopened)
            .await
            .map_err(unavailable)?;
        let (after, refused) = match &outcome {
            Reopened::Done(record) => (record.effective_action(), String::new()),
            Reopened::Changed(record) => (record.effective_action(), changed_meanwhile(record)),
            Reopened::NotFound => (found.effective_action(), "the decision is gone".to_string()),
        };
        if matches!(outcome, Reopened::Done(_)) {
            self.feed.announce();
        }
        self.audit(&moderator, &found, Action::Hold, after, refused.clone(), &request.note)
            .await?;
        match outcome {
            Reopened::Done(record) => Ok(proto::UndoResponse {
                moderation_id: record.moderation_id.clone(),
                site_id: record.site_id.clone(),
                comment_id: record.comment_id.clone(),
                undone_action: action_to_proto(undone_action) as i32,
                final_action: action_to_proto(record.effective_action()) as i32,
            }),
            Reopened::Changed(record) => Err(Status::new(
                Code::Aborted,
                format!("comment {:?}: {refused}", record.comment_id),
            )),
            Reopened::NotFound => Err(Status::new(Code::NotFound, "the comment's decision is gone")),
        }
    }

    /// Why `moderator` may not undo `record` now, if they may not: (status code, message).
    fn undo_refusal(&self, moderator: &Moderator, record: &DecisionRecord, now: u64) -> Option<(Code, String)> {
        let Some(resolution) = &record.resolution else {
            // Found through its events but held again: another undo came first.
            return Some((Code::Aborted, changed_meanwhile(record)));
        };
        let ago = elapsed(now.saturating_sub(resolution.at_ms));
        let action = resolution.action.as_str();
        if resolution.moderator != moderator.name {
            return Some((
                Code::FailedPrecondition,
                format!(
                    "comment {:?} was resolved ({action}) by {} {ago} ago; only they may undo it",
                    record.comment_id, resolution.moderator
                ),
            ));
        }
        let window = self
            .pipeline
            .site(&record.site_id)
            .map_or(std::time::Duration::ZERO, |s| s.undo_window);
        if window.is_zero() {
            return Some((
                Code::FailedPrecondition,
                format!("undo is off on site {:?} (undo_window_seconds = 0)", record.site_id),
            ));
        }
        if now.saturating_sub(resolution.at_ms) > window.as_millis() as u64 {
            return Some((
                Code::FailedPrecondition,
                format!(
                    "comment {:?} was resolved ({action}) by you {ago} ago; site {:?} allows undo for {} s",
                    record.comment_id,
                    record.site_id,
                    window.as_secs()
                ),
            ));
        }
        None
    }
}

/// What happened to a comment between reading it and trying to undo its resolution.
fn changed_meanwhile(record: &DecisionRecord) -> String {
    match (&record.resolution, record.reopenings.last()) {
        (Some(r), _) => format!("resolved again meanwhile by {} ({})", r.moderator, r.action.as_str()),
        (None, Some(undo)) => format!("already undone by {}", undo.moderator),
        (None, None) => "not resolved".to_string(),
    }
}

/// A span for people: "35 s", "4 min", "3 h".
fn elapsed(ms: u64) -> String {
    match ms / 1000 {
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{} min", s / 60),
        s => format!("{} h", s / 3600),
    }
}
