//! Scoring with a loaded model: the hot path of every moderation call.
//!
//! All three heads share one bucket table so a feature costs one memory access: each
//! bucket holds the quantized idf and the three quantized weights in 8 bytes. At 2^21
//! buckets the table is 16 MiB; smaller layouts (idf bytes plus the weights of the 15% of
//! buckets that have any, behind a rank index or a 24-bit pointer) were measured and
//! were slower, since the extra arithmetic per feature costs more than the misses they
//! save on a 32 MiB L3: see BENCHMARKS.md, "Scoring speed". The table asks for huge
//! pages, which take most of the TLB misses away ([`super::table`]).

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use arc_swap::ArcSwap;
use indexmap::IndexMap;
use serde::Serialize;

use super::model::{HeadKind, ModelError, ModelFile, Thresholds};
use super::table::{BUCKET_BYTES, BucketTable, read as read_bucket};
use crate::text::{
    FeatureGroup, FeatureIndices, FeatureOrigin, FeatureSink, FeatureSpec, META_SIGNAL_NAMES, META_SIGNALS,
    TextAnalysis, extract, meta_signals,
};

/// Buckets a scoring loop loads before it does their arithmetic ([`Classifier::text_logits`]).
const GATHER: usize = 64;

#[derive(Clone, Debug)]
struct HeadRuntime {
    text_bias: f32,
    text_scale: f32,
    group_scales: [f32; 3],
    intercept: f32,
    coefficients: [f32; 1 + META_SIGNALS],
    /// Where explanations measure a signal's push from; `None` for a format-1 model,
    /// which is explained from zero.
    typical_signals: Option<[f32; META_SIGNALS]>,
    thresholds: Thresholds,
}

/// The scores of one comment, each a probability in 0..1.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Scores {
    pub spam: f32,
    pub abuse: f32,
    /// Probability that the comment is hate speech (attacks a group or a person for who
    /// they are), as opposed to clean or merely offensive.
    pub hate: f32,
}

/// What the default thresholds alone would do with a comment (before any site policy).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SuggestedAction {
    Approve,
    Hold,
    Reject,
}

/// A head's verdict on its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Flag {
    None,
    Flagged,
    Confident,
}

/// A loaded, immutable model. `Send + Sync`: share it behind an `Arc` (or a
/// [`ClassifierHandle`] for swapping) and score from any number of threads.
#[derive(Debug)]
pub struct Classifier {
    version: String,
    spec: FeatureSpec,
    table: BucketTable,
    heads: [HeadRuntime; 3],
    file: ModelFile,
}

thread_local! {
    // Reused per thread so the scoring path allocates nothing once warm.
    static SCRATCH: RefCell<(TextAnalysis, FeatureIndices)> = RefCell::new(Default::default());
}

impl Classifier {
    pub fn load(path: &Path) -> Result<Self, ModelError> {
        Self::from_file(ModelFile::load(path)?)
    }

    pub fn from_file(file: ModelFile) -> Result<Self, ModelError> {
        let dims = file.spec.buckets();
        let mut table = BucketTable::zeroed(dims);
        for (i, &idf) in file.idf.iter().enumerate().take(dims) {
            table.update(i, |bucket| bucket.idf = super::model::idf_units(idf));
        }
        let mut heads = Vec::with_capacity(3);
        for kind in HeadKind::ALL {
            let head = file.head(kind);
            for (i, q) in head.text_weights.dense(dims)?.into_iter().enumerate().take(dims) {
                if q != 0 {
                    table.update(i, |bucket| bucket.weights[kind.index()] = q);
                }
            }
            let mut coefficients = [0f32; 1 + META_SIGNALS];
            coefficients.copy_from_slice(&head.combiner.coefficients);
            let typical_signals = file.typical_signals(kind).map(|typical| {
                let mut values = [0f32; META_SIGNALS];
                values.copy_from_slice(typical);
                values
            });
            heads.push(HeadRuntime {
                text_bias: head.text_bias,
                text_scale: head.text_weights.scale,
                group_scales: head.group_scales,
                intercept: head.combiner.intercept,
                coefficients,
                typical_signals,
                thresholds: head.thresholds,
            });
        }
        Ok(Self {
            version: file.version.clone(),
            spec: file.spec.clone(),
            table,
            heads: heads.try_into().expect("three heads"),
            file,
        })
    }

    pub fn version(&self) -> &str {
        &self.version
    }

    pub fn file(&self) -> &ModelFile {
        &self.file
    }

    pub fn thresholds(&self, head: HeadKind) -> Thresholds {
        self.heads[head.index()].thresholds
    }

    /// Scores one comment (normalize, hash, all heads).
    pub fn score(&self, text: &str) -> Scores {
        SCRATCH.with(|scratch| {
            let (analysis, features) = &mut *scratch.borrow_mut();
            analysis.analyze(text);
            self.score_analysis(analysis, features)
        })
    }

    /// Scores an analysis the caller already made (the pipeline reuses it for term lists).
    pub fn score_analysis(&self, analysis: &TextAnalysis, features: &mut FeatureIndices) -> Scores {
        features.clear();
        extract(analysis, &self.spec, features);
        let logits = self.text_logits(features);
        let meta = meta_signals(analysis.counts());
        let p = |kind: HeadKind| self.combine(kind, logits[kind.index()], &meta);
        let spam = p(HeadKind::Spam);
        let abuse = p(HeadKind::Abuse);
        let hate = p(HeadKind::Hate);
        Scores { spam, abuse, hate }
    }

    /// Text-layer logits of the three heads (before the combiners).
    pub fn text_logits(&self, features: &FeatureIndices) -> [f32; 3] {
        let mut logits = [
            self.heads[0].text_bias,
            self.heads[1].text_bias,
            self.heads[2].text_bias,
        ];
        let table = self.table.words();
        for (g, group) in features.groups.iter().enumerate() {
            let mut norm2 = 0f32;
            let mut acc = [0f32; 3];
            // A long comment's rare n-grams are cache misses, one random bucket each. A loop
            // that only copies buckets has nothing else to wait for, so more of those loads
            // are in flight at once than when each is followed by its arithmetic (20-30%
            // off a long comment's score, BENCHMARKS.md). The sums are taken in the same
            // order, so the scores are the same to the bit (tests/scoring_golden.rs).
            let mut gathered = [[0u8; BUCKET_BYTES]; GATHER];
            for chunk in group.chunks(GATHER) {
                for (copy, &b) in gathered.iter_mut().zip(chunk) {
                    *copy = table[b as usize];
                }
                for k in 0..chunk.len() {
                    let bucket = read_bucket(&gathered, k);
                    let idf = bucket.idf as f32;
                    norm2 += idf * idf;
                    acc[0] += idf * bucket.weights[0] as f32;
                    acc[1] += idf * bucket.weights[1] as f32;
                    acc[2] += idf * bucket.weights[2] as f32;
                }
            }
            if norm2 > 0.0 {
                // The idf quantization scale cancels between numerator and norm.
                let inv = 1.0 / norm2.sqrt();
                for (h, logit) in logits.iter_mut().enumerate() {
                    let head = &self.heads[h];
                    *logit += acc[h] * inv * head.text_scale * head.group_scales[g];
                }
            }
        }
        logits
    }

    fn combine(&self, kind: HeadKind, text_logit: f32, meta: &[f32; META_SIGNALS]) -> f32 {
        let head = &self.heads[kind.index()];
        let mut z = head.intercept + head.coefficients[0] * text_logit;
        for (c, m) in head.coefficients[1..].iter().zip(meta) {
            z += c * m;
        }
        sigmoid(z)
    }

    pub fn flag(&self, kind: HeadKind, probability: f32) -> Flag {
        let t = self.heads[kind.index()].thresholds;
        if probability >= t.reject {
            Flag::Confident
        } else if probability >= t.flag {
            Flag::Flagged
        } else {
            Flag::None
        }
    }

    /// The action the model's own thresholds suggest: reject when any head is
    /// confident, hold when any is flagged, approve otherwise. The service's policy does
    /// the same with a site's thresholds (`policy::score_signals`), so with none set
    /// `modgate check` and `Moderate` agree.
    pub fn suggest(&self, scores: &Scores) -> SuggestedAction {
        let flags = [
            self.flag(HeadKind::Spam, scores.spam),
            self.flag(HeadKind::Abuse, scores.abuse),
            self.flag(HeadKind::Hate, scores.hate),
        ];
        if flags.contains(&Flag::Confident) {
            SuggestedAction::Reject
        } else if flags.contains(&Flag::Flagged) {
            SuggestedAction::Hold
        } else {
            SuggestedAction::Approve
        }
    }

    /// Scores a comment and says why: the features and signals that pushed each head the
    /// most, and how much each word of the comment contributed.
    ///
    /// Effects are summed as the features stream out of [`extract`], per distinct feature
    /// name: memory follows the comment's vocabulary, not its length (a megabyte of
    /// repeated text once held eight million named features at a time).
    pub fn explain(&self, text: &str, top: usize) -> Explanation {
        let analysis = TextAnalysis::of(text);
        let mut indices = FeatureIndices::default();
        let scores = self.score_analysis(&analysis, &mut indices);
        let inverse_norms = std::array::from_fn(|g| {
            let sum: f32 = indices.groups[g]
                .iter()
                .map(|&b| (self.table.get(b as usize).idf as f32).powi(2))
                .sum();
            if sum > 0.0 { 1.0 / sum.sqrt() } else { 0.0 }
        });
        let meta = meta_signals(analysis.counts());
        let tokens = analysis.tokens();
        let mut owners = Owners {
            compact: vec![0u32; analysis.compact().len()],
            surface: Vec::new(),
        };
        for (i, t) in tokens.iter().enumerate() {
            for owner in &mut owners.compact[t.compact.start as usize..t.compact.end as usize] {
                *owner = i as u32;
            }
        }
        owners.surface = (0..analysis.surface().len())
            .map(|i| analysis.surface_owner(i).map(|t| t as u32))
            .collect();
        let logits = self.text_logits(&indices);
        let probabilities = [scores.spam, scores.abuse, scores.hate];

        let mut sums = EffectSums {
            classifier: self,
            inverse_norms,
            owners: &owners,
            by_name: IndexMap::new(),
            per_token: std::array::from_fn(|_| vec![0f32; tokens.len()]),
        };
        extract(&analysis, &self.spec, &mut sums);
        let EffectSums {
            by_name, mut per_token, ..
        } = sums;

        let heads = HeadKind::ALL.map(|kind| {
            let h = kind.index();
            let head = &self.heads[h];
            // Keyed by the name people read: n-grams that differ only in padding or
            // view ("em", " em", "em ") are one reason to a moderator.
            let mut by_display: HashMap<String, f32> = HashMap::new();
            for (name, sum) in &by_name {
                if let Some(effect) = sum[h] {
                    *by_display.entry(display_name(name)).or_default() += effect;
                }
            }
            let mut features: Vec<Contribution> = by_display
                .into_iter()
                .map(|(name, effect)| Contribution { name, effect })
                .collect();
            features.sort_by(|a, b| {
                b.effect
                    .abs()
                    .total_cmp(&a.effect.abs())
                    .then_with(|| a.name.cmp(&b.name))
            });
            features.truncate(top);
            // Measured from the head's typical comment, as a linear model's contributions
            // are: every comment has a length, and only an unusual one is a reason.
            let mut signals: Vec<SignalContribution> = (0..META_SIGNALS)
                .map(|k| {
                    let typical = head.typical_signals.map(|t| t[k]);
                    SignalContribution {
                        name: META_SIGNAL_NAMES[k],
                        value: meta[k],
                        typical,
                        effect: head.coefficients[1 + k] * (meta[k] - typical.unwrap_or(0.0)),
                    }
                })
                .filter(|s| s.effect != 0.0)
                .collect();
            signals.sort_by(|a, b| b.effect.abs().total_cmp(&a.effect.abs()));
            signals.truncate(top);
            HeadExplanation {
                head: kind,
                probability: probabilities[h],
                flag: self.flag(kind, probabilities[h]),
                text_logit: logits[h],
                features,
                signals,
                token_effects: tokens
                    .iter()
                    .zip(std::mem::take(&mut per_token[h]))
                    .map(|(t, effect)| TokenEffect {
                        start: t.source.start,
                        end: t.source.end,
                        effect,
                    })
                    .collect(),
            }
        });
        Explanation {
            model_version: self.version.clone(),
            scores,
            suggested: self.suggest(&scores),
            heads: heads.to_vec(),
        }
    }
}

/// Sums each feature's effect on the three heads, by feature name and by token, as
/// [`extract`] produces the features.
struct EffectSums<'a> {
    classifier: &'a Classifier,
    inverse_norms: [f32; 3],
    owners: &'a Owners,
    /// Per raw feature name ("c:acai", "p:nha cai"), the summed effect on each head, or
    /// `None` where the feature has no weight in that head. In first-seen order, so the
    /// sums by display name come out the same on every run.
    by_name: IndexMap<String, [Option<f32>; 3]>,
    per_token: [Vec<f32>; 3],
}

impl FeatureSink for EffectSums<'_> {
    const WANTS_NAMES: bool = true;

    fn push(&mut self, group: FeatureGroup, bucket: u32, name: &str, origin: FeatureOrigin) {
        let entry = self.classifier.table.get(bucket as usize);
        let g = group.index();
        // Effect on the combined logit: text contribution times the combiner's weight on
        // the text logit.
        let effects: [f32; 3] = std::array::from_fn(|h| {
            let head = &self.classifier.heads[h];
            entry.idf as f32
                * entry.weights[h] as f32
                * head.text_scale
                * head.group_scales[g]
                * self.inverse_norms[g]
                * head.coefficients[0]
        });
        if effects.iter().all(|&e| e == 0.0) {
            return;
        }
        let sums = match self.by_name.get_mut(name) {
            Some(sums) => sums,
            None => self.by_name.entry(name.to_owned()).or_default(),
        };
        for (h, &effect) in effects.iter().enumerate() {
            if effect != 0.0 {
                *sums[h].get_or_insert(0.0) += effect;
                spread_over_tokens(origin, effect, self.owners, &mut self.per_token[h]);
            }
        }
    }
}

/// Readable feature names: words as they are, pieces of words between ellipses,
/// placeholders in words ("p:_phone_" -> "a phone number").
fn display_name(name: &str) -> String {
    let placeholder = |word: &str| -> Option<&'static str> {
        Some(match word {
            "_phone_" => "a phone number",
            "_url_" => "a link",
            "_email_" => "an e-mail address",
            _ => return None,
        })
    };
    match name.split_once(':') {
        Some(("p" | "w", rest)) => rest
            .split(' ')
            .map(|w| placeholder(w).unwrap_or(w))
            .collect::<Vec<_>>()
            .join(" "),
        Some(("c" | "t", rest)) => format!("…{}…", rest.trim()),
        Some(("host", rest)) => format!("link to {rest}"),
        Some(("shape", "long")) => "an overlong word".to_string(),
        _ => name.to_string(),
    }
}

/// Which token each character of the compact and folded views belongs to.
struct Owners {
    compact: Vec<u32>,
    /// `None` for spaces and punctuation between tokens.
    surface: Vec<Option<u32>>,
}

/// Adds a feature's effect to the tokens it came from.
fn spread_over_tokens(origin: FeatureOrigin, effect: f32, owners: &Owners, per_token: &mut [f32]) {
    match origin {
        FeatureOrigin::Tokens(start, end) => {
            let count = (end - start).max(1) as f32;
            for slot in &mut per_token[start as usize..end as usize] {
                *slot += effect / count;
            }
        }
        FeatureOrigin::Compact(start, end) => {
            let len = (end - start).max(1) as f32;
            for &owner in &owners.compact[start as usize..end as usize] {
                per_token[owner as usize] += effect / len;
            }
        }
        FeatureOrigin::Surface(start, end) => {
            let covered = owners.surface[start as usize..end as usize].iter().flatten();
            let count = covered.clone().count() as f32;
            for &owner in covered {
                per_token[owner as usize] += effect / count;
            }
        }
        FeatureOrigin::Comment => {}
    }
}

pub fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + (-z).exp())
}

/// One named reason and its push on the head's logit (positive: towards flagging).
#[derive(Clone, Debug, Serialize)]
pub struct Contribution {
    pub name: String,
    pub effect: f32,
}

/// A meta signal's push on the head's logit, measured from its typical value: the mean
/// over the comments the head's combiner learned from (`None` in a format-1 model, whose
/// signals are measured from zero).
#[derive(Clone, Debug, Serialize)]
pub struct SignalContribution {
    pub name: &'static str,
    pub value: f32,
    pub typical: Option<f32>,
    pub effect: f32,
}

impl SignalContribution {
    /// The signal as a moderator reads it: "length 480 characters (typical 95)".
    pub fn describe(&self) -> String {
        let typical = |show: &dyn Fn(f32) -> String| match self.typical {
            Some(t) => format!(" (typical {})", show(t)),
            None => String::new(),
        };
        let percent = |v: f32| format!("{:.0}%", v * 100.0);
        let present = |yes: &str, no: &str| if self.value > 0.5 { yes } else { no }.to_string();
        match self.name {
            "log_length" => {
                // The inverse of `meta_signals`' ln(1 + chars) / ln(10,001).
                let chars = |v: f32| format!("{:.0}", ((v * 10_001f32.ln()).exp() - 1.0).max(0.0));
                format!("length {} characters{}", chars(self.value), typical(&chars))
            }
            "has_link" => present("a link", "no link"),
            "has_phone" => present("a phone number", "no phone number"),
            "has_email" => present("an e-mail address", "no e-mail address"),
            "shouting_punctuation" => present("shouting punctuation (\"!!!\", \"???\")", "no shouting punctuation"),
            "digit_ratio" => format!("digits {} of characters{}", percent(self.value), typical(&percent)),
            "caps_ratio" => format!("capitals {} of letters{}", percent(self.value), typical(&percent)),
            // Emoji count four times their share, capped at 1.
            "emoji_ratio" => {
                let share = |v: f32| percent(v / 4.0);
                format!("emoji {} of characters{}", share(self.value), typical(&share))
            }
            "vietnamese_ratio" => format!("Vietnamese words {}{}", percent(self.value), typical(&percent)),
            other => other.to_string(),
        }
    }
}

/// How much one token of the comment pushed a head, with its byte range in the text.
#[derive(Clone, Debug, Serialize)]
pub struct TokenEffect {
    pub start: usize,
    pub end: usize,
    pub effect: f32,
}

#[derive(Clone, Debug, Serialize)]
pub struct HeadExplanation {
    pub head: HeadKind,
    pub probability: f32,
    pub flag: Flag,
    pub text_logit: f32,
    pub features: Vec<Contribution>,
    pub signals: Vec<SignalContribution>,
    pub token_effects: Vec<TokenEffect>,
}

impl HeadExplanation {
    /// Features and signals as one list for people, strongest push first (either way).
    /// A phone number or a link is both a word feature and a signal: one reason, its
    /// pushes summed.
    pub fn reasons(&self) -> Vec<Contribution> {
        let mut reasons: Vec<Contribution> = Vec::new();
        let signals = self.signals.iter().map(|s| Contribution {
            name: s.describe(),
            effect: s.effect,
        });
        for reason in self.features.iter().cloned().chain(signals) {
            match reasons.iter_mut().find(|r| r.name == reason.name) {
                Some(same) => same.effect += reason.effect,
                None => reasons.push(reason),
            }
        }
        reasons.sort_by(|a, b| b.effect.abs().total_cmp(&a.effect.abs()));
        reasons
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Explanation {
    pub model_version: String,
    pub scores: Scores,
    pub suggested: SuggestedAction,
    pub heads: Vec<HeadExplanation>,
}

/// The live model, swappable at run time without locks: readers take a cheap snapshot
/// (`load`), a reload replaces it atomically and in-flight scorings finish on the old one.
pub struct ClassifierHandle(ArcSwap<Classifier>);

impl ClassifierHandle {
    pub fn new(classifier: Classifier) -> Self {
        Self(ArcSwap::from_pointee(classifier))
    }

    pub fn current(&self) -> Arc<Classifier> {
        self.0.load_full()
    }

    pub fn replace(&self, classifier: Classifier) -> Arc<Classifier> {
        self.0.swap(Arc::new(classifier))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::classify::shipped::shipped_model;

    fn shipped() -> ModelFile {
        shipped_model()
            .expect("the repository ships models/modgate.model")
            .expect("the shipped model loads")
    }

    fn signals_of(classifier: &Classifier, kind: HeadKind, text: &str) -> Vec<SignalContribution> {
        let explanation = classifier.explain(text, META_SIGNALS);
        explanation.heads[kind.index()].signals.clone()
    }

    #[test]
    fn signals_push_from_their_typical_value() {
        let ordinary = "Bài viết hay, cảm ơn tác giả nhiều nhé";
        let shouted = "MUA NGAY!!! GIẢM 50% 🔥🔥 gọi 0912 345 678 hoặc xem tại shop.example.vn";
        let mut file = shipped();
        let typical = meta_signals(TextAnalysis::of(ordinary).counts());
        file.appendix.typical_signals = vec![(HeadKind::Abuse, typical.to_vec())];
        let coefficients = file.head(HeadKind::Abuse).combiner.coefficients.clone();
        let classifier = Classifier::from_file(file).unwrap();

        // A comment exactly as typical as the reference has no signal worth naming.
        assert!(signals_of(&classifier, HeadKind::Abuse, ordinary).is_empty());

        let meta = meta_signals(TextAnalysis::of(shouted).counts());
        let signals = signals_of(&classifier, HeadKind::Abuse, shouted);
        assert!(!signals.is_empty());
        for s in &signals {
            let k = META_SIGNAL_NAMES.iter().position(|n| *n == s.name).unwrap();
            assert_eq!(s.value, meta[k]);
            assert_eq!(s.typical, Some(typical[k]));
            assert_eq!(s.effect, coefficients[1 + k] * (meta[k] - typical[k]), "{}", s.name);
        }

        // Heads without typical values (a format-1 model) are measured from zero.
        let spam = &classifier.file().head(HeadKind::Spam).combiner.coefficients;
        for s in signals_of(&classifier, HeadKind::Spam, shouted) {
            let k = META_SIGNAL_NAMES.iter().position(|n| *n == s.name).unwrap();
            assert_eq!(s.typical, None);
            assert_eq!(s.effect, spam[1 + k] * meta[k]);
        }
    }

    #[test]
    fn a_phone_number_is_one_reason_with_both_pushes() {
        let classifier = Classifier::from_file(shipped()).unwrap();
        let text = "Nhà cái uy tín, nạp lần đầu tặng 100%, liên hệ zalo 0912 345 678";
        let spam = &classifier.explain(text, 5).heads[HeadKind::Spam.index()];
        let word = spam
            .features
            .iter()
            .find(|f| f.name == "a phone number")
            .expect("a word feature");
        let signal = spam.signals.iter().find(|s| s.name == "has_phone").expect("a signal");
        let reasons = spam.reasons();
        let phone: Vec<_> = reasons.iter().filter(|r| r.name == "a phone number").collect();
        assert_eq!(phone.len(), 1, "{reasons:?}");
        assert_eq!(phone[0].effect, word.effect + signal.effect);
        assert!(
            reasons.windows(2).all(|w| w[0].effect.abs() >= w[1].effect.abs()),
            "{reasons:?}"
        );
        assert_eq!(reasons.len(), spam.features.len() + spam.signals.len() - 1);
    }

    #[test]
    fn the_suggested_action_is_the_service_policy_with_the_model_thresholds() {
        use crate::config::ScoreThresholds;
        use crate::policy::{Action, SiteThresholds, decide, score_signals};
        let classifier = Classifier::from_file(shipped()).unwrap();
        let model = |kind| {
            let t = classifier.thresholds(kind);
            ScoreThresholds {
                hold: t.flag,
                reject: t.reject,
            }
        };
        let site = SiteThresholds {
            spam: model(HeadKind::Spam),
            abuse: model(HeadKind::Abuse),
            hate: model(HeadKind::Hate),
        };
        // Every score on either side of every threshold, each head alone and together.
        let mut levels: Vec<f32> = vec![0.0, 1.0];
        for kind in HeadKind::ALL {
            let t = classifier.thresholds(kind);
            for x in [t.flag, t.reject] {
                levels.extend([x - 0.001, x, x + 0.001]);
            }
        }
        let mut held_by_hate_alone = false;
        for &spam in &levels {
            for &abuse in &levels {
                for &hate in &levels {
                    let scores = Scores { spam, abuse, hate };
                    let service = decide(score_signals(&scores, &site), false, None).action;
                    let expected = match service {
                        Action::Approve => SuggestedAction::Approve,
                        Action::Hold => SuggestedAction::Hold,
                        Action::Reject => SuggestedAction::Reject,
                    };
                    assert_eq!(classifier.suggest(&scores), expected, "{scores:?}");
                    held_by_hate_alone |= spam == 0.0 && abuse == 0.0 && expected == SuggestedAction::Hold;
                }
            }
        }
        assert!(held_by_hate_alone, "a hate score alone holds a comment");
    }

    #[test]
    fn signals_read_as_moderators_would_say_them() {
        let length = |chars: f32| (1.0 + chars).ln() / 10_001f32.ln();
        let signal = |name, value, typical| SignalContribution {
            name,
            value,
            typical,
            effect: 0.5,
        };
        assert_eq!(
            signal("log_length", length(480.0), Some(length(95.0))).describe(),
            "length 480 characters (typical 95)"
        );
        assert_eq!(
            signal("log_length", length(54.0), None).describe(),
            "length 54 characters"
        );
        assert_eq!(signal("has_phone", 1.0, Some(0.05)).describe(), "a phone number");
        assert_eq!(signal("has_link", 0.0, Some(0.12)).describe(), "no link");
        assert_eq!(
            signal("caps_ratio", 0.69, Some(0.09)).describe(),
            "capitals 69% of letters (typical 9%)"
        );
        assert_eq!(
            signal("emoji_ratio", 0.2, Some(0.04)).describe(),
            "emoji 5% of characters (typical 1%)"
        );
        assert_eq!(
            signal("vietnamese_ratio", 0.0, Some(0.66)).describe(),
            "Vietnamese words 0% (typical 66%)"
        );
    }
}
