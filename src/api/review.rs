//! `modgate.v1.Review`: moderators list held comments and resolve them.
//!
//! Moderators authenticate with their own tokens (compared as SHA-256 digests in
//! constant time, like API keys, and never logged) and see only their sites. With no
//! moderators configured, which the configuration allows only on loopback, a local
//! moderator named "local" needs no token.

mod labels;
mod undo;

use std::collections::HashMap;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tonic::metadata::MetadataMap;
use tonic::{Code, Request, Response, Status};
use unicode_normalization::UnicodeNormalization;

use super::metrics::Metrics;
use super::moderation::{action_to_proto, event_to_proto, invalid, reasons_to_proto, scores_to_proto};
use super::proto;
use crate::config::Moderator;
use crate::decisions::DecisionFeed;
use crate::pipeline::{Pipeline, now_ms};
use crate::policy::Action;
use crate::store::{AuditEntry, DeadLetter, DecisionRecord, Resolution, Resolved, StoreError};

const DEFAULT_PAGE: usize = 50;
const MAX_PAGE: usize = 500;
/// Features per head in a comment's explanation.
const TOP_FEATURES: usize = 8;

pub struct ReviewService {
    pipeline: Arc<Pipeline>,
    metrics: Arc<Metrics>,
    /// (digest of token, moderator)
    moderators: Vec<([u8; 32], Moderator)>,
    /// Told about every resolution, so watchers and webhooks send it at once.
    feed: Arc<DecisionFeed>,
}

fn unavailable(e: StoreError) -> Status {
    Status::new(Code::Unavailable, format!("storage: {e}"))
}

fn dead_letter_to_proto(letter: DeadLetter) -> proto::DeadLetter {
    proto::DeadLetter {
        event: Some(event_to_proto(letter.event)),
        attempts: letter.attempts,
        last_error: letter.last_error,
        failed_at: Some(timestamp(letter.failed_at_ms)),
        requeued: letter.requeued,
    }
}

impl ReviewService {
    pub fn new(
        pipeline: Arc<Pipeline>,
        metrics: Arc<Metrics>,
        moderators: &[Moderator],
        feed: Arc<DecisionFeed>,
    ) -> Self {
        let moderators = moderators
            .iter()
            .map(|m| (Sha256::digest(m.token.as_bytes()).into(), m.clone()))
            .collect();
        Self {
            pipeline,
            metrics,
            moderators,
            feed,
        }
    }

    fn moderator(&self, metadata: &MetadataMap) -> Result<Moderator, Status> {
        let unauthenticated = |m: &str| Status::new(Code::Unauthenticated, m.to_string());
        if self.moderators.is_empty() {
            return Ok(Moderator {
                name: "local".into(),
                token: String::new(),
                sites: Vec::new(),
            });
        }
        let value = metadata
            .get("authorization")
            .ok_or_else(|| unauthenticated("missing authorization: send \"authorization: Bearer <moderator token>\""))?
            .to_str()
            .map_err(|_| unauthenticated("the authorization header is not readable text"))?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .ok_or_else(|| unauthenticated("authorization must be \"Bearer <moderator token>\""))?
            .trim();
        let presented: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let mut found = None;
        for (digest, moderator) in &self.moderators {
            if bool::from(digest.ct_eq(&presented)) {
                found = Some(moderator);
            }
        }
        found.cloned().ok_or_else(|| unauthenticated("unknown moderator token"))
    }

    /// The sites a moderator asks about: one (which they must be allowed), or all theirs.
    fn sites_for(&self, moderator: &Moderator, site_id: &str) -> Result<Vec<String>, Status> {
        if site_id.is_empty() {
            return Ok(self
                .pipeline
                .sites()
                .filter(|s| moderator.may_review(&s.id))
                .map(|s| s.id.clone())
                .collect());
        }
        if self.pipeline.site(site_id).is_none() {
            return Err(invalid("site_id", &format!("unknown site {site_id:?}")));
        }
        if !moderator.may_review(site_id) {
            return Err(Status::new(
                Code::PermissionDenied,
                format!("moderator {:?} may not review site {site_id:?}", moderator.name),
            ));
        }
        Ok(vec![site_id.to_string()])
    }

    async fn held(&self, sites: &[String]) -> Result<Vec<DecisionRecord>, Status> {
        let mut held = Vec::new();
        for site in sites {
            held.extend(
                self.pipeline
                    .store()
                    .held(site)
                    .await
                    .map_err(|e| Status::new(Code::Unavailable, format!("storage: {e}")))?,
            );
        }
        held.sort_by(|a, b| {
            // Comments held in the same millisecond: by comment id (as the Redis queue,
            // a sorted set, orders them), not by the random moderation id.
            a.decided_at_ms
                .cmp(&b.decided_at_ms)
                .then_with(|| a.site_id.cmp(&b.site_id))
                .then_with(|| a.comment_id.cmp(&b.comment_id))
        });
        Ok(held)
    }
}

fn held_comment(record: DecisionRecord) -> proto::HeldComment {
    let (reasons, scores) = (reasons_to_proto(&record), scores_to_proto(&record));
    proto::HeldComment {
        moderation_id: record.moderation_id,
        site_id: record.site_id,
        comment_id: record.comment_id,
        thread_id: record.thread_id,
        thread_url: record.thread_url,
        text: record.text.unwrap_or_default(),
        reasons,
        scores: Some(scores),
        held_at: Some(timestamp(record.decided_at_ms)),
    }
}

impl ReviewService {
    /// Runs one call's work, counts its outcome in the metrics, and wraps the answer.
    async fn answer<T>(
        &self,
        rpc: &'static str,
        work: impl std::future::Future<Output = Result<T, Status>>,
    ) -> Result<Response<T>, Status> {
        let result = work.await;
        self.metrics
            .rpc(rpc, result.as_ref().map_or_else(Status::code, |_| Code::Ok));
        result.map(Response::new)
    }

    /// The held comments that match a listing's filters.
    fn filter_held(
        &self,
        held: Vec<DecisionRecord>,
        request: &proto::ListHeldRequest,
    ) -> Result<Vec<DecisionRecord>, Status> {
        let reason = match proto::ReasonCode::try_from(request.reason) {
            Ok(proto::ReasonCode::Unspecified) => None,
            Ok(code) => Some(code),
            Err(_) => return Err(invalid("reason", "not a known reason code")),
        };
        if request.min_age_seconds > 0
            && request.max_age_seconds > 0
            && request.min_age_seconds > request.max_age_seconds
        {
            return Err(invalid("min_age_seconds", "greater than max_age_seconds"));
        }
        let author_keys: Vec<String> = match request.author.trim() {
            "" => Vec::new(),
            author => vec![
                self.pipeline
                    .hash_personal("email", &crate::pipeline::normalize_email(author)),
                self.pipeline.hash_personal("user", author),
            ],
        };
        let now = now_ms();
        let age_seconds = |r: &DecisionRecord| now.saturating_sub(r.decided_at_ms) / 1000;
        Ok(held
            .into_iter()
            .filter(|r| {
                reason.is_none_or(|code| {
                    r.decision
                        .reasons
                        .iter()
                        .any(|s| super::moderation::reason_to_proto(s.code) == code)
                })
            })
            .filter(|r| request.min_age_seconds == 0 || age_seconds(r) >= request.min_age_seconds)
            .filter(|r| request.max_age_seconds == 0 || age_seconds(r) <= request.max_age_seconds)
            .filter(|r| author_keys.is_empty() || r.author_key.as_ref().is_some_and(|key| author_keys.contains(key)))
            .collect())
    }

    /// One resolution: the comment found in `held` (or, if it left the queue, through the
    /// decision events, so a late attempt is audited too), resolved by compare-and-set,
    /// the attempt audited whatever its outcome.
    async fn resolve_one(
        &self,
        moderator: &Moderator,
        sites: &[String],
        held: &[DecisionRecord],
        action: Action,
        request: proto::ResolveRequest,
    ) -> Result<proto::ResolveResponse, Status> {
        let target = match held.iter().find(|r| r.moderation_id == request.moderation_id).cloned() {
            Some(target) => target,
            // Not in the queue: perhaps resolved a moment ago by another moderator.
            // Found through the decision events, the late attempt is audited too.
            None => match self.find_decided(sites, &request.moderation_id).await? {
                Some(record) if record.is_held() => record,
                Some(record) => {
                    let by = already_resolved(&record);
                    self.audit(
                        moderator,
                        &record,
                        action,
                        record.effective_action(),
                        by.clone(),
                        &request.note,
                    )
                    .await?;
                    return Err(Status::new(
                        Code::Aborted,
                        format!("comment {:?}: {by}", record.comment_id),
                    ));
                }
                None => return Err(not_held(&request.moderation_id)),
            },
        };
        let resolution = Resolution {
            action,
            moderator: moderator.name.clone(),
            note: request.note.clone(),
            at_ms: now_ms(),
            event: None,
        };
        let store = self.pipeline.store();
        let resolved = store
            .resolve(&target.site_id, &target.comment_id, resolution.clone())
            .await
            .map_err(|e| Status::new(Code::Unavailable, format!("storage: {e}")))?;
        if matches!(resolved, Resolved::Done(_)) {
            self.feed.announce();
        }
        // Every attempt is audited, the ones that lost a race included.
        let (after, refused) = match &resolved {
            Resolved::Done(record) => (record.effective_action(), String::new()),
            Resolved::NotHeld(record) => (
                record.effective_action(),
                record.resolution.as_ref().map_or_else(
                    || "not held any more".to_string(),
                    |r| format!("already resolved by {} ({})", r.moderator, r.action.as_str()),
                ),
            ),
            Resolved::NotFound => (target.effective_action(), "the decision is gone".to_string()),
        };
        store
            .audit_append(AuditEntry {
                at_ms: resolution.at_ms,
                moderator: moderator.name.clone(),
                site_id: target.site_id.clone(),
                comment_id: target.comment_id.clone(),
                moderation_id: target.moderation_id.clone(),
                requested: action,
                before: target.effective_action(),
                after,
                refused,
                note: request.note,
            })
            .await
            .map_err(|e| Status::new(Code::Unavailable, format!("storage (audit log): {e}")))?;
        match resolved {
            Resolved::Done(record) => Ok(proto::ResolveResponse {
                moderation_id: record.moderation_id.clone(),
                site_id: record.site_id.clone(),
                comment_id: record.comment_id.clone(),
                final_action: action_to_proto(record.effective_action()) as i32,
            }),
            Resolved::NotHeld(record) => {
                let by = record.resolution.as_ref().map_or_else(
                    || "not held any more".to_string(),
                    |r| format!("already resolved by {} ({})", r.moderator, r.action.as_str()),
                );
                Err(Status::new(
                    Code::Aborted,
                    format!("comment {:?}: {by}", record.comment_id),
                ))
            }
            Resolved::NotFound => Err(Status::new(Code::NotFound, "the comment's decision is gone")),
        }
    }
}

#[tonic::async_trait]
impl proto::review_server::Review for ReviewService {
    async fn list_held(
        &self,
        request: Request<proto::ListHeldRequest>,
    ) -> Result<Response<proto::ListHeldResponse>, Status> {
        let (metadata, _, request) = request.into_parts();
        self.answer("ListHeld", async {
            let moderator = self.moderator(&metadata)?;
            let sites = self.sites_for(&moderator, &request.site_id)?;
            let page_size = match request.page_size as usize {
                0 => DEFAULT_PAGE,
                n => n.min(MAX_PAGE),
            };
            let offset: usize = if request.page_token.is_empty() {
                0
            } else {
                request
                    .page_token
                    .parse()
                    .map_err(|_| invalid("page_token", "not a token from a previous response"))?
            };
            let held = self.filter_held(self.held(&sites).await?, &request)?;
            let total = held.len();
            let next = offset + page_size;
            Ok(proto::ListHeldResponse {
                comments: held
                    .into_iter()
                    .skip(offset)
                    .take(page_size)
                    .map(held_comment)
                    .collect(),
                next_page_token: if next < total { next.to_string() } else { String::new() },
                total: total as u32,
            })
        })
        .await
    }

    async fn get_held(
        &self,
        request: Request<proto::GetHeldRequest>,
    ) -> Result<Response<proto::HeldCommentDetail>, Status> {
        let (metadata, _, request) = request.into_parts();
        self.answer("GetHeld", async {
            let moderator = self.moderator(&metadata)?;
            if request.moderation_id.is_empty() {
                return Err(invalid("moderation_id", "required"));
            }
            let sites = self.sites_for(&moderator, "")?;
            let held = self.held(&sites).await?;
            let Some(target) = held.iter().find(|r| r.moderation_id == request.moderation_id) else {
                return Err(not_held(&request.moderation_id));
            };
            let same = |a: &Option<String>, b: &Option<String>| a.is_some() && a == b;
            let approved = match &target.author_key {
                Some(author) => self
                    .pipeline
                    .store()
                    .approved_count(&target.site_id, author)
                    .await
                    .map_err(|e| Status::new(Code::Unavailable, format!("storage: {e}")))?,
                None => 0,
            };
            let on_site = |r: &&DecisionRecord| r.site_id == target.site_id;
            let author = proto::AuthorHistory {
                identified: target.author_key.is_some(),
                approved,
                held_now: held
                    .iter()
                    .filter(on_site)
                    .filter(|r| r.moderation_id == target.moderation_id || same(&r.author_key, &target.author_key))
                    .count() as u32,
                held_now_same_network: held
                    .iter()
                    .filter(on_site)
                    .filter(|r| r.moderation_id == target.moderation_id || same(&r.ip_hash, &target.ip_hash))
                    .count() as u32,
            };
            // Word ranges index the NFC form of the text (what the classifier reads), so
            // the moderator is shown that form: it looks the same.
            let text: String = target.text.as_deref().unwrap_or_default().nfc().collect();
            let mut comment = held_comment(target.clone());
            comment.text = text.clone();
            // Explaining costs a few scorings; off the async workers like any CPU work.
            let classifier = self.pipeline.classifier();
            let explanation = tokio::task::spawn_blocking(move || classifier.explain(&text, TOP_FEATURES))
                .await
                .map_err(|e| Status::new(Code::Internal, format!("explaining the scores: {e}")))?;
            let heads = explanation
                .heads
                .into_iter()
                .map(|h| proto::HeadExplanation {
                    head: h.head.as_str().to_string(),
                    probability: h.probability,
                    top_features: h
                        .reasons()
                        .into_iter()
                        .take(TOP_FEATURES)
                        .map(|f| proto::FeatureEffect {
                            name: f.name,
                            effect: f.effect,
                        })
                        .collect(),
                    words: h
                        .token_effects
                        .into_iter()
                        .filter(|t| t.effect != 0.0 && t.end > t.start)
                        .map(|t| proto::WordEffect {
                            start: t.start as u32,
                            end: t.end as u32,
                            effect: t.effect,
                        })
                        .collect(),
                })
                .collect();
            Ok(proto::HeldCommentDetail {
                comment: Some(comment),
                heads,
                author: Some(author),
            })
        })
        .await
    }

    async fn resolve_many(
        &self,
        request: Request<proto::ResolveManyRequest>,
    ) -> Result<Response<proto::ResolveManyResponse>, Status> {
        let (metadata, _, request) = request.into_parts();
        self.answer("ResolveMany", async {
            let moderator = self.moderator(&metadata)?;
            let action = match proto::Action::try_from(request.action) {
                Ok(proto::Action::Approve) => Action::Approve,
                Ok(proto::Action::Reject) => Action::Reject,
                _ => return Err(invalid("action", "APPROVE or REJECT")),
            };
            if request.moderation_ids.is_empty() || request.moderation_ids.len() > MAX_PAGE {
                return Err(invalid("moderation_ids", "1 to 500 ids"));
            }
            if request.moderation_ids.iter().any(String::is_empty) {
                return Err(invalid("moderation_ids", "an empty id"));
            }
            if request.note.len() > 1000 {
                return Err(invalid("note", "at most 1000 bytes"));
            }
            let sites = self.sites_for(&moderator, "")?;
            let held = self.held(&sites).await?;
            let mut outcomes = Vec::with_capacity(request.moderation_ids.len());
            for moderation_id in request.moderation_ids {
                let one = proto::ResolveRequest {
                    moderation_id: moderation_id.clone(),
                    action: request.action,
                    note: request.note.clone(),
                };
                outcomes.push(match self.resolve_one(&moderator, &sites, &held, action, one).await {
                    Ok(resolved) => proto::ResolveOutcome {
                        moderation_id,
                        resolved: Some(resolved),
                        ..Default::default()
                    },
                    Err(status) if matches!(status.code(), Code::Aborted | Code::NotFound) => proto::ResolveOutcome {
                        moderation_id,
                        resolved: None,
                        error_code: code_name(status.code()).to_string(),
                        error: status.message().to_string(),
                    },
                    // Storage failing stops the batch: what was resolved so far is audited.
                    Err(status) => return Err(status),
                });
            }
            Ok(proto::ResolveManyResponse { outcomes })
        })
        .await
    }

    async fn resolve(
        &self,
        request: Request<proto::ResolveRequest>,
    ) -> Result<Response<proto::ResolveResponse>, Status> {
        let (metadata, _, request) = request.into_parts();
        self.answer("Resolve", async {
            let moderator = self.moderator(&metadata)?;
            let action = match proto::Action::try_from(request.action) {
                Ok(proto::Action::Approve) => Action::Approve,
                Ok(proto::Action::Reject) => Action::Reject,
                _ => return Err(invalid("action", "APPROVE or REJECT")),
            };
            if request.moderation_id.is_empty() {
                return Err(invalid("moderation_id", "required"));
            }
            if request.note.len() > 1000 {
                return Err(invalid("note", "at most 1000 bytes"));
            }
            let sites = self.sites_for(&moderator, "")?;
            let held = self.held(&sites).await?;
            self.resolve_one(&moderator, &sites, &held, action, request).await
        })
        .await
    }

    async fn stats(&self, request: Request<proto::StatsRequest>) -> Result<Response<proto::StatsResponse>, Status> {
        let (metadata, _, request) = request.into_parts();
        self.answer("Stats", async {
            let moderator = self.moderator(&metadata)?;
            let mut sites = self.sites_for(&moderator, &request.site_id)?;
            sites.sort();
            let day_ago = now_ms().saturating_sub(86_400_000);
            let store = self.pipeline.store();
            let unavailable = |e: crate::store::StoreError| Status::new(Code::Unavailable, format!("storage: {e}"));
            let mut out = Vec::new();
            for site in sites {
                let held = store.held(&site).await.map_err(unavailable)?;
                let recent: Vec<AuditEntry> = store
                    .audit_log(&site, 10_000)
                    .await
                    .map_err(unavailable)?
                    .into_iter()
                    .filter(|e| e.at_ms >= day_ago && e.refused.is_empty())
                    .collect();
                // A comment's latest action of the day is what counts: an approval that was
                // undone (and perhaps rejected after) is not an approval. The log is
                // newest first.
                let mut latest: HashMap<&str, Action> = HashMap::new();
                for entry in &recent {
                    latest.entry(entry.moderation_id.as_str()).or_insert(entry.after);
                }
                let count = |action: Action| latest.values().filter(|&&a| a == action).count() as u32;
                out.push(proto::SiteStats {
                    held: held.len() as u32,
                    oldest_held_at: held.iter().map(|r| r.decided_at_ms).min().map(timestamp),
                    approved_last_day: count(Action::Approve),
                    rejected_last_day: count(Action::Reject),
                    site_id: site,
                });
            }
            Ok(proto::StatsResponse { sites: out })
        })
        .await
    }

    async fn list_dead_letters(
        &self,
        request: Request<proto::ListDeadLettersRequest>,
    ) -> Result<Response<proto::ListDeadLettersResponse>, Status> {
        let (metadata, _, request) = request.into_parts();
        self.answer("ListDeadLetters", async {
            let moderator = self.moderator(&metadata)?;
            let sites = self.sites_for(&moderator, &request.site_id)?;
            let mut letters = Vec::new();
            for site in &sites {
                letters.extend(self.pipeline.store().dead_letters(site).await.map_err(unavailable)?);
            }
            letters.sort_by(|a, b| {
                (a.failed_at_ms, &a.event.site_id, a.event.cursor).cmp(&(
                    b.failed_at_ms,
                    &b.event.site_id,
                    b.event.cursor,
                ))
            });
            Ok(proto::ListDeadLettersResponse {
                letters: letters.into_iter().map(dead_letter_to_proto).collect(),
            })
        })
        .await
    }

    async fn retry_dead_letter(
        &self,
        request: Request<proto::RetryDeadLetterRequest>,
    ) -> Result<Response<proto::RetryDeadLetterResponse>, Status> {
        let (metadata, _, request) = request.into_parts();
        self.answer("RetryDeadLetter", async {
            let moderator = self.moderator(&metadata)?;
            if request.event_id.trim().is_empty() {
                return Err(invalid("event_id", "required: the event_id of a dead letter"));
            }
            let sites = self.sites_for(&moderator, &request.site_id)?;
            let store = self.pipeline.store();
            for site in &sites {
                let found = store
                    .dead_letters(site)
                    .await
                    .map_err(unavailable)?
                    .into_iter()
                    .find(|l| l.event.event_id == request.event_id);
                if let Some(letter) = found {
                    let requeued = DeadLetter {
                        requeued: true,
                        ..letter
                    };
                    store.put_dead_letter(requeued.clone()).await.map_err(unavailable)?;
                    self.feed.announce();
                    return Ok(proto::RetryDeadLetterResponse {
                        letter: Some(dead_letter_to_proto(requeued)),
                    });
                }
            }
            Err(Status::new(
                Code::NotFound,
                format!(
                    "no dead letter with event id {:?} on your sites (delivered since, or never dead-lettered)",
                    request.event_id.chars().take(64).collect::<String>()
                ),
            ))
        })
        .await
    }

    async fn audit_log(
        &self,
        request: Request<proto::AuditLogRequest>,
    ) -> Result<Response<proto::AuditLogResponse>, Status> {
        let (metadata, _, request) = request.into_parts();
        self.answer("AuditLog", async {
            let moderator = self.moderator(&metadata)?;
            if request.site_id.is_empty() {
                return Err(invalid("site_id", "required"));
            }
            self.sites_for(&moderator, &request.site_id)?;
            let limit = match request.limit as usize {
                0 => 100,
                n => n.min(10_000),
            };
            let entries = self
                .pipeline
                .store()
                .audit_log(&request.site_id, limit)
                .await
                .map_err(|e| Status::new(Code::Unavailable, format!("storage: {e}")))?;
            Ok(proto::AuditLogResponse {
                entries: entries
                    .into_iter()
                    .map(|e| proto::AuditEntry {
                        at: Some(timestamp(e.at_ms)),
                        moderator: e.moderator,
                        site_id: e.site_id,
                        comment_id: e.comment_id,
                        moderation_id: e.moderation_id,
                        requested: action_to_proto(e.requested) as i32,
                        before: action_to_proto(e.before) as i32,
                        after: action_to_proto(e.after) as i32,
                        refused: e.refused,
                        note: e.note,
                    })
                    .collect(),
            })
        })
        .await
    }

    async fn undo(&self, request: Request<proto::UndoRequest>) -> Result<Response<proto::UndoResponse>, Status> {
        let (metadata, _, request) = request.into_parts();
        self.answer("Undo", async {
            let moderator = self.moderator(&metadata)?;
            self.undo_inner(moderator, request).await
        })
        .await
    }

    async fn export_labels(
        &self,
        request: Request<proto::ExportLabelsRequest>,
    ) -> Result<Response<proto::ExportLabelsResponse>, Status> {
        let (metadata, _, request) = request.into_parts();
        self.answer("ExportLabels", async {
            let moderator = self.moderator(&metadata)?;
            self.export_labels_inner(moderator, request).await
        })
        .await
    }
}

/// Who resolved a comment that is no longer held, for a moderator who came too late.
fn already_resolved(record: &DecisionRecord) -> String {
    record.resolution.as_ref().map_or_else(
        || "not held any more".to_string(),
        |r| format!("already resolved by {} ({})", r.moderator, r.action.as_str()),
    )
}

/// The name a client sees for a gRPC code ("ABORTED").
fn code_name(code: Code) -> &'static str {
    match code {
        Code::Aborted => "ABORTED",
        Code::NotFound => "NOT_FOUND",
        _ => "UNKNOWN",
    }
}

fn not_held(moderation_id: &str) -> Status {
    Status::new(
        Code::NotFound,
        format!("no held comment with moderation id {moderation_id:?} on your sites (already resolved, or not held)"),
    )
}

pub(super) fn timestamp(ms: u64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: (ms / 1000) as i64,
        nanos: ((ms % 1000) * 1_000_000) as i32,
    }
}
