//! Moderators' decisions as training labels (`modgate labels export`).
//!
//! A moderator answers "publish or not", not "spam or abuse", and the training data keeps
//! the two questions apart (`../shared/data/README.md`: an abuse set's `clean` row can be
//! an advertisement, a spam set's `ham` row can be abusive). So each decision answers the
//! question the comment was held for:
//!
//! 1. the classifier's reasons on the held comment: SPAM → the spam task; ABUSE or HATE →
//!    the abuse task; both → the head with the higher score;
//! 2. else the spam-like rule reasons (LINK_LIMIT, BLOCKED_LINK, DUPLICATE) → the spam task;
//! 3. else (held for a term, a new author, ...) the head that scored the comment higher
//!    (spam on a tie).
//!
//! Then APPROVE → `ham` (spam task) or `clean` (abuse task), REJECT → `spam` or `toxic`.
//! `toxic` and not `offensive`/`hate`: a rejection does not say how bad the comment was,
//! which is what the data format's `toxic` means ("a dataset that does not separate
//! offensive from hate").

use super::data::{Label, Task};
use crate::policy::{Action, ReasonCode};
use crate::store::ScoresRecord;

/// Which question a moderator's decision on a held comment answers (see the module doc).
pub fn task_of(reasons: &[ReasonCode], scores: ScoresRecord) -> Task {
    let spam = reasons.contains(&ReasonCode::Spam);
    let abuse = reasons
        .iter()
        .any(|r| matches!(r, ReasonCode::Abuse | ReasonCode::Hate));
    let by_score = || {
        if scores.spam >= scores.abuse.max(scores.hate) {
            Task::Spam
        } else {
            Task::Abuse
        }
    };
    match (spam, abuse) {
        (true, false) => Task::Spam,
        (false, true) => Task::Abuse,
        (true, true) => by_score(),
        (false, false) => {
            let spam_like = reasons.iter().any(|r| {
                matches!(
                    r,
                    ReasonCode::LinkLimit | ReasonCode::BlockedLink | ReasonCode::Duplicate
                )
            });
            if spam_like { Task::Spam } else { by_score() }
        }
    }
}

/// The label of a moderator's decision, or `None` for an action that is not one (HOLD).
pub fn label_of(action: Action, reasons: &[ReasonCode], scores: ScoresRecord) -> Option<Label> {
    let task = task_of(reasons, scores);
    Some(match (action, task) {
        (Action::Approve, Task::Spam) => Label::Ham,
        (Action::Approve, Task::Abuse) => Label::Clean,
        (Action::Reject, Task::Spam) => Label::Spam,
        (Action::Reject, Task::Abuse) => Label::Toxic,
        (Action::Hold, _) => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scores(spam: f32, abuse: f32) -> ScoresRecord {
        ScoresRecord { spam, abuse, hate: 0.0 }
    }

    #[test]
    fn the_reasons_a_comment_was_held_for_choose_the_task() {
        use ReasonCode::*;
        let even = scores(0.5, 0.5);
        assert_eq!(label_of(Action::Reject, &[Spam], scores(0.1, 0.9)), Some(Label::Spam));
        assert_eq!(label_of(Action::Approve, &[Spam], even), Some(Label::Ham));
        assert_eq!(label_of(Action::Reject, &[Abuse], scores(0.9, 0.1)), Some(Label::Toxic));
        assert_eq!(label_of(Action::Reject, &[Hate], even), Some(Label::Toxic));
        assert_eq!(label_of(Action::Approve, &[Abuse, NewAuthor], even), Some(Label::Clean));
        assert_eq!(
            label_of(Action::Reject, &[Spam, Abuse], scores(0.6, 0.8)),
            Some(Label::Toxic)
        );
        assert_eq!(
            label_of(Action::Reject, &[Spam, Abuse], scores(0.8, 0.6)),
            Some(Label::Spam)
        );
        assert_eq!(
            label_of(Action::Approve, &[LinkLimit], scores(0.0, 0.9)),
            Some(Label::Ham)
        );
        assert_eq!(label_of(Action::Hold, &[Spam], even), None);
    }

    #[test]
    fn without_a_telling_reason_the_higher_score_chooses() {
        use ReasonCode::*;
        assert_eq!(
            label_of(Action::Reject, &[SuspectTerm], scores(0.2, 0.7)),
            Some(Label::Toxic)
        );
        assert_eq!(
            label_of(Action::Approve, &[SuspectTerm], scores(0.2, 0.7)),
            Some(Label::Clean)
        );
        assert_eq!(
            label_of(Action::Reject, &[NewAuthor], scores(0.3, 0.3)),
            Some(Label::Spam)
        );
        let hateful = ScoresRecord {
            spam: 0.2,
            abuse: 0.1,
            hate: 0.6,
        };
        assert_eq!(label_of(Action::Reject, &[], hateful), Some(Label::Toxic));
    }
}
