//! `Review.ExportLabels`: moderators' final decisions as labelled training examples.
//!
//! Walks the site's decision-event log (the order decisions were made) and looks up each
//! decision's record for its text, reasons and scores. A decision counts only while it is
//! the record's resolution in force: one undone, or decided again after an undo, is left
//! out, so an export holds each comment's final state once.

use tonic::Status;

use super::{ReviewService, timestamp, unavailable};
use crate::api::moderation::{action_to_proto, invalid, reasons_to_proto, scores_to_proto};
use crate::api::proto;
use crate::classify::feedback::label_of;
use crate::config::Moderator;
use crate::policy::Action;
use crate::store::{DecisionEvent, DecisionRecord, EventCursor};

const DEFAULT_PAGE: usize = 1000;
const MAX_PAGE: usize = 10_000;
/// Reading starts this much before `since`: on Redis an event's cursor is Redis's clock,
/// `decided_at` the replica's; events are then filtered on `decided_at`.
const CLOCK_SLACK_MS: u64 = 60_000;

/// Whether `record`'s resolution in force is the one `event` announced.
fn is_current(record: &DecisionRecord, event: &DecisionEvent) -> bool {
    record
        .resolution
        .as_ref()
        .is_some_and(|r| r.action == event.action && r.at_ms == event.decided_at_ms && r.moderator == event.moderator)
}

impl ReviewService {
    pub(super) async fn export_labels_inner(
        &self,
        moderator: Moderator,
        request: proto::ExportLabelsRequest,
    ) -> Result<proto::ExportLabelsResponse, Status> {
        if request.site_id.is_empty() {
            return Err(invalid("site_id", "required: the site whose decisions to export"));
        }
        self.sites_for(&moderator, &request.site_id)?;
        let since_ms = match &request.since {
            None => 0,
            Some(t) if t.seconds < 0 || !(0..1_000_000_000).contains(&t.nanos) => {
                return Err(invalid("since", "a time after 1970"));
            }
            Some(t) => t.seconds as u64 * 1000 + t.nanos as u64 / 1_000_000,
        };
        let page_size = match request.page_size as usize {
            0 => DEFAULT_PAGE,
            n => n.min(MAX_PAGE),
        };
        let after = if request.page_token.is_empty() {
            since_ms
                .checked_sub(CLOCK_SLACK_MS + 1)
                .map(|ms| EventCursor { ms, seq: u64::MAX })
        } else {
            Some(
                request
                    .page_token
                    .parse::<EventCursor>()
                    .map_err(|_| invalid("page_token", "not a token from a previous response"))?,
            )
        };
        let store = self.pipeline.store();
        let events = store
            .decision_events(&request.site_id, after, page_size)
            .await
            .map_err(unavailable)?;
        let next_page_token = if events.len() == page_size {
            events.last().map(|e| e.cursor.to_string()).unwrap_or_default()
        } else {
            String::new()
        };
        let mut response = proto::ExportLabelsResponse {
            next_page_token,
            ..Default::default()
        };
        for event in events {
            // HOLD events are undos, not decisions; the decision they undid is left out
            // below because it is no longer the record's resolution.
            if event.action == Action::Hold || event.decided_at_ms < since_ms {
                continue;
            }
            let Some(record) = store
                .get(&event.site_id, &event.comment_id)
                .await
                .map_err(unavailable)?
            else {
                response.skipped_text_gone += 1;
                continue;
            };
            if !is_current(&record, &event) {
                response.skipped_superseded += 1;
                continue;
            }
            let Some(text) = record.text.clone() else {
                response.skipped_text_gone += 1;
                continue;
            };
            let reasons: Vec<_> = record.decision.reasons.iter().map(|r| r.code).collect();
            let Some(label) = label_of(event.action, &reasons, record.scores) else {
                continue;
            };
            response.comments.push(proto::LabelledComment {
                moderation_id: record.moderation_id.clone(),
                site_id: record.site_id.clone(),
                comment_id: record.comment_id.clone(),
                text,
                action: action_to_proto(event.action) as i32,
                label: label.as_str().to_string(),
                reasons: reasons_to_proto(&record),
                scores: Some(scores_to_proto(&record)),
                decided_at: Some(timestamp(event.decided_at_ms)),
                moderator: event.moderator.clone(),
            });
        }
        Ok(response)
    }
}
