//! The `modgate.v1.Moderation` service: validation, authentication, and the translation
//! between wire types and the pipeline's.

use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio_stream::{Stream, StreamExt};
use tonic::{Code, Request, Response, Status};
use tonic_types::{ErrorDetails, StatusExt};

use super::ApiKeys;
use super::metrics::Metrics;
use super::proto;
use super::review::timestamp;
use crate::decisions::{DecisionFeed, FollowEnd};
use crate::pipeline::{Comment, Pipeline, PipelineError};
use crate::policy::{Action, ReasonCode};
use crate::store::{DecisionEvent, DecisionRecord, EventCursor};
use crate::text::fold::has_visible_text;

pub struct ModerationService {
    pipeline: Arc<Pipeline>,
    keys: ApiKeys,
    metrics: Arc<Metrics>,
    /// Where WatchDecisions streams read from.
    feed: Arc<DecisionFeed>,
}

impl ModerationService {
    pub fn new(pipeline: Arc<Pipeline>, metrics: Arc<Metrics>, feed: Arc<DecisionFeed>) -> Self {
        let keys = ApiKeys::new(pipeline.sites());
        Self {
            pipeline,
            keys,
            metrics,
            feed,
        }
    }
}

/// The wire form of a decision event.
pub fn event_to_proto(event: DecisionEvent) -> proto::DecisionEvent {
    proto::DecisionEvent {
        cursor: event.cursor.to_string(),
        event_id: event.event_id,
        site_id: event.site_id,
        comment_id: event.comment_id,
        moderation_id: event.moderation_id,
        action: action_to_proto(event.action) as i32,
        moderator: event.moderator,
        note: event.note,
        decided_at: Some(timestamp(event.decided_at_ms)),
    }
}

/// The events of one WatchDecisions call.
pub type DecisionEventStream = Pin<Box<dyn Stream<Item = Result<proto::DecisionEvent, Status>> + Send + 'static>>;

/// Collects every field problem of a request, so a client learns all of them at once.
#[derive(Default)]
struct Violations(ErrorDetails, Vec<String>);

impl Violations {
    fn add(&mut self, field: &str, problem: impl Into<String>) {
        let problem = problem.into();
        self.1.push(format!("{field}: {problem}"));
        self.0.add_bad_request_violation(field, problem);
    }

    fn max_bytes(&mut self, field: &str, value: &str, max: usize) {
        if value.len() > max {
            self.add(field, format!("at most {max} bytes, got {}", value.len()));
        }
    }

    fn into_result(self) -> Result<(), Status> {
        if self.1.is_empty() {
            Ok(())
        } else {
            Err(Status::with_error_details(
                Code::InvalidArgument,
                self.1.join("; "),
                self.0,
            ))
        }
    }
}

pub(crate) fn invalid(field: &str, problem: &str) -> Status {
    let mut v = Violations::default();
    v.add(field, problem);
    v.into_result().expect_err("one violation")
}

const MAX_ID_BYTES: usize = 128;

fn validate(request: proto::ModerateRequest, max_text_chars: usize) -> Result<Comment, Status> {
    let mut v = Violations::default();
    if request.comment_id.trim().is_empty() {
        v.add("comment_id", "required: the CMS's id of the comment");
    }
    v.max_bytes("comment_id", &request.comment_id, MAX_ID_BYTES);
    if !has_visible_text(&request.text) {
        v.add(
            "text",
            "required: the comment is empty (nothing but spaces or invisible characters)",
        );
    } else {
        let chars = request.text.chars().count();
        if chars > max_text_chars {
            v.add(
                "text",
                format!("at most {max_text_chars} characters for this site, got {chars}"),
            );
        }
    }
    v.max_bytes("thread_id", &request.thread_id, MAX_ID_BYTES);
    v.max_bytes("thread_url", &request.thread_url, 2048);
    v.max_bytes("parent_id", &request.parent_id, MAX_ID_BYTES);
    v.max_bytes("lang", &request.lang, 16);
    v.max_bytes("honeypot", &request.honeypot, 1024);
    let author = request.author.unwrap_or_default();
    v.max_bytes("author.name", &author.name, 200);
    v.max_bytes("author.email", &author.email, 254);
    if !author.email.is_empty() && !author.email.trim().contains('@') {
        v.add("author.email", "not an e-mail address");
    }
    v.max_bytes("author.user_id", &author.user_id, MAX_ID_BYTES);
    let client = request.client.unwrap_or_default();
    let ip = match client.ip.trim() {
        "" => None,
        text => match text.parse::<IpAddr>() {
            Ok(ip) => Some(ip),
            Err(_) => {
                v.add(
                    "client.ip",
                    format!("not an IPv4 or IPv6 address: {:?}", truncate(text, 64)),
                );
                None
            }
        },
    };
    v.max_bytes("client.user_agent", &client.user_agent, 1024);
    v.max_bytes("client.referrer", &client.referrer, 2048);
    v.max_bytes("client.accept_language", &client.accept_language, 256);
    let captcha = request.captcha.unwrap_or_default();
    v.max_bytes("captcha.provider", &captcha.provider, 32);
    v.max_bytes("captcha.token", &captcha.token, 8192);
    if request.metadata.len() > 32 {
        v.add(
            "metadata",
            format!("at most 32 entries, got {}", request.metadata.len()),
        );
    }
    for (key, value) in &request.metadata {
        if key.len() > 64 || value.len() > 1024 {
            v.add(
                "metadata",
                format!(
                    "keys at most 64 bytes and values at most 1024 (entry {:?})",
                    truncate(key, 64)
                ),
            );
            break;
        }
    }
    v.into_result()?;
    Ok(Comment {
        site_id: request.site_id,
        comment_id: request.comment_id,
        thread_id: request.thread_id,
        thread_url: request.thread_url,
        text: request.text,
        author_email: (!author.email.trim().is_empty()).then_some(author.email),
        author_user_id: (!author.user_id.trim().is_empty()).then_some(author.user_id),
        ip,
        captcha_provider: (!captcha.provider.is_empty()).then_some(captcha.provider),
        captcha_token: (!captcha.token.is_empty()).then_some(captcha.token),
        honeypot: request.honeypot,
        fill_time: fill_time(request.form_rendered_at.as_ref(), request.submitted_at.as_ref()),
    })
}

/// How long the reader had the form before submitting it, when the CMS says when it
/// rendered it; the submission time defaults to now. Negative spans (clock trouble)
/// count as unknown rather than as instant.
fn fill_time(
    rendered: Option<&prost_types::Timestamp>,
    submitted: Option<&prost_types::Timestamp>,
) -> Option<std::time::Duration> {
    let millis = |t: &prost_types::Timestamp| {
        t.seconds
            .saturating_mul(1000)
            .saturating_add(i64::from(t.nanos / 1_000_000))
    };
    let rendered = millis(rendered?);
    let submitted = submitted.map_or_else(|| crate::pipeline::now_ms() as i64, millis);
    u64::try_from(submitted - rendered)
        .ok()
        .map(std::time::Duration::from_millis)
}

fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

pub fn action_to_proto(action: Action) -> proto::Action {
    match action {
        Action::Approve => proto::Action::Approve,
        Action::Hold => proto::Action::Hold,
        Action::Reject => proto::Action::Reject,
    }
}

pub fn reason_to_proto(code: ReasonCode) -> proto::ReasonCode {
    use proto::ReasonCode as P;
    match code {
        ReasonCode::Spam => P::Spam,
        ReasonCode::Abuse => P::Abuse,
        ReasonCode::Hate => P::Hate,
        ReasonCode::BlockedTerm => P::BlockedTerm,
        ReasonCode::SuspectTerm => P::SuspectTerm,
        ReasonCode::LinkLimit => P::LinkLimit,
        ReasonCode::Duplicate => P::Duplicate,
        ReasonCode::RateLimited => P::RateLimited,
        ReasonCode::CaptchaMissing => P::CaptchaMissing,
        ReasonCode::CaptchaInvalid => P::CaptchaInvalid,
        ReasonCode::CaptchaReplayed => P::CaptchaReplayed,
        ReasonCode::CaptchaRequired => P::CaptchaRequired,
        ReasonCode::Honeypot => P::Honeypot,
        ReasonCode::NewAuthor => P::NewAuthor,
        ReasonCode::BlockedLink => P::BlockedLink,
        ReasonCode::DependencyUnavailable => P::DependencyUnavailable,
        ReasonCode::TooFast => P::TooFast,
    }
}

fn duration_to_proto(d: Duration) -> prost_types::Duration {
    prost_types::Duration {
        seconds: d.as_secs() as i64,
        nanos: d.subsec_nanos() as i32,
    }
}

/// The wire form of a decision's reasons.
pub fn reasons_to_proto(record: &DecisionRecord) -> Vec<proto::Reason> {
    record
        .decision
        .reasons
        .iter()
        .map(|r| proto::Reason {
            code: reason_to_proto(r.code) as i32,
            detail: r.detail.clone(),
        })
        .collect()
}

/// The wire form of a decision's scores.
pub fn scores_to_proto(record: &DecisionRecord) -> proto::Scores {
    proto::Scores {
        spam: record.scores.spam,
        abuse: record.scores.abuse,
        hate: record.scores.hate,
    }
}

/// The wire form of a stored decision. `action` is the one in force: a moderator's
/// resolution replaces the automatic hold.
pub fn response_of(record: &DecisionRecord) -> proto::ModerateResponse {
    let d = &record.decision;
    proto::ModerateResponse {
        action: action_to_proto(record.effective_action()) as i32,
        reasons: reasons_to_proto(record),
        scores: Some(scores_to_proto(record)),
        retry_after: d.retry_after.map(duration_to_proto),
        moderation_id: record.moderation_id.clone(),
        model_version: record.model_version.clone(),
        shadow_action: d.shadow_action.map_or(proto::Action::Unspecified, action_to_proto) as i32,
        degraded: record.degraded,
    }
}

impl ModerationService {
    fn check_site(&self, metadata: &tonic::metadata::MetadataMap, site_id: &str) -> Result<(), Status> {
        if site_id.is_empty() {
            return Err(invalid("site_id", "required: the site the comment belongs to"));
        }
        if self.pipeline.site(site_id).is_none() {
            return Err(invalid("site_id", &format!("unknown site {:?}", truncate(site_id, 64))));
        }
        self.keys.authorize(metadata, site_id)
    }

    async fn moderate_inner(
        &self,
        request: Request<proto::ModerateRequest>,
    ) -> Result<proto::ModerateResponse, Status> {
        let (metadata, _, request) = request.into_parts();
        self.check_site(&metadata, &request.site_id)?;
        let site = self.pipeline.site(&request.site_id).expect("checked");
        let comment = validate(request, site.max_text_chars)?;
        let (record, times) = self.pipeline.moderate(comment).await.map_err(pipeline_status)?;
        for (stage, elapsed) in &times.0 {
            self.metrics.stage(stage, *elapsed);
        }
        self.metrics.decision(
            &record.site_id,
            record.decision.action.as_str(),
            record.decision.reasons.iter().map(|r| r.code.as_str()),
        );
        tracing::debug!(
            site = %record.site_id,
            moderation_id = %record.moderation_id,
            action = record.decision.action.as_str(),
            "moderated"
        );
        Ok(response_of(&record))
    }
}

fn pipeline_status(error: PipelineError) -> Status {
    match error {
        PipelineError::UnknownSite(site) => invalid("site_id", &format!("unknown site {site:?}")),
        e @ PipelineError::DifferentText { .. } => Status::new(Code::AlreadyExists, e.to_string()),
        PipelineError::Store(e) => {
            tracing::error!(error = %e, "storage failure");
            Status::new(Code::Unavailable, "storage is unavailable; retry later")
        }
    }
}

#[tonic::async_trait]
impl proto::moderation_server::Moderation for ModerationService {
    type WatchDecisionsStream = DecisionEventStream;

    async fn watch_decisions(
        &self,
        request: Request<proto::WatchDecisionsRequest>,
    ) -> Result<Response<DecisionEventStream>, Status> {
        let (metadata, _, request) = request.into_parts();
        let after = self
            .check_site(&metadata, &request.site_id)
            .and_then(|()| match request.after_cursor.as_str() {
                "" => Ok(None),
                text => text
                    .parse::<EventCursor>()
                    .map(Some)
                    .map_err(|_| invalid("after_cursor", "not a cursor from a DecisionEvent of this service")),
            });
        // Counted when the stream opens: OK here means the watch started.
        self.metrics
            .rpc("WatchDecisions", after.as_ref().map_or_else(Status::code, |_| Code::Ok));
        let events = self.feed.follow(request.site_id, after?);
        let stream = tokio_stream::wrappers::ReceiverStream::new(events).map(|item| match item {
            Ok(event) => Ok(event_to_proto(event)),
            Err(FollowEnd::Store(e)) => {
                tracing::error!(error = %e, "WatchDecisions: storage failure");
                Err(Status::new(
                    Code::Unavailable,
                    "storage is unavailable; reconnect with the cursor of the last event you processed",
                ))
            }
            Err(FollowEnd::ShuttingDown) => Err(Status::new(
                Code::Unavailable,
                "the server is shutting down; reconnect with the cursor of the last event you processed",
            )),
        });
        Ok(Response::new(Box::pin(stream)))
    }

    async fn moderate(
        &self,
        request: Request<proto::ModerateRequest>,
    ) -> Result<Response<proto::ModerateResponse>, Status> {
        let result = self.moderate_inner(request).await;
        self.metrics
            .rpc("Moderate", result.as_ref().map_or_else(Status::code, |_| Code::Ok));
        result.map(Response::new)
    }

    async fn issue_challenge(
        &self,
        request: Request<proto::IssueChallengeRequest>,
    ) -> Result<Response<proto::Challenge>, Status> {
        let (metadata, _, request) = request.into_parts();
        let result = self.check_site(&metadata, &request.site_id).map(|()| {
            let site = self.pipeline.site(&request.site_id).expect("checked");
            let challenge = self.pipeline.issue_challenge(site);
            proto::Challenge {
                algorithm: challenge.algorithm,
                challenge: challenge.challenge,
                salt: challenge.salt,
                signature: challenge.signature,
                maxnumber: challenge.maxnumber,
            }
        });
        self.metrics.rpc(
            "IssueChallenge",
            result.as_ref().map_or_else(Status::code, |_| Code::Ok),
        );
        result.map(Response::new)
    }

    async fn get_decision(
        &self,
        request: Request<proto::GetDecisionRequest>,
    ) -> Result<Response<proto::ModerateResponse>, Status> {
        let (metadata, _, request) = request.into_parts();
        let result = async {
            self.check_site(&metadata, &request.site_id)?;
            if request.comment_id.is_empty() {
                return Err(invalid("comment_id", "required"));
            }
            match self.pipeline.store().get(&request.site_id, &request.comment_id).await {
                Ok(Some(record)) => Ok(response_of(&record)),
                Ok(None) => Err(Status::new(
                    Code::NotFound,
                    format!("no decision for comment {:?}", request.comment_id),
                )),
                Err(e) => Err(pipeline_status(PipelineError::Store(e))),
            }
        }
        .await;
        self.metrics
            .rpc("GetDecision", result.as_ref().map_or_else(Status::code, |_| Code::Ok));
        result.map(Response::new)
    }
}

/// `modgate.v1.Diagnostics`: answers without doing any work (load-test baseline).
pub struct DiagnosticsService;

#[tonic::async_trait]
impl proto::diagnostics_server::Diagnostics for DiagnosticsService {
    async fn echo(&self, request: Request<proto::EchoRequest>) -> Result<Response<proto::EchoResponse>, Status> {
        Ok(Response::new(proto::EchoResponse {
            payload: request.into_inner().payload,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> proto::ModerateRequest {
        proto::ModerateRequest {
            site_id: "default".into(),
            comment_id: "c1".into(),
            text: "xin chào".into(),
            ..Default::default()
        }
    }

    fn violations(status: &Status) -> Vec<String> {
        status
            .get_details_bad_request()
            .map(|b| b.field_violations.into_iter().map(|f| f.field).collect())
            .unwrap_or_default()
    }

    #[test]
    fn bad_fields_are_named_in_bad_request_details() {
        let mut r = request();
        r.text = "   ".into();
        r.comment_id = String::new();
        r.client = Some(proto::Client {
            ip: "300.1.2.3".into(),
            ..Default::default()
        });
        let status = validate(r, 10_000).unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument);
        let mut fields = violations(&status);
        fields.sort();
        assert_eq!(fields, ["client.ip", "comment_id", "text"]);
        assert!(status.message().contains("client.ip"));
    }

    #[test]
    fn text_length_is_counted_in_characters() {
        let mut r = request();
        r.text = "đ".repeat(10);
        assert!(validate(r.clone(), 10).is_ok(), "10 characters, 20 bytes");
        r.text.push('x');
        assert_eq!(violations(&validate(r, 10).unwrap_err()), ["text"]);
    }

    #[test]
    fn valid_requests_become_comments() {
        let mut r = request();
        r.client = Some(proto::Client {
            ip: " 2001:db8::1 ".into(),
            ..Default::default()
        });
        r.author = Some(proto::Author {
            email: "a@b.vn".into(),
            ..Default::default()
        });
        let c = validate(r, 100).unwrap();
        assert_eq!(c.ip, Some("2001:db8::1".parse().unwrap()));
        assert_eq!(c.author_email.as_deref(), Some("a@b.vn"));
        assert_eq!(c.author_user_id, None);
    }
}
