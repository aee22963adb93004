//! From signals to a decision. Pure: no I/O, no clock.
//!
//! Every check of the pipeline yields [`Signal`]s, each with the least severe action it
//! demands. [`decide`] folds them: the most severe action wins, the reasons are every
//! signal that asked for more than approval, most severe first. A site in shadow mode gets
//! the same computation, recorded as `shadow_action`, and an approval.

use std::time::Duration;

use crate::classify::Scores;
use crate::config::ScoreThresholds;

/// What to do with a comment, ordered by severity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Approve,
    Hold,
    Reject,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Approve => "approve",
            Action::Hold => "hold",
            Action::Reject => "reject",
        }
    }
}

/// Why; mirrors `modgate.v1.ReasonCode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReasonCode {
    Spam,
    Abuse,
    Hate,
    BlockedTerm,
    SuspectTerm,
    LinkLimit,
    Duplicate,
    RateLimited,
    CaptchaMissing,
    CaptchaInvalid,
    CaptchaReplayed,
    CaptchaRequired,
    Honeypot,
    NewAuthor,
    BlockedLink,
    DependencyUnavailable,
    TooFast,
}

impl ReasonCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ReasonCode::Spam => "SPAM",
            ReasonCode::Abuse => "ABUSE",
            ReasonCode::Hate => "HATE",
            ReasonCode::BlockedTerm => "BLOCKED_TERM",
            ReasonCode::SuspectTerm => "SUSPECT_TERM",
            ReasonCode::LinkLimit => "LINK_LIMIT",
            ReasonCode::Duplicate => "DUPLICATE",
            ReasonCode::RateLimited => "RATE_LIMITED",
            ReasonCode::CaptchaMissing => "CAPTCHA_MISSING",
            ReasonCode::CaptchaInvalid => "CAPTCHA_INVALID",
            ReasonCode::CaptchaReplayed => "CAPTCHA_REPLAYED",
            ReasonCode::CaptchaRequired => "CAPTCHA_REQUIRED",
            ReasonCode::Honeypot => "HONEYPOT",
            ReasonCode::NewAuthor => "NEW_AUTHOR",
            ReasonCode::BlockedLink => "BLOCKED_LINK",
            ReasonCode::DependencyUnavailable => "DEPENDENCY_UNAVAILABLE",
            ReasonCode::TooFast => "TOO_FAST",
        }
    }
}

/// One finding of one check.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Signal {
    pub code: ReasonCode,
    /// The least severe action this finding calls for.
    pub action: Action,
    /// For people: the score and threshold, the matched term, the limit.
    pub detail: String,
}

impl Signal {
    pub fn new(code: ReasonCode, action: Action, detail: impl Into<String>) -> Self {
        Self {
            code,
            action,
            detail: detail.into(),
        }
    }
}

/// The outcome of the policy.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Decision {
    pub action: Action,
    /// Signals that asked for more than approval, most severe first (ties keep the order
    /// the pipeline found them in).
    pub reasons: Vec<Signal>,
    /// In shadow mode, what an enforcing policy would have done.
    pub shadow_action: Option<Action>,
    /// When rate limited: how long until the comment would pass.
    pub retry_after: Option<Duration>,
}

/// Folds the signals into a decision.
pub fn decide(signals: Vec<Signal>, shadow_mode: bool, retry_after: Option<Duration>) -> Decision {
    let mut reasons: Vec<Signal> = signals.into_iter().filter(|s| s.action > Action::Approve).collect();
    // Stable sort: equal severities keep the pipeline's order.
    reasons.sort_by_key(|s| std::cmp::Reverse(s.action));
    let enforced = reasons.first().map_or(Action::Approve, |s| s.action);
    let limited = reasons.iter().any(|s| s.code == ReasonCode::RateLimited);
    Decision {
        action: if shadow_mode { Action::Approve } else { enforced },
        reasons,
        shadow_action: shadow_mode.then_some(enforced),
        retry_after: if limited { retry_after } else { None },
    }
}

/// Score thresholds for the three heads, as the site resolved them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SiteThresholds {
    pub spam: ScoreThresholds,
    pub abuse: ScoreThresholds,
    pub hate: ScoreThresholds,
}

/// Signals from the classifier's scores: reject at or above a head's reject threshold,
/// hold at or above its hold threshold. Hate is reported with abuse when both fire.
pub fn score_signals(scores: &Scores, thresholds: &SiteThresholds) -> Vec<Signal> {
    let mut signals = Vec::new();
    for (code, score, t, name) in [
        (ReasonCode::Hate, scores.hate, thresholds.hate, "hate"),
        (ReasonCode::Abuse, scores.abuse, thresholds.abuse, "abuse"),
        (ReasonCode::Spam, scores.spam, thresholds.spam, "spam"),
    ] {
        let (action, which, limit) = if score >= t.reject {
            (Action::Reject, "reject", t.reject)
        } else if score >= t.hold {
            (Action::Hold, "hold", t.hold)
        } else {
            continue;
        };
        signals.push(Signal::new(
            code,
            action,
            format!("{name} score {score:.2} >= {which} threshold {limit:.2}"),
        ));
    }
    signals
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(code: ReasonCode, action: Action) -> Signal {
        Signal::new(code, action, "")
    }

    #[test]
    fn decide_table() {
        use Action::*;
        use ReasonCode::*;
        type Case = (Vec<Signal>, bool, Action, Option<Action>, Vec<ReasonCode>);
        let cases: Vec<Case> = vec![
            (vec![], false, Approve, None, vec![]),
            (vec![s(Spam, Approve)], false, Approve, None, vec![]),
            (vec![s(SuspectTerm, Hold)], false, Hold, None, vec![SuspectTerm]),
            (
                vec![s(SuspectTerm, Hold), s(BlockedTerm, Reject)],
                false,
                Reject,
                None,
                vec![BlockedTerm, SuspectTerm],
            ),
            (
                vec![s(Spam, Hold), s(Abuse, Hold)],
                false,
                Hold,
                None,
                vec![Spam, Abuse],
            ),
            (
                vec![s(Honeypot, Reject), s(Spam, Reject)],
                false,
                Reject,
                None,
                vec![Honeypot, Spam],
            ),
            (vec![s(Spam, Reject)], true, Approve, Some(Reject), vec![Spam]),
            (vec![], true, Approve, Some(Approve), vec![]),
        ];
        for (signals, shadow, action, shadow_action, codes) in cases {
            let d = decide(signals.clone(), shadow, None);
            assert_eq!(d.action, action, "{signals:?} shadow={shadow}");
            assert_eq!(d.shadow_action, shadow_action, "{signals:?}");
            assert_eq!(
                d.reasons.iter().map(|r| r.code).collect::<Vec<_>>(),
                codes,
                "{signals:?}"
            );
        }
    }

    #[test]
    fn retry_after_only_with_a_rate_limit() {
        let wait = Some(Duration::from_secs(7));
        assert_eq!(
            decide(vec![s(ReasonCode::RateLimited, Action::Reject)], false, wait).retry_after,
            wait
        );
        assert_eq!(
            decide(vec![s(ReasonCode::Spam, Action::Reject)], false, wait).retry_after,
            None
        );
    }

    #[test]
    fn scores_map_to_signals_by_threshold() {
        let t = ScoreThresholds { hold: 0.5, reject: 0.8 };
        let thresholds = SiteThresholds {
            spam: t,
            abuse: t,
            hate: t,
        };
        let scores = Scores {
            spam: 0.9,
            abuse: 0.6,
            hate: 0.1,
        };
        let signals = score_signals(&scores, &thresholds);
        assert_eq!(signals.len(), 2);
        assert_eq!((signals[0].code, signals[0].action), (ReasonCode::Abuse, Action::Hold));
        assert_eq!((signals[1].code, signals[1].action), (ReasonCode::Spam, Action::Reject));
        assert!(signals[1].detail.contains("0.90") && signals[1].detail.contains("reject"));
        // Exactly at a threshold counts.
        let at = Scores {
            spam: 0.5,
            abuse: 0.0,
            hate: 0.0,
        };
        assert_eq!(score_signals(&at, &thresholds)[0].action, Action::Hold);
    }
}
