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
            heads.push(HeadRuntime {
                text_bias: head.text_bias,
                text_scale: head.text_weights.scale,
                group_scales: head.group_scales,
                intercept: head.combiner.intercept,
                coefficients,
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

    /// The action the model's own thresholds suggest: reject when spam or abuse is
    /// confident, hold when either is flagged, approve otherwise.
    pub fn suggest(&self, scores: &Scores) -> SuggestedAction {
        let flags = [
            self.flag(HeadKind::Spam, scores.spam),
            self.flag(HeadKind::Abuse, scores.abuse),
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
            let mut signals: Vec<Contribution> = META_SIGNAL_NAMES
                .iter()
                .zip(&meta)
                .zip(&head.coefficients[1..])
                .filter(|((_, m), _)| **m != 0.0)
                .map(|((name, m), c)| Contribution {
                    name: name.to_string(),
                    effect: m * c,
                })
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
    pub signals: Vec<Contribution>,
    pub token_effects: Vec<TokenEffect>,
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
