//! Runs the checks for one comment, in order, and records the result.
//!
//! validate -> normalize -> admission (idempotency, rate limits, duplicate sightings,
//! author history: one store round trip) -> honeypot and captcha -> term lists and links
//! -> classifier -> policy -> record.
//!
//! Validation happens in the API layer (it owns the wire format); everything here takes a
//! validated [`Comment`]. Each step adds [`Signal`]s; [`crate::policy::decide`] turns them
//! into the decision. Requests for the same (site, comment id) are serialized, so a
//! resubmission racing its original still gets the original's decision.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use xxhash_rust::xxh3::xxh3_64;

use crate::captcha::altcha::{Altcha, Challenge};
use crate::captcha::provider::{Verdict, Verifier};
use crate::classify::{ClassifierHandle, HeadKind};
use crate::config::{CaptchaMode, RedisFailure, ScoreThresholds, SitePolicy, Term};
use crate::limits::{LimitSubjects, LocalLimiter, RedisLimiter};
use crate::policy::{Action, ReasonCode, Signal, SiteThresholds, decide, score_signals};
use crate::store::{
    Admission, AdmissionRequest, DecisionRecord, DecisionSpool, Recorded, RedisLink, Sighting, SpooledDecision, Store,
    StoreError,
};
use crate::text::{TextAnalysis, TokenKind};

/// A comment that passed validation.
#[derive(Clone, Debug, Default)]
pub struct Comment {
    pub site_id: String,
    pub comment_id: String,
    pub thread_id: String,
    pub thread_url: String,
    pub text: String,
    pub author_email: Option<String>,
    pub author_user_id: Option<String>,
    pub ip: Option<IpAddr>,
    pub captcha_provider: Option<String>,
    pub captcha_token: Option<String>,
    pub honeypot: String,
    /// Between the form being rendered and submitted, when the CMS said.
    pub fill_time: Option<Duration>,
}

/// Why a comment could not be moderated (as opposed to a decision about it).
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("unknown site {0:?}")]
    UnknownSite(String),
    #[error("comment {comment_id:?} was already moderated with different text; send an edited comment under a new id")]
    DifferentText { comment_id: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Rate limits counted in Redis, shared by every replica.
pub struct SharedLimits {
    pub limiter: RedisLimiter,
    pub link: Arc<RedisLink>,
}

/// Everything the pipeline needs, shared by all calls.
pub struct Pipeline {
    sites: std::collections::BTreeMap<String, SitePolicy>,
    classifier: Arc<ClassifierHandle>,
    store: Arc<dyn Store>,
    /// In process: the only limits on the embedded backend; with Redis, a shock absorber
    /// in front of the shared limits (a comment this process alone has no room for needs
    /// no round trip) and the limits that still apply while Redis is away.
    limiter: LocalLimiter,
    shared_limits: Option<SharedLimits>,
    /// Issues and verifies the built-in proof-of-work captcha.
    altcha: Altcha,
    /// Asks third-party captcha providers.
    verifier: Verifier,
    /// Secret mixed into every stored hash of an IP or e-mail address.
    salt: Vec<u8>,
    /// Serializes calls for the same comment (sharded by key hash).
    comment_locks: Vec<tokio::sync::Mutex<()>>,
    /// Where decisions wait when shared state is unavailable (Redis only).
    spool: Option<Arc<DecisionSpool>>,
}

/// How long identical text counts as a duplicate.
pub const DUPLICATE_WINDOW: Duration = Duration::from_secs(24 * 3600);

impl Pipeline {
    pub fn new(
        sites: std::collections::BTreeMap<String, SitePolicy>,
        classifier: Arc<ClassifierHandle>,
        store: Arc<dyn Store>,
        shared_limits: Option<SharedLimits>,
        salt: Vec<u8>,
        altcha: Altcha,
    ) -> Self {
        let limiter = LocalLimiter::new(sites.values());
        let comment_locks = (0..64).map(|_| tokio::sync::Mutex::new(())).collect();
        Self {
            sites,
            classifier,
            store,
            limiter,
            shared_limits,
            altcha,
            verifier: Verifier::default(),
            salt,
            comment_locks,
            spool: None,
        }
    }

    /// Keeps decisions that shared state could not take in `spool` until it can.
    pub fn with_spool(mut self, spool: Arc<DecisionSpool>) -> Self {
        self.spool = Some(spool);
        self
    }

    pub fn spool(&self) -> Option<&Arc<DecisionSpool>> {
        self.spool.as_ref()
    }

    pub fn site(&self, id: &str) -> Option<&SitePolicy> {
        self.sites.get(id)
    }

    pub fn sites(&self) -> impl Iterator<Item = &SitePolicy> {
        self.sites.values()
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn limiter(&self) -> &LocalLimiter {
        &self.limiter
    }

    /// A built-in captcha challenge with the site's difficulty and lifetime.
    pub fn issue_challenge(&self, site: &SitePolicy) -> Challenge {
        let expires_at = (now_ms() + site.altcha_expiry.as_millis() as u64) / 1000;
        self.altcha.issue(site.altcha_max_number, expires_at)
    }

    /// A token that is present is always verified, whatever the site's captcha mode: an
    /// invalid, expired or replayed one is never ignored. The mode only says what a
    /// missing token means.
    async fn captcha_signals(
        &self,
        site: &SitePolicy,
        comment: &Comment,
        now_ms: u64,
        outage: &mut Outage,
    ) -> Result<Vec<Signal>, StoreError> {
        let token = comment.captcha_token.as_deref().filter(|t| !t.is_empty());
        let provider = comment.captcha_provider.as_deref().unwrap_or("");
        let third_party = site.captcha_verifiers.iter().find(|v| v.provider.name() == provider);
        if let (Some(settings), Some(token)) = (third_party, token) {
            let verdict = self
                .verifier
                .verify(settings, token, comment.ip, site.captcha_timeout)
                .await;
            let signal = match verdict {
                Verdict::Valid => None,
                Verdict::Invalid(detail) => Some(Signal::new(ReasonCode::CaptchaInvalid, Action::Reject, detail)),
                Verdict::Replayed(detail) => Some(Signal::new(ReasonCode::CaptchaReplayed, Action::Reject, detail)),
                // A judgement about the reader, not proof: a moderator decides.
                Verdict::LowScore(detail) => Some(Signal::new(ReasonCode::CaptchaInvalid, Action::Hold, detail)),
                Verdict::Unavailable(detail) => Some(Signal::new(
                    ReasonCode::DependencyUnavailable,
                    site.captcha_provider_failure,
                    detail,
                )),
            };
            return Ok(signal.into_iter().collect());
        }
        let signal = match (site.captcha, token) {
            (_, Some(token)) if provider == "altcha" => match self.altcha.verify(token, now_ms / 1000) {
                Err(refusal) => Some(Signal::new(
                    ReasonCode::CaptchaInvalid,
                    Action::Reject,
                    format!("altcha: {refusal}"),
                )),
                Ok(solved) => {
                    let first = self
                        .store
                        .first_use(
                            &site.id,
                            &format!("altcha:{}", solved.challenge),
                            solved.expires_at * 1000,
                            now_ms,
                        )
                        .await;
                    // Unknown while shared state is away: accepted, and the decision is
                    // marked degraded (the failure policy applies).
                    match outage.tolerate(first)? {
                        Some(false) => Some(Signal::new(
                            ReasonCode::CaptchaReplayed,
                            Action::Reject,
                            "this captcha solution was already used",
                        )),
                        Some(true) | None => None,
                    }
                }
            },
            (_, Some(_)) => Some(Signal::new(
                ReasonCode::CaptchaInvalid,
                Action::Reject,
                format!("no verifier configured for captcha provider {provider:?}"),
            )),
            (CaptchaMode::Required, None) => Some(Signal::new(
                ReasonCode::CaptchaMissing,
                Action::Reject,
                "this site requires a captcha",
            )),
            // Risk-based: decided after the classifier (see `moderate_timed`).
            (CaptchaMode::Off | CaptchaMode::RiskBased, None) => None,
        };
        Ok(signal.into_iter().collect())
    }

    /// The model loaded now (moderators' explanations use it).
    pub fn classifier(&self) -> Arc<crate::classify::Classifier> {
        self.classifier.current()
    }

    pub fn model_version(&self) -> String {
        self.classifier.current().version().to_string()
    }

    /// Puts another model in use for the comments that arrive from now on; comments being
    /// scored keep the one they started with. Returns the model it replaced.
    pub fn replace_classifier(&self, classifier: crate::classify::Classifier) -> Arc<crate::classify::Classifier> {
        self.classifier.replace(classifier)
    }

    /// A salted, keyed hash (HMAC-SHA256, hex, 128 bits) of a personal value.
    pub fn hash_personal(&self, kind: &str, value: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.salt).expect("HMAC takes any key length");
        mac.update(kind.as_bytes());
        mac.update(b"\0");
        mac.update(value.as_bytes());
        mac.finalize().into_bytes()[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Moderates one comment; returns the stored record (the earlier one for a
    /// resubmission) and how long each stage took.
    pub async fn moderate(&self, comment: Comment) -> Result<(DecisionRecord, StageTimes), PipelineError> {
        let mut times = StageTimes::default();
        let record = self.moderate_timed(comment, &mut times).await?;
        Ok((record, times))
    }

    async fn moderate_timed(&self, comment: Comment, times: &mut StageTimes) -> Result<DecisionRecord, PipelineError> {
        let site = self
            .sites
            .get(&comment.site_id)
            .ok_or_else(|| PipelineError::UnknownSite(comment.site_id.clone()))?;
        let lock = &self.comment_locks
            [(xxh3_64(comment.site_id.as_bytes()) ^ xxh3_64(comment.comment_id.as_bytes())) as usize % 64];
        let _serialized = lock.lock().await;

        let text_fingerprint = xxh3_64(comment.text.as_bytes());
        let now_ms = now_ms();
        let mut signals = Vec::new();
        let email_key = comment
            .author_email
            .as_deref()
            .map(|e| self.hash_personal("email", &normalize_email(e)));
        let user_key = comment.author_user_id.as_deref().map(|u| self.hash_personal("user", u));
        let author_key = user_key.clone().or_else(|| email_key.clone());
        let ip_hash = comment.ip.map(|ip| self.hash_personal("ip", &ip.to_string()));

        // The normalized text: its compact form identifies duplicates however disguised.
        let stage = Instant::now();
        let analysis = TextAnalysis::of(&comment.text);
        let content: String = analysis.compact().iter().collect();
        let content_fingerprint = xxh3_64(content.as_bytes());
        times.mark("analysis", stage);

        // Idempotency, rate limits, duplicate sightings and author history: one round trip
        // to the store. A comment decided before gets its decision and counts nothing.
        let stage = Instant::now();
        let subjects = LimitSubjects {
            ip: comment.ip,
            email: email_key.clone(),
            user: user_key.clone(),
            thread: (!comment.thread_id.is_empty()).then(|| comment.thread_id.clone()),
        };
        let mut outage = Outage::default();
        let mut limited = None;
        let mut buckets = Vec::new();
        if let Some(shared) = &self.shared_limits {
            // This process's own count first: what it alone has no room for needs no
            // round trip (a resubmission is counted here, though not in Redis).
            match self.limiter.check(&site.id, &subjects) {
                Ok(()) => buckets = shared.limiter.buckets(&site.id, &subjects),
                Err(refused) => limited = Some(refused),
            }
        }
        let request = AdmissionRequest {
            site_id: &site.id,
            comment_id: &comment.comment_id,
            sighting: (content.chars().count() >= 12).then(|| Sighting {
                content_fingerprint,
                author_key: author_key.as_deref().or(ip_hash.as_deref()),
                window: DUPLICATE_WINDOW,
                now_ms,
            }),
            approvals_of: if site.hold_new_authors {
                author_key.as_deref()
            } else {
                None
            },
            rate_buckets: &buckets,
        };
        let admission = outage.tolerate(self.store.admit(request).await)?;
        times.mark("admission", stage);
        // A comment held only to ask for a captcha, back with a token, is decided again;
        // it was counted the first time.
        let mut retrying_with_captcha = false;
        let (seen, approved) = match admission {
            Some(Admission::Existing(existing)) => {
                if existing.text_fingerprint != text_fingerprint {
                    return Err(PipelineError::DifferentText {
                        comment_id: comment.comment_id,
                    });
                }
                if !(awaits_captcha(&existing) && comment.captcha_token.is_some()) {
                    return Ok(*existing);
                }
                retrying_with_captcha = true;
                (None, None)
            }
            Some(Admission::New {
                seen,
                approved,
                limited: shared_limited,
            }) => {
                limited = limited.or(shared_limited);
                (seen, approved)
            }
            // Shared state is away: decide with what this process knows.
            None => (None, None),
        };
        if self.shared_limits.is_none() && !retrying_with_captcha {
            // The embedded backend: the local limits are the limits, counted only for
            // comments not decided before.
            limited = self.limiter.check(&site.id, &subjects).err();
        }

        // Honeypot, captcha and the rate-limit verdict.
        if !comment.honeypot.trim().is_empty() {
            signals.push(Signal::new(
                ReasonCode::Honeypot,
                Action::Reject,
                "the hidden honeypot field was filled in",
            ));
        }
        if let Some(fill_time) = comment.fill_time
            && fill_time < site.min_fill_time
        {
            signals.push(Signal::new(
                ReasonCode::TooFast,
                Action::Hold,
                format!(
                    "submitted {:.1} s after the form was shown (the site expects at least {} s)",
                    fill_time.as_secs_f64(),
                    site.min_fill_time.as_secs()
                ),
            ));
        }
        signals.extend(self.captcha_signals(site, &comment, now_ms, &mut outage).await?);
        let mut retry_after = None;
        if let Some(limited) = limited {
            let seconds = limited.retry_after.as_secs_f64();
            signals.push(Signal::new(
                ReasonCode::RateLimited,
                Action::Reject,
                format!("{} reached; retry in {seconds:.1} s", limited.rule),
            ));
            retry_after = Some(limited.retry_after);
        }

        // Terms and links, on the normalized text.
        let stage = Instant::now();
        signals.extend(term_signals(
            &analysis,
            &site.banned_terms,
            ReasonCode::BlockedTerm,
            Action::Reject,
        ));
        signals.extend(term_signals(
            &analysis,
            &site.suspect_terms,
            ReasonCode::SuspectTerm,
            Action::Hold,
        ));
        signals.extend(link_signals(&analysis, site));
        times.mark("terms_and_links", stage);

        // Classifier.
        let stage = Instant::now();
        let classifier = self.classifier.current();
        let mut features = crate::text::FeatureIndices::default();
        let scores = classifier.score_analysis(&analysis, &mut features);
        let thresholds = site_thresholds(site, &classifier);
        signals.extend(score_signals(&scores, &thresholds));
        times.mark("classifier", stage);

        // Duplicates and author history, from the admission's counts.
        if let Some(seen) = seen {
            if seen.by_author > 0 {
                signals.push(Signal::new(
                    ReasonCode::Duplicate,
                    Action::Hold,
                    "the author posted the same text in the last 24 hours",
                ));
            } else if seen.site_wide + 1 >= site.duplicate_site_copies {
                signals.push(Signal::new(
                    ReasonCode::Duplicate,
                    Action::Hold,
                    format!(
                        "the same text was posted {} times on this site in the last 24 hours",
                        seen.site_wide + 1
                    ),
                ));
            }
        }
        // No author to look up counts as never approved; unknown (shared state away)
        // is left to the failure policy.
        let never_approved = match (&author_key, approved) {
            (None, _) => true,
            (Some(_), Some(count)) => count == 0,
            (Some(_), None) => false,
        };
        if site.hold_new_authors && never_approved {
            signals.push(Signal::new(
                ReasonCode::NewAuthor,
                Action::Hold,
                "first comment of an author not approved before",
            ));
        }

        // Risk-based captcha: a comment that nothing else stops but that is borderline
        // (a score at half its hold threshold or more) and came without a token is held
        // until the reader solves the captcha; the CMS resubmits it with the token.
        if site.captcha == CaptchaMode::RiskBased
            && comment.captcha_token.is_none()
            && signals.iter().all(|s| s.action == Action::Approve)
            && let Some((head, score)) = borderline(&scores, &thresholds)
        {
            signals.push(Signal::new(
                ReasonCode::CaptchaRequired,
                Action::Hold,
                format!(
                    "{head} score {score:.2} is borderline: show the captcha and resubmit this comment with its token"
                ),
            ));
        }

        if let Some(reason) = &outage.reason
            && site.redis_failure == RedisFailure::FailClosed
        {
            signals.push(Signal::new(
                ReasonCode::DependencyUnavailable,
                Action::Hold,
                format!("held by the site's fail_closed policy: {reason}"),
            ));
        }
        let decision = decide(signals, site.shadow_mode, retry_after);
        let keep_text = decision.action == Action::Hold || site.retention > Duration::ZERO;
        let record = DecisionRecord {
            moderation_id: new_moderation_id(),
            site_id: site.id.clone(),
            comment_id: comment.comment_id,
            text_fingerprint,
            content_fingerprint,
            decision,
            scores: scores.into(),
            model_version: classifier.version().to_string(),
            degraded: outage.reason.is_some(),
            decided_at_ms: now_ms,
            author_key,
            ip_hash,
            thread_id: comment.thread_id,
            thread_url: comment.thread_url,
            text: keep_text.then_some(comment.text),
            final_action: None,
            resolution: None,
            reopenings: Vec::new(),
        };
        let stage = Instant::now();
        let recorded = if retrying_with_captcha {
            self.store.replace(record.clone()).await.map(|()| Recorded::New)
        } else {
            self.store.record(record.clone()).await
        };
        times.mark("record", stage);
        match recorded {
            Ok(Recorded::New) => Ok(record),
            Ok(Recorded::Existing(existing)) => Ok(*existing),
            // Answered now, stored when shared state is back (the spool), so a comment
            // held during an outage still reaches the moderators' queue.
            Err(StoreError::Unavailable(reason)) => {
                let record = DecisionRecord {
                    degraded: true,
                    ..record
                };
                let spooled = match &self.spool {
                    Some(spool) => {
                        let decision = SpooledDecision {
                            replace: retrying_with_captcha,
                            record: record.clone(),
                        };
                        spool.push(decision).await?
                    }
                    None => false,
                };
                if spooled {
                    tracing::warn!(site = %record.site_id, moderation_id = %record.moderation_id, %reason, "decision spooled: shared state unavailable");
                } else {
                    tracing::error!(site = %record.site_id, moderation_id = %record.moderation_id, %reason, "decision not stored: shared state unavailable and the spool is full");
                }
                Ok(record)
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// Whether shared state failed during one call, and why (for the decision's reason).
#[derive(Default)]
struct Outage {
    reason: Option<String>,
}

impl Outage {
    /// Passes results through; an unavailable shared store becomes `None` and is noted,
    /// so the call goes on with what this process knows. Other errors (the embedded
    /// store's disk) still fail the call.
    fn tolerate<T>(&mut self, result: Result<T, StoreError>) -> Result<Option<T>, StoreError> {
        match result {
            Ok(value) => Ok(Some(value)),
            Err(StoreError::Unavailable(reason)) => {
                self.reason.get_or_insert(reason);
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}

/// How long each stage of one call took, for the stage latency metrics.
#[derive(Clone, Debug, Default)]
pub struct StageTimes(pub Vec<(&'static str, Duration)>);

impl StageTimes {
    fn mark(&mut self, stage: &'static str, started: Instant) {
        self.0.push((stage, started.elapsed()));
    }
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Unix seconds as an RFC 3339 UTC time ("2026-11-26T03:14:15Z").
pub fn rfc3339(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    // Days since 1970-01-01 to a civil date (proleptic Gregorian), by 400-year eras.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Milliseconds since the Unix epoch as an RFC 3339 UTC time with milliseconds
/// ("2026-11-26T03:14:15.926Z").
pub fn rfc3339_millis(ms: u64) -> String {
    let seconds = rfc3339((ms / 1000) as i64);
    format!("{}.{:03}Z", seconds.trim_end_matches('Z'), ms % 1000)
}

/// 128 random bits, hex: unguessable, so a moderation id can be shown to moderators and
/// put in URLs without revealing how many comments a site gets.
fn new_moderation_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// Lowercase, trimmed; for Gmail, dots and "+tag" in the local part removed (they all reach
/// the same inbox, and spammers rotate them to dodge per-address limits).
pub fn normalize_email(email: &str) -> String {
    let email = email.trim().to_lowercase();
    let Some((local, domain)) = email.rsplit_once('@') else {
        return email;
    };
    let local = local.split('+').next().unwrap_or(local);
    if domain == "gmail.com" || domain == "googlemail.com" {
        format!("{}@gmail.com", local.replace('.', ""))
    } else {
        format!("{local}@{domain}")
    }
}

/// Terms match runs of whole words, compared without diacritics ("nha cai", "NHÀ CÁI",
/// "n.h.à c.á.i" all match "nhà cái") unless both sides carry tone marks, which must then
/// agree ("nhà cải", house and cabbage, is not "nhà cái"). Terms of four letters or more
/// also match inside a glued word ("nhacai123").
pub fn term_signals(analysis: &TextAnalysis, terms: &[Term], code: ReasonCode, action: Action) -> Vec<Signal> {
    if terms.is_empty() {
        return Vec::new();
    }
    let words: Vec<(String, &str)> = analysis
        .tokens()
        .iter()
        .filter(|t| t.kind == TokenKind::Word)
        .map(|t| (analysis.plain(t).replace(' ', ""), analysis.toned(t)))
        .collect();
    terms
        .iter()
        .filter(|term| {
            let n = term.words.len();
            let as_words = words.windows(n).any(|window| {
                window.iter().zip(term.words.iter().zip(&term.toned)).all(
                    |((plain, toned), (term_plain, term_toned))| {
                        plain == term_plain && (toned == plain || term_toned == term_plain || toned == term_toned)
                    },
                )
            });
            let glued =
                term.compact.chars().count() >= 4 && words.iter().any(|(plain, _)| plain.contains(&term.compact));
            as_words || glued
        })
        .map(|term| Signal::new(code, action, format!("contains {:?}", term.written)))
        .collect()
}

fn host_matches(host: &str, domain: &str) -> bool {
    let host = host.trim_start_matches("www.");
    host == domain || host.ends_with(&format!(".{domain}"))
}

fn link_signals(analysis: &TextAnalysis, site: &SitePolicy) -> Vec<Signal> {
    let mut signals = Vec::new();
    let hosts: Vec<&str> = analysis.link_hosts().collect();
    for host in &hosts {
        if let Some(domain) = site.blocked_link_domains.iter().find(|d| host_matches(host, d)) {
            signals.push(Signal::new(
                ReasonCode::BlockedLink,
                Action::Reject,
                format!("links to blocked domain {domain}"),
            ));
        }
    }
    let allowed = hosts
        .iter()
        .filter(|h| site.allowed_link_domains.iter().any(|d| host_matches(h, d)))
        .count();
    let counted = (analysis.counts().links as usize).saturating_sub(allowed);
    if counted > site.max_links as usize {
        signals.push(Signal::new(
            ReasonCode::LinkLimit,
            Action::Hold,
            format!("{counted} links, the site allows {}", site.max_links),
        ));
    }
    signals
}

/// The site's thresholds, falling back to the model's own.
/// Held for nothing but a captcha, and not yet resolved by a moderator.
fn awaits_captcha(record: &DecisionRecord) -> bool {
    record.final_action.is_none()
        && record.decision.action == Action::Hold
        && !record.decision.reasons.is_empty()
        && record
            .decision
            .reasons
            .iter()
            .all(|s| s.code == ReasonCode::CaptchaRequired)
}

/// The first head whose score is at least half its hold threshold, if any.
fn borderline(scores: &crate::classify::Scores, thresholds: &SiteThresholds) -> Option<(&'static str, f32)> {
    [
        ("spam", scores.spam, thresholds.spam.hold),
        ("abuse", scores.abuse, thresholds.abuse.hold),
        ("hate", scores.hate, thresholds.hate.hold),
    ]
    .into_iter()
    .find(|(_, score, hold)| *score >= hold / 2.0)
    .map(|(head, score, _)| (head, score))
}

pub fn site_thresholds(site: &SitePolicy, classifier: &crate::classify::Classifier) -> SiteThresholds {
    let model = |head: HeadKind| classifier.thresholds(head);
    let t = &site.thresholds;
    let pick = |hold: Option<f32>, reject: Option<f32>, head: HeadKind| {
        let m = model(head);
        let hold = hold.unwrap_or(m.flag);
        ScoreThresholds {
            hold,
            reject: reject.unwrap_or(m.reject).max(hold),
        }
    };
    SiteThresholds {
        spam: pick(t.spam_hold, t.spam_reject, HeadKind::Spam),
        abuse: pick(t.abuse_hold, t.abuse_reject, HeadKind::Abuse),
        hate: pick(t.hate_hold, t.hate_reject, HeadKind::Hate),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_print_as_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_663_055), "2026-11-26T03:17:35Z");
        assert_eq!(rfc3339(4_107_542_399), "2100-02-28T23:59:59Z");
        assert_eq!(rfc3339_millis(1_795_663_055_007), "2026-11-26T03:17:35.007Z");
    }

    fn terms(list: &[&str]) -> Vec<Term> {
        list.iter().map(|t| Term::new(t).unwrap()).collect()
    }

    fn matched(text: &str, list: &[&str]) -> Vec<String> {
        term_signals(
            &TextAnalysis::of(text),
            &terms(list),
            ReasonCode::BlockedTerm,
            Action::Reject,
        )
        .into_iter()
        .map(|s| s.detail)
        .collect()
    }

    #[test]
    fn banned_terms_match_disguised_forms() {
        for text in [
            "vào nhà cái uy tín",
            "vao nha cai uy tin",
            "vào n.h.à c.á.i đi",
            "NHÀ CÁI số 1",
            "vào n h à c á i đi",
            "nhacai123 đây",
            "nhà cáiiiii",
            "nhà\u{200B} cái",
        ] {
            assert_eq!(matched(text, &["nhà cái"]), ["contains \"nhà cái\""], "{text}");
        }
    }

    #[test]
    fn banned_terms_match_masked_words() {
        for text in ["f*ck you", "F**K YOU!", "f*** you"] {
            assert_eq!(matched(text, &["fuck you"]), ["contains \"fuck you\""], "{text}");
        }
        assert_eq!(matched("thằng l*n", &["lồn"]).len(), 1);
        // A mask the list has no word for stays a mask: "*ck you" is not "fuck you".
        assert!(matched("*ck you", &["fuck you"]).is_empty());
    }

    #[test]
    fn a_term_matches_both_spellings_of_its_words() {
        // A site that lists "thuỷ điện" meant "thủy điện" too; "lý" and "lí" are one word.
        for text in ["dự án thủy điện", "dự án thuỷ điện", "du an thuy dien"] {
            assert_eq!(matched(text, &["thuỷ điện"]), ["contains \"thuỷ điện\""], "{text}");
        }
        assert_eq!(matched("vay kí quỹ", &["ký quỹ"]).len(), 1);
        // A different tone is a different word still: "thùy" is not "thủy".
        assert!(matched("dự án thùy điện", &["thuỷ điện"]).is_empty());
    }

    #[test]
    fn terms_do_not_match_across_unrelated_words_or_inside_other_words() {
        // "cai" in "cái nhà" order, and "nha" + "cai" spread over other words, are not the term.
        assert!(matched("cái nhà này đẹp", &["nhà cái"]).is_empty());
        assert!(matched("anh ấy là người nhà, cải thiện", &["nhà cái"]).is_empty());
        assert!(matched("class assignment", &["ass"]).is_empty());
        assert_eq!(matched("you ass", &["ass"]).len(), 1);
    }

    #[test]
    fn email_normalization_merges_gmail_aliases() {
        assert_eq!(normalize_email(" Nguyen.Van.A+news@Gmail.com "), "nguyenvana@gmail.com");
        assert_eq!(normalize_email("a.b+x@example.vn"), "a.b@example.vn");
        assert_eq!(normalize_email("not-an-email"), "not-an-email");
    }

    #[test]
    fn hosts_match_their_subdomains_only() {
        assert!(host_matches("www.example.com", "example.com"));
        assert!(host_matches("m.example.com", "example.com"));
        assert!(!host_matches("badexample.com", "example.com"));
    }
}
