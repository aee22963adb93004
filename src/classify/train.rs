//! Training: from labelled JSONL files to a [`ModelFile`].
//!
//! Per head: the sparse text layer is trained K times on K-1 folds to get out-of-fold
//! logits for every training row, then once on everything. linfa-logistic fits the head's
//! combiner on the out-of-fold logits plus the meta signals, so the combiner learns how
//! far to trust the text layer on text it has not seen. Thresholds are chosen on the dev
//! splits (when given) with the final, quantized model, exactly as it will score.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use linfa::prelude::*;
use linfa_logistic::LogisticRegression;
use ndarray::{Array1, Array2};
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64;

use super::data::{Example, Label, RowOrigin, Task, read_jsonl};
use super::metrics::{BinaryMetrics, binary_metrics, macro_f1};
use super::model::{
    Combiner, DatasetSummary, DevMetrics, HeadFile, HeadKind, IDF_STEPS, ModelAppendix, ModelError, ModelFile,
    QuantizedWeights, Thresholds,
};
use super::scorer::{Classifier, Scores};
use super::sparse::{FtrlParams, LbfgsParams, LinearModel, SparseRows, TextOptimizer};
use crate::text::{
    FeatureIndices, FeatureSpec, META_SIGNAL_NAMES, META_SIGNALS, NamedFeatures, TextAnalysis, extract, meta_signals,
};

/// Everything that decides what a training run produces. Fields missing from `--params`
/// JSON keep their defaults, so a tuning run names only what it changes.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct TrainConfig {
    pub spec: FeatureSpec,
    pub spam: HeadConfig,
    pub abuse: HeadConfig,
    pub hate: HeadConfig,
    /// Text weights smaller than this are dropped after merging (smaller model file; the
    /// measured effect on dev AUC is below 0.001 at 0.1).
    pub prune_below: f32,
    /// Folds for the out-of-fold logits the combiners learn from.
    pub folds: usize,
    pub seed: u64,
    /// L2 strength of the linfa combiners.
    pub combiner_alpha: f64,
    /// Named features kept per head in the model file.
    pub dictionary_per_head: usize,
    /// Naive-Bayes feature scaling of the text layers, when set.
    pub naive_bayes: Option<NaiveBayesScaling>,
    /// Share of the Vietnamese training rows added again without diacritics.
    pub unaccented_copies: f64,
    /// The spam and abuse flag threshold. `Some(p)`: a fixed probability (the combiners are
    /// calibrated, so 0.5 means "more likely than not", the rule the scikit-learn
    /// baseline uses too). `None`: the threshold with the best mean F1 across training
    /// sources, on out-of-fold scores.
    pub flag_threshold: Option<f32>,
    /// Precision the `reject` threshold must reach on every training source's out-of-fold
    /// scores ([`choose_thresholds`]).
    pub reject_precision: f64,
    /// Leave out the review spam that is not comment spam ([`is_opinion_spam`]).
    pub drop_opinion_spam: bool,
    /// Add the offensive spans a dataset marks in an abusive row as a row of their own
    /// ([`offensive_span_rows`]).
    pub offensive_span_rows: bool,
    /// Also add what is left of such a row without its spans, as a clean row
    /// ([`span_remainder_rows`]).
    pub span_remainder_rows: bool,
    pub version: String,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            spec: FeatureSpec::default(),
            // Chosen on the dev splits, see models/MODEL_CARD.md ("How it was tuned").
            // vi_comment_spam is the closest to a Vietnamese news comment box (the others are
            // reviews, SMS and YouTube): it counts three times for the spam head.
            // Its negatives are length-balanced: the spam sets' long texts are mostly ads,
            // a news site's long comments mostly are not ([`length_balance`]).
            spam: HeadConfig {
                unaccented_copies: false,
                source_weights: BTreeMap::from([("vi_comment_spam".to_string(), 3)]),
                length_balance_max: 8,
                // A comment's length is no evidence of spam on a news site, however much
                // it is in the public spam sets.
                combiner_ignores: vec!["log_length".to_string()],
                // ViCTSD is reader comments from a Vietnamese news site, labelled for
                // toxicity; the vi_comment_spam authors found 3 ads in the 91 of its
                // train rows that looked most like ads, and none in its dev rows. Learned
                // as ham, it shows the spam head what a news site's comments look like:
                // long, formal, full of figures and prices, and not selling anything.
                negative_sources: vec!["victsd".to_string(), "wiki_toxicity_identity".to_string()],
                ..HeadConfig::default()
            },
            abuse: HeadConfig {
                members: vec![
                    TextOptimizer::Lbfgs(LbfgsParams::default()),
                    TextOptimizer::Ftrl(FtrlParams::default()),
                ],
                group_scales: [1.5, 1.0, 0.5],
                source_weights: BTreeMap::new(),
                unaccented_copies: true,
                length_balance_max: 1,
                combiner_on_balanced_rows: false,
                combiner_ignores: Vec::new(),
                negative_sources: Vec::new(),
            },
            hate: HeadConfig {
                group_scales: [1.5, 1.0, 0.5],
                ..HeadConfig::default()
            },
            prune_below: 0.1,
            folds: 2,
            seed: 42,
            combiner_alpha: 1.0,
            dictionary_per_head: 400,
            naive_bayes: None,
            flag_threshold: Some(0.5),
            unaccented_copies: 0.3,
            reject_precision: 0.95,
            drop_opinion_spam: true,
            // ViHOS marks the words that make ViHSD's comments offensive; on their own
            // they show the abuse head where the evidence is (model card, "How it was tuned").
            offensive_span_rows: true,
            // Measured and not kept: the rest of a marked comment, learned as clean, helps
            // ViHSD but costs Wikipedia AUC and the abuse head's rejections (model card).
            span_remainder_rows: false,
            version: format!("modgate-{}", env!("CARGO_PKG_VERSION")),
        }
    }
}

/// How one head's text layer is trained. A head given in `--params` starts from
/// [`HeadConfig::default`], not from that head's default in [`TrainConfig::default`].
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct HeadConfig {
    /// Text layers to fit. With more than one, the combiner learns how much to trust each;
    /// as all are linear in the same features they are merged into one weight vector, so
    /// an ensemble costs nothing when scoring.
    pub members: Vec<TextOptimizer>,
    /// Scale of each feature group (words, surface characters, compact characters) after
    /// its unit normalisation: how loudly each view speaks to this head before any weight
    /// is learned (the L2 penalty makes quiet views costlier to use).
    pub group_scales: [f32; 3],
    /// Sources whose rows count several times for this head (each row is repeated; a
    /// repeat shares its row's fold).
    pub source_weights: BTreeMap<String, u32>,
    /// Whether this head also learns from the unaccented copies of Vietnamese rows.
    pub unaccented_copies: bool,
    /// Up to this many copies of each negative row where a dataset's positives are
    /// over-represented among texts of that length ([`length_balance`]); 1: off.
    pub length_balance_max: u32,
    /// Whether the combiner learns from the length-balanced rows (its intercept then
    /// shifted back by the log of the extra negatives) rather than from the rows as they
    /// are. Balancing is there to take length away from the text layer; a combiner that
    /// learns from balanced rows reads the base rate per length wrongly instead, so short
    /// texts drift up.
    pub combiner_on_balanced_rows: bool,
    /// Meta signals ([`META_SIGNAL_NAMES`]) this head's combiner leaves out.
    pub combiner_ignores: Vec<String>,
    /// Sources whose rows this head learns as negatives whatever their own labels say,
    /// except rows whose text another source gives this head's task (that label wins).
    /// For the spam head: a dataset of a news site's reader comments labelled for
    /// toxicity is also a set of comments that are not ads.
    pub negative_sources: Vec<String>,
}

impl Default for HeadConfig {
    fn default() -> Self {
        Self {
            members: vec![TextOptimizer::Lbfgs(LbfgsParams::default())],
            group_scales: [1.0; 3],
            source_weights: BTreeMap::new(),
            unaccented_copies: true,
            length_balance_max: 1,
            combiner_on_balanced_rows: false,
            combiner_ignores: Vec::new(),
            negative_sources: Vec::new(),
        }
    }
}

/// Upper bounds (characters) of the length bands [`length_balance`] compares.
const LENGTH_BANDS: [usize; 5] = [50, 100, 200, 400, 800];

/// Bands with fewer negatives than this are left as they are.
const LENGTH_BALANCE_MIN_ROWS: u64 = 50;

fn length_band(text: &str) -> usize {
    let chars = text.chars().count();
    LENGTH_BANDS
        .iter()
        .position(|&limit| chars < limit)
        .unwrap_or(LENGTH_BANDS.len())
}

/// Copies of each negative row, per (source, length band), that bring the band's share of
/// positives down towards the source's overall share, at most `max`.
///
/// Why: in the public spam sets, long texts are mostly ads (vi_comment_spam: 2% spam under
/// 50 characters, 71% between 400 and 800), so a head learns "long means spam" and
/// rejects the long, considered comments a news site values most. Repeating the long
/// negatives takes length away as evidence without inventing rows; positives are never
/// repeated, so short comments do not become more suspect.
pub fn length_balance(rows: &[(usize, bool)], examples: &[Example], max: u32) -> HashMap<(String, usize), u32> {
    let mut counts: HashMap<(&str, usize), (u64, u64)> = HashMap::new();
    let mut totals: HashMap<&str, (u64, u64)> = HashMap::new();
    for &(i, positive) in rows {
        let e = &examples[i];
        let band = counts.entry((e.source.as_str(), length_band(&e.text))).or_default();
        let total = totals.entry(e.source.as_str()).or_default();
        if positive {
            band.1 += 1;
            total.1 += 1;
        } else {
            band.0 += 1;
            total.0 += 1;
        }
    }
    let mut copies = HashMap::new();
    for ((source, band), (negatives, positives)) in counts {
        let (all_negatives, all_positives) = totals[source];
        // A handful of rows repeated many times would be learned by heart, not as a trend.
        if negatives < LENGTH_BALANCE_MIN_ROWS || positives == 0 || all_positives == 0 {
            continue;
        }
        // Negatives needed for the band to have the source's ratio of negatives to positives.
        let wanted = positives as f64 * all_negatives as f64 / all_positives as f64;
        let factor = (wanted / negatives as f64).round().clamp(1.0, max.max(1) as f64) as u32;
        if factor > 1 {
            copies.insert((source.to_string(), band), factor);
        }
    }
    copies
}

impl TrainConfig {
    fn head(&self, head: HeadKind) -> &HeadConfig {
        match head {
            HeadKind::Spam => &self.spam,
            HeadKind::Abuse => &self.abuse,
            HeadKind::Hate => &self.hate,
        }
    }

    fn params(&self, head: HeadKind) -> &[TextOptimizer] {
        &self.head(head).members
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Data(#[from] super::data::DataError),
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error("no training rows for the {0} head (it needs {1})")]
    NoRows(&'static str, &'static str),
    #[error("the {head} head's combiner_ignores names {name:?}, which is not a meta signal (known: {known})", known = META_SIGNAL_NAMES.join(", "))]
    UnknownSignal { head: &'static str, name: String },
    #[error("the {head} combiner could not be fitted: {message}")]
    Combiner { head: &'static str, message: String },
}

/// Progress callbacks, so the CLI can draw a bar and tests can stay quiet.
pub trait Progress: Sync {
    fn stage(&self, name: &str, total: u64);
    fn advance(&self, n: u64);
}

/// No progress output.
pub struct Quiet;

impl Progress for Quiet {
    fn stage(&self, _: &str, _: u64) {}
    fn advance(&self, _: u64) {}
}

/// A dataset's dev split, with its rows.
pub struct DevSet {
    pub source: String,
    pub examples: Vec<Example>,
}

pub struct TrainOutcome {
    pub model: ModelFile,
    pub classifier: Classifier,
    /// Training rows dropped because their text is also in a dev split.
    pub removed_dev_duplicates: usize,
    /// Training rows dropped as opinion spam ([`is_opinion_spam`]).
    pub removed_opinion_spam: usize,
    /// Rows made of an abusive row's marked offensive spans ([`offensive_span_rows`]).
    pub offensive_span_rows: usize,
    /// Clean rows made of what is left of such a row ([`span_remainder_rows`]).
    pub span_remainder_rows: usize,
    /// Per head and negative source ([`HeadConfig::negative_sources`]): how many of its
    /// rows the head learned as negatives (0 when the source is not in the data).
    pub negative_rows: Vec<(HeadKind, String, usize)>,
    /// Per head whose reject threshold waited for one training source: that source, the
    /// last to reach the precision (or, at 0.99, one that never did).
    pub reject_set_by: Vec<(HeadKind, RejectLimit)>,
}

/// Why a reject threshold is where it is ([`choose_thresholds`]).
#[derive(Clone, Debug, PartialEq)]
pub enum RejectLimit {
    /// The source whose precision was the last to reach the target.
    ReachedBy(String),
    /// No threshold on the grid was precise enough on this source.
    NeverReachedBy(String),
}

/// One fitted text layer and its out-of-fold logits.
type FittedMember = (LinearModel, Vec<f32>);

/// Featurized training rows, shared by all heads: bucket lists per feature group, the
/// idf table and the meta signals. Each head builds its own weighted rows from them.
struct Featurized {
    raw: RawFeatures,
    idf: Vec<u16>,
}

impl Featurized {
    fn meta(&self, i: usize) -> &[f32; META_SIGNALS] {
        &self.raw.meta[i]
    }

    /// Row `i` as the scorer sees it under a head's group scales: per group, each
    /// occurrence contributes idf / sqrt(sum of idf^2 over the group's occurrences).
    fn entries(&self, i: usize, scales: &[f32; 3], out: &mut Vec<(u32, f32)>, sorted: &mut Vec<u32>) {
        out.clear();
        for (group, &scale) in self.raw.indices[i].groups.iter().zip(scales) {
            let norm2: f64 = group.iter().map(|&b| (self.idf[b as usize] as f64).powi(2)).sum();
            if norm2 == 0.0 {
                continue;
            }
            let inv = scale as f64 / norm2.sqrt();
            sorted.clear();
            sorted.extend(group.iter());
            sorted.sort_unstable();
            let mut k = 0;
            while k < sorted.len() {
                let b = sorted[k];
                let mut count = 0;
                while k < sorted.len() && sorted[k] == b {
                    count += 1;
                    k += 1;
                }
                out.push((b, (count as f64 * self.idf[b as usize] as f64 * inv) as f32));
            }
        }
    }

    /// The rows `ids`, in that order, under a head's group scales.
    fn rows(&self, ids: &[usize], scales: &[f32; 3]) -> SparseRows {
        let mut rows = SparseRows::new();
        let (mut entries, mut sorted) = (Vec::new(), Vec::new());
        for &i in ids {
            self.entries(i, scales, &mut entries, &mut sorted);
            rows.push_row(entries.iter().copied());
        }
        rows
    }

    fn logit(&self, model: &LinearModel, i: usize, scales: &[f32; 3]) -> f32 {
        let (mut entries, mut sorted) = (Vec::new(), Vec::new());
        self.entries(i, scales, &mut entries, &mut sorted);
        let (indices, values): (Vec<u32>, Vec<f32>) = entries.into_iter().unzip();
        model.logit(&indices, &values)
    }
}

pub fn load_dev_sets(files: &[PathBuf]) -> Result<Vec<DevSet>, TrainError> {
    let mut by_source: BTreeMap<String, Vec<Example>> = BTreeMap::new();
    for file in files {
        for example in read_jsonl(file)? {
            by_source.entry(example.source.clone()).or_default().push(example);
        }
    }
    Ok(by_source
        .into_iter()
        .map(|(source, examples)| DevSet { source, examples })
        .collect())
}

pub fn train(
    train_files: &[PathBuf],
    dev_files: &[PathBuf],
    config: &TrainConfig,
    progress: &dyn Progress,
) -> Result<TrainOutcome, TrainError> {
    let mut examples = Vec::new();
    for file in train_files {
        examples.extend(read_jsonl(file)?);
    }
    let dev = load_dev_sets(dev_files)?;
    let (mut examples, removed) = remove_dev_duplicates(examples, &dev);
    let before_opinion = examples.len();
    if config.drop_opinion_spam {
        examples.retain(|e| !is_opinion_spam(e));
    }
    let removed_opinion = before_opinion - examples.len();
    let span_rows = if config.offensive_span_rows {
        offensive_span_rows(&examples)
    } else {
        Vec::new()
    };
    let added_span_rows = span_rows.len();
    let remainder_rows = if config.span_remainder_rows {
        span_remainder_rows(&examples)
    } else {
        Vec::new()
    };
    let added_remainder_rows = remainder_rows.len();
    examples.extend(span_rows);
    examples.extend(remainder_rows);
    examples.extend(unaccented_copies(&examples, config.unaccented_copies, config.seed));
    let mut outcome = train_examples(&examples, &dev, config, progress)?;
    outcome.removed_dev_duplicates = removed;
    outcome.removed_opinion_spam = removed_opinion;
    outcome.offensive_span_rows = added_span_rows;
    outcome.span_remainder_rows = added_remainder_rows;
    Ok(outcome)
}

/// ViSpamReviews labels as spam kinds of product review that are not spam under a news
/// article: fake reviews (its spam type 1: generic over-praise, "Chất lượng sản phẩm tuyệt
/// vời"), reviews of the shop or the delivery only (type 2, which its SOURCE.md advises
/// leaving out for comment moderation), and, among its "irrelevant content" (type 3),
/// reviews too short to count ("Ngon quá", "Hợp lí", "very good": under
/// [`SHORT_REVIEW_CHARS`]) or padded with a stretched word to reach the length a shop
/// rewards ("ủng hộ shop nhaaaaaa": a letter typed three times or more in a row). Learned
/// as spam, they taught the spam head that praise, short comments and stretching are spam,
/// so "Tuyệt vờiiiii" was rejected. Longer keyboard mash and text ads stay spam.
pub fn is_opinion_spam(example: &Example) -> bool {
    if example.source != "vispamreviews" || example.label != Label::Spam {
        return false;
    }
    match example.spam_type.as_deref() {
        Some("1" | "2") => true,
        Some("3") => has_stretched_letter(&example.text) || example.text.chars().count() < SHORT_REVIEW_CHARS,
        _ => false,
    }
}

/// Type-3 ViSpamReviews rows shorter than this (in characters) are short reviews, not spam.
pub const SHORT_REVIEW_CHARS: usize = 30;

/// A letter typed three times or more in a row, in any case ("quáaaa", "OKKK").
fn has_stretched_letter(text: &str) -> bool {
    let mut previous = None;
    let mut run = 0;
    for c in text.chars().flat_map(char::to_lowercase) {
        if c.is_alphabetic() && previous == Some(c) {
            run += 1;
            if run >= 3 {
                return true;
            }
        } else {
            run = 1;
        }
        previous = Some(c);
    }
    false
}

/// The key under which two texts count as the same comment: lowercased, whitespace
/// collapsed (the key the datasets were de-duplicated with).
pub fn duplicate_key(text: &str) -> String {
    text.split_whitespace()
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The offensive spans of each abusive row that marks them, joined into a row of their
/// own with the row's label. A span row keeps its original's id, hence its fold, so no
/// out-of-fold score sees the spans of the row it scores. Made from the rows left after
/// the dev duplicates are removed, so no span of a dev comment is learned.
pub fn offensive_span_rows(examples: &[Example]) -> Vec<Example> {
    examples
        .iter()
        .filter(|e| e.origin == RowOrigin::Read && e.label.task() == Task::Abuse && e.label.is_positive())
        .filter(|e| !e.offensive_spans.is_empty())
        .map(|e| Example {
            text: e.offensive_spans.join(", "),
            origin: RowOrigin::OffensiveSpans,
            offensive_spans: Vec::new(),
            ..e.clone()
        })
        .collect()
}

/// Fewest words a span remainder must keep to be learned as a comment's clean part.
const MIN_REMAINDER_WORDS: usize = 3;

/// What is left of each abusive row with marked spans once every span is cut out, as a
/// clean row (same id, hence fold, as its original). The spans say which words made the
/// comment abusive, so the rest shows the text layers words that did not.
pub fn span_remainder_rows(examples: &[Example]) -> Vec<Example> {
    examples
        .iter()
        .filter(|e| e.origin == RowOrigin::Read && e.label.task() == Task::Abuse && e.label.is_positive())
        .filter(|e| !e.offensive_spans.is_empty())
        .filter_map(|e| {
            let mut rest = e.text.clone();
            // Longest first, so a span inside a longer one does not leave half of it.
            let mut spans: Vec<&String> = e.offensive_spans.iter().filter(|s| !s.trim().is_empty()).collect();
            spans.sort_by_key(|s| std::cmp::Reverse(s.chars().count()));
            for span in spans {
                rest = rest.replace(span.as_str(), " ");
            }
            let words: Vec<&str> = rest.split_whitespace().collect();
            (words.len() >= MIN_REMAINDER_WORDS).then(|| Example {
                text: words.join(" "),
                label: Label::Clean,
                origin: RowOrigin::SpanRemainder,
                offensive_spans: Vec::new(),
                ..e.clone()
            })
        })
        .collect()
}

/// Unaccented copies of a share of the Vietnamese training rows. Many readers type without
/// tone marks (and the model should not lean on them for evidence they also carry
/// without), so a fraction of the rows that have Vietnamese letters is added again with
/// its diacritics removed. A copy keeps its original's id, hence its fold, so the
/// out-of-fold scores never see a copy of the row they score.
pub fn unaccented_copies(examples: &[Example], share: f64, seed: u64) -> Vec<Example> {
    if share <= 0.0 {
        return Vec::new();
    }
    let cutoff = (share.min(1.0) * u32::MAX as f64) as u64;
    examples
        .iter()
        .filter(|e| e.text.chars().any(crate::text::fold::is_vietnamese_letter))
        .filter(|e| (xxh3_64(e.id.as_bytes()) ^ seed) & 0xffff_ffff <= cutoff)
        .map(|e| Example {
            text: e.text.chars().filter_map(crate::text::fold::strip_diacritics).collect(),
            // A copy of an excerpt is still an excerpt: no combiner or threshold may
            // learn from it as if it were a comment.
            origin: if e.origin.is_excerpt() {
                e.origin
            } else {
                RowOrigin::UnaccentedCopy
            },
            ..e.clone()
        })
        .collect()
}

/// Removes training rows whose text is also a dev row's text. The public datasets overlap
/// (ViHOS annotates ViHSD's comments: 91% of ViHOS dev is in ViHSD train), so without this
/// the dev metrics measure memory, not generalisation, and tuning on them misleads.
pub fn remove_dev_duplicates(examples: Vec<Example>, dev: &[DevSet]) -> (Vec<Example>, usize) {
    let dev_keys: HashSet<String> = dev
        .iter()
        .flat_map(|d| d.examples.iter().map(|e| duplicate_key(&e.text)))
        .collect();
    let before = examples.len();
    let kept: Vec<Example> = examples
        .into_iter()
        .filter(|e| !dev_keys.contains(&duplicate_key(&e.text)))
        .collect();
    let removed = before - kept.len();
    (kept, removed)
}

pub fn train_examples(
    examples: &[Example],
    dev: &[DevSet],
    config: &TrainConfig,
    progress: &dyn Progress,
) -> Result<TrainOutcome, TrainError> {
    // Checked before the minutes of training, not when the combiners are fitted.
    for head in HeadKind::ALL {
        ignored_signals(head, &config.head(head).combiner_ignores)?;
    }
    let spec = &config.spec;
    let dims = spec.buckets();

    progress.stage("reading text", examples.len() as u64);
    let raw = featurize_all(examples, spec, progress);
    let idf_codes = inverse_document_frequency(&raw, dims);
    let featurized = Featurized {
        raw,
        idf: idf_codes.iter().map(|&q| super::model::idf_units(q)).collect(),
    };

    // Texts some source labels for a head's task: a negative source's copy of such a
    // text is left out, so the labelled row decides.
    let labelled_texts = |head: HeadKind| -> HashSet<String> {
        if config.head(head).negative_sources.is_empty() {
            return HashSet::new();
        }
        examples
            .iter()
            .filter(|e| head_target(head, e.label).is_some())
            .map(|e| duplicate_key(&e.text))
            .collect()
    };
    let labelled: Vec<HashSet<String>> = HeadKind::ALL.iter().map(|&h| labelled_texts(h)).collect();
    let target = |head: HeadKind, e: &Example| -> Option<bool> {
        head_target(head, e.label).or_else(|| {
            (config.head(head).negative_sources.contains(&e.source)
                && !labelled[head.index()].contains(&duplicate_key(&e.text)))
            .then_some(false)
        })
    };
    let head_rows = |head: HeadKind| -> Vec<(usize, bool)> {
        examples
            .iter()
            .enumerate()
            .filter(|(_, e)| e.origin != RowOrigin::UnaccentedCopy || config.head(head).unaccented_copies)
            .filter_map(|(i, e)| target(head, e).map(|y| (i, y, e)))
            .flat_map(|(i, y, e)| {
                let repeat = config
                    .head(head)
                    .source_weights
                    .get(&e.source)
                    .copied()
                    .unwrap_or(1)
                    .max(1);
                std::iter::repeat_n((i, y), repeat as usize)
            })
            .collect()
    };
    let balanced_rows = |head: HeadKind| -> Vec<(usize, bool)> {
        let rows = head_rows(head);
        let max = config.head(head).length_balance_max;
        if max <= 1 {
            return rows;
        }
        let copies = length_balance(&rows, examples, max);
        rows.into_iter()
            .flat_map(|(i, y)| {
                let e = &examples[i];
                let n = if y {
                    1
                } else {
                    copies
                        .get(&(e.source.clone(), length_band(&e.text)))
                        .copied()
                        .unwrap_or(1)
                };
                std::iter::repeat_n((i, y), n as usize)
            })
            .collect()
    };
    let selections: Vec<(HeadKind, Vec<(usize, bool)>)> =
        HeadKind::ALL.iter().map(|&h| (h, balanced_rows(h))).collect();
    let mut negative_rows = Vec::new();
    for head in HeadKind::ALL {
        let sources = &config.head(head).negative_sources;
        if sources.is_empty() {
            continue;
        }
        let rows = head_rows(head);
        for source in sources {
            let learned = rows
                .iter()
                .filter(|&&(i, _)| {
                    let e = &examples[i];
                    e.source == *source && e.origin == RowOrigin::Read && head_target(head, e.label).is_none()
                })
                .count();
            negative_rows.push((head, source.clone(), learned));
        }
    }
    // Repeated negatives lower every probability the combiner learns; shifting its
    // intercept back by the log of how many more negatives it saw keeps the probabilities
    // calibrated to the data as it is (so 0.5 still means "more likely than not").
    let prior_shift = |head: HeadKind, rows: &[(usize, bool)]| -> f32 {
        let negatives = |rows: &[(usize, bool)]| rows.iter().filter(|(_, y)| !y).count().max(1) as f64;
        (negatives(rows) / negatives(&head_rows(head))).ln() as f32
    };
    for (head, rows) in &selections {
        if rows.is_empty() {
            return Err(TrainError::NoRows(head.as_str(), head_requirement(*head)));
        }
    }
    let epochs_total: u64 = selections
        .iter()
        .map(|(h, _)| {
            config
                .params(*h)
                .iter()
                .map(|p| p.steps() * (config.folds + 1))
                .sum::<usize>() as u64
        })
        .sum();
    progress.stage("training heads", epochs_total);

    let problems: Vec<TextProblem> = selections
        .iter()
        .map(|(head, rows)| TextProblem::new(*head, rows, examples, &featurized, config))
        .collect();
    let fitted = train_text_layers(
        &problems,
        config.folds.max(2),
        config.naive_bayes.as_ref(),
        dims,
        progress,
    );
    drop(problems);
    let members: Vec<(HeadKind, Vec<FittedMember>)> = selections.iter().map(|(h, _)| *h).zip(fitted).collect();

    progress.stage("fitting combiners", 3);
    // The heads' combiners are independent (the abuse head's takes longest, about half
    // of this stage), so each gets a thread; results keep the heads' order.
    let fit_head = |head: HeadKind, fitted: Vec<FittedMember>, rows: &[(usize, bool)]| -> Result<_, TrainError> {
        let head_config = config.head(head);
        let ignored = ignored_signals(head, &head_config.combiner_ignores)?;
        let on_balanced_rows = head_config.combiner_on_balanced_rows || head_config.length_balance_max <= 1;
        // The combiner calibrates probabilities of comments, so it learns from comments
        // only: span rows are words picked out of one, all of them abusive.
        let learned: Vec<(usize, bool)> = if on_balanced_rows {
            rows.to_vec()
        } else {
            head_rows(head)
        }
        .into_iter()
        .filter(|&(i, _)| !examples[i].origin.is_excerpt())
        .collect();
        let oofs: Vec<Vec<f32>> = fitted.iter().map(|(_, oof)| reorder_oof(rows, oof, &learned)).collect();
        let oofs: Vec<&[f32]> = oofs.iter().map(Vec::as_slice).collect();
        let (member_weights, mut combiner) = fit_combiner(
            head,
            &learned,
            &oofs,
            &featurized.raw.meta,
            &ignored,
            config.combiner_alpha,
        )?;
        if on_balanced_rows {
            combiner.intercept += prior_shift(head, rows);
        }
        let typical = mean_signals(&learned, &featurized.raw.meta);
        let (model, oof) = merge_members(&fitted, &member_weights, config.prune_below);
        let file = HeadFile {
            kind: head,
            group_scales: head_config.group_scales,
            text_bias: model.bias,
            text_weights: QuantizedWeights::quantize(&model.weights),
            combiner,
            thresholds: Thresholds { flag: 0.5, reject: 0.9 },
        };
        progress.advance(1);
        Ok((file, typical, (head, model, oof)))
    };
    let fitted_heads: Vec<Result<_, TrainError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = members
            .into_iter()
            .zip(&selections)
            .map(|((head, fitted), (_, rows))| scope.spawn(move || fit_head(head, fitted, rows)))
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().expect("fitting a combiner does not panic"))
            .collect()
    });
    let mut heads = Vec::new();
    let mut typical_signals = Vec::new();
    let mut trained: Vec<(HeadKind, LinearModel, Vec<f32>)> = Vec::new();
    for fitted in fitted_heads {
        let (file, typical, model) = fitted?;
        typical_signals.push((file.kind, typical));
        heads.push(file);
        trained.push(model);
    }

    progress.stage("naming strong features", examples.len() as u64);
    let dictionary = build_dictionary(examples, spec, &trained, config.dictionary_per_head, progress);

    let mut model = ModelFile {
        version: config.version.clone(),
        spec: spec.clone(),
        idf: idf_codes,
        heads,
        training: summarize(examples),
        training_params: serde_json::to_string(config).expect("config serializes"),
        dev_metrics: Vec::new(),
        dictionary,
        appendix: ModelAppendix { typical_signals },
    };

    progress.stage("scoring dev sets", dev.iter().map(|d| d.examples.len() as u64).sum());
    let classifier = Classifier::from_file(model.clone())?;
    let dev_scores: Vec<Vec<Scores>> = dev
        .iter()
        .map(|set| {
            let scores = in_parallel_chunks(&set.examples, |part| {
                part.iter().map(|e| classifier.score(&e.text)).collect()
            });
            progress.advance(set.examples.len() as u64);
            scores
        })
        .collect();

    // Thresholds are chosen on out-of-fold scores of the training rows, never on dev, so
    // the dev metrics stay an honest estimate of unseen data.
    let combiners: Vec<Combiner> = model.heads.iter().map(|h| h.combiner.clone()).collect();
    let (oof_sets, oof_scores) = out_of_fold_sets(
        examples,
        &featurized,
        &selections,
        &trained,
        &combiners,
        config.hate.group_scales,
    );
    let mut reject_set_by = Vec::new();
    for head in [HeadKind::Spam, HeadKind::Abuse] {
        let groups = dev_groups(head, &oof_sets, &oof_scores, |s| match head {
            HeadKind::Spam => s.spam,
            _ => s.abuse,
        });
        let (thresholds, limit) = choose_thresholds(&groups, config.flag_threshold, config.reject_precision);
        model.heads[head.index()].thresholds = thresholds;
        if let Some(limit) = limit {
            reject_set_by.push((head, limit));
        }
    }
    let abuse_flag = model.heads[HeadKind::Abuse.index()].thresholds.flag;
    let hate_flag = choose_hate_flag(&oof_sets, &oof_scores, abuse_flag);
    // A comment the hate head rejects is rightly rejected when it is abusive at all
    // (offensive or hate), so its reject threshold follows the same rule as the others,
    // with the abuse task's labels as the truth.
    let groups = dev_groups(HeadKind::Abuse, &oof_sets, &oof_scores, |s| s.hate);
    let (thresholds, limit) = choose_thresholds(&groups, Some(hate_flag), config.reject_precision);
    model.heads[HeadKind::Hate.index()].thresholds = thresholds;
    if let Some(limit) = limit {
        reject_set_by.push((HeadKind::Hate, limit));
    }

    let classifier = Classifier::from_file(model.clone())?;
    model.dev_metrics = dev
        .iter()
        .zip(&dev_scores)
        .map(|(set, scores)| dev_metrics(&classifier, set, scores))
        .collect();
    let classifier = Classifier::from_file(model.clone())?;
    Ok(TrainOutcome {
        model,
        classifier,
        removed_dev_duplicates: 0,
        removed_opinion_spam: 0,
        offensive_span_rows: 0,
        span_remainder_rows: 0,
        negative_rows,
        reject_set_by,
    })
}

/// Training rows grouped by source, with out-of-fold scores: each row scored by text
/// layers that did not see it. The hate head only trains on offensive and hate rows, so
/// for every other row its full model is already out-of-sample.
fn out_of_fold_sets(
    examples: &[Example],
    featurized: &Featurized,
    selections: &[(HeadKind, Vec<(usize, bool)>)],
    trained: &[(HeadKind, LinearModel, Vec<f32>)],
    combiners: &[Combiner],
    hate_scales: [f32; 3],
) -> (Vec<DevSet>, Vec<Vec<Scores>>) {
    let mut probability = vec![[None::<f32>; 3]; examples.len()];
    for ((head, _, oof), (_, rows)) in trained.iter().zip(selections) {
        let combiner = &combiners[head.index()];
        for (&(i, _), &logit) in rows.iter().zip(oof) {
            probability[i][head.index()] = Some(combine(combiner, logit, featurized.meta(i)));
        }
    }
    let hate_model = &trained[HeadKind::Hate.index()].1;
    let mut by_source: BTreeMap<&str, (Vec<Example>, Vec<Scores>)> = BTreeMap::new();
    for (i, example) in examples.iter().enumerate() {
        // Thresholds are chosen for comments; a span row is words picked out of one.
        if example.origin.is_excerpt() {
            continue;
        }
        let [spam, abuse, hate] = probability[i];
        let hate = hate.unwrap_or_else(|| {
            let logit = featurized.logit(hate_model, i, &hate_scales);
            combine(&combiners[HeadKind::Hate.index()], logit, featurized.meta(i))
        });
        let scores = Scores {
            spam: spam.unwrap_or(0.0),
            abuse: abuse.unwrap_or(0.0),
            hate,
        };
        let entry = by_source.entry(&example.source).or_default();
        entry.0.push(example.clone());
        entry.1.push(scores);
    }
    by_source
        .into_iter()
        .map(|(source, (examples, scores))| {
            (
                DevSet {
                    source: source.to_string(),
                    examples,
                },
                scores,
            )
        })
        .unzip()
}

fn head_requirement(head: HeadKind) -> &'static str {
    match head {
        HeadKind::Spam => "rows labelled ham or spam",
        HeadKind::Abuse => "rows labelled clean, offensive, hate or toxic",
        HeadKind::Hate => "rows labelled hate and rows labelled clean or offensive",
    }
}

/// Which rows a head learns from, and their target.
pub fn head_target(head: HeadKind, label: Label) -> Option<bool> {
    match head {
        HeadKind::Spam => (label.task() == Task::Spam).then_some(label == Label::Spam),
        HeadKind::Abuse => (label.task() == Task::Abuse).then(|| label.is_positive()),
        HeadKind::Hate => match label {
            Label::Hate => Some(true),
            Label::Offensive | Label::Clean => Some(false),
            _ => None,
        },
    }
}

struct RawFeatures {
    indices: Vec<FeatureIndices>,
    meta: Vec<[f32; META_SIGNALS]>,
}

fn featurize_all(examples: &[Example], spec: &FeatureSpec, progress: &dyn Progress) -> RawFeatures {
    let featurized = in_parallel_chunks(examples, |part| {
        let mut analysis = TextAnalysis::default();
        let mut out = Vec::with_capacity(part.len());
        for (k, example) in part.iter().enumerate() {
            analysis.analyze(&example.text);
            let mut features = FeatureIndices::default();
            extract(&analysis, spec, &mut features);
            out.push((features, meta_signals(analysis.counts())));
            if k % 1024 == 1023 {
                progress.advance(1024);
            }
        }
        out
    });
    let (indices, meta) = featurized.into_iter().unzip();
    RawFeatures { indices, meta }
}

/// Runs `work` on one contiguous share of `items` per core, each in its own thread, and
/// joins the results in order: the same output as one call on all of `items`, sooner.
fn in_parallel_chunks<T: Sync, R: Send>(items: &[T], work: impl Fn(&[T]) -> Vec<R> + Sync) -> Vec<R> {
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get()).clamp(1, 8);
    let chunk = items.len().div_ceil(workers).max(1);
    std::thread::scope(|scope| {
        let work = &work;
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| scope.spawn(move || work(part)))
            .collect();
        handles
            .into_iter()
            .flat_map(|handle| handle.join().expect("a worker does not panic"))
            .collect()
    })
}

/// Smoothed idf as scikit-learn computes it: ln((1 + n) / (1 + df)) + 1, quantized.
fn inverse_document_frequency(raw: &RawFeatures, dims: usize) -> Vec<u8> {
    let mut df = vec![0u32; dims];
    let mut seen: Vec<u32> = Vec::new();
    for features in &raw.indices {
        seen.clear();
        seen.extend(features.groups.iter().flatten());
        seen.sort_unstable();
        seen.dedup();
        for &b in &seen {
            df[b as usize] += 1;
        }
    }
    let n = raw.indices.len() as f64;
    df.iter()
        .map(|&d| {
            let idf = ((1.0 + n) / (1.0 + d as f64)).ln() + 1.0;
            ((idf - 1.0) * IDF_STEPS).round().clamp(0.0, u8::MAX as f64) as u8
        })
        .collect()
}

fn fold_of(example: &Example, folds: usize, seed: u64) -> usize {
    (xxh3_64(example.id.as_bytes()) ^ seed) as usize % folds
}

/// One head's text-layer problem: its rows (numbered 0..rows.len() in the order of its
/// selection) under its group scales, their labels and folds.
struct TextProblem<'a> {
    local: SparseRows,
    labels: Vec<bool>,
    fold: Vec<usize>,
    /// Copies of a row (source weights, length balance) sit next to each other; every
    /// copy names its first one, so the batch optimizer sees a run of one index and
    /// computes the row once, times the run's length.
    canonical: Vec<usize>,
    members: &'a [TextOptimizer],
    seed: u64,
}

impl<'a> TextProblem<'a> {
    fn new(
        head: HeadKind,
        rows: &[(usize, bool)],
        examples: &[Example],
        featurized: &Featurized,
        config: &'a TrainConfig,
    ) -> Self {
        let ids: Vec<usize> = rows.iter().map(|r| r.0).collect();
        let folds = config.folds.max(2);
        let mut canonical: Vec<usize> = Vec::with_capacity(rows.len());
        for (j, &(i, _)) in rows.iter().enumerate() {
            let first = match j.checked_sub(1) {
                Some(previous) if rows[previous].0 == i => canonical[previous],
                _ => j,
            };
            canonical.push(first);
        }
        Self {
            local: featurized.rows(&ids, &config.head(head).group_scales),
            labels: rows.iter().map(|r| r.1).collect(),
            fold: rows
                .iter()
                .map(|&(i, _)| fold_of(&examples[i], folds, config.seed))
                .collect(),
            canonical,
            members: config.params(head),
            seed: config.seed ^ (head.index() as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15),
        }
    }

    /// The rows a fit learns from: all but fold `k`, or all of them.
    fn training_rows(&self, held_out: Option<usize>) -> Vec<usize> {
        (0..self.labels.len())
            .filter(|&j| Some(self.fold[j]) != held_out)
            .map(|j| self.canonical[j])
            .collect()
    }

    fn member_seed(&self, member: usize) -> u64 {
        self.seed ^ (member as u64) << 32
    }
}

/// One optimizer run: member `member` of problem `problem`, without fold `held_out` (for
/// out-of-fold logits) or on every row (`None`: the model kept).
#[derive(Clone, Copy)]
struct TextFit {
    problem: usize,
    member: usize,
    held_out: Option<usize>,
}

/// Fits every head's text layers; returns, per problem, each member's model fitted on all
/// rows and the out-of-fold logit of every row (in the problem's row order).
///
/// The fits are independent, so they go to one pool of workers, largest first, rather
/// than one thread per head: the abuse head has twice the members of the others and
/// used to finish alone on one core while the other idled. Each fit's result depends on
/// its rows and seed only, never on which worker ran it or when.
fn train_text_layers(
    problems: &[TextProblem],
    folds: usize,
    naive_bayes: Option<&NaiveBayesScaling>,
    dims: usize,
    progress: &dyn Progress,
) -> Vec<Vec<FittedMember>> {
    let mut fits: Vec<TextFit> = Vec::new();
    for (problem, p) in problems.iter().enumerate() {
        for member in 0..p.members.len() {
            for held_out in (0..folds).map(Some).chain([None]) {
                fits.push(TextFit {
                    problem,
                    member,
                    held_out,
                });
            }
        }
    }
    // A rough cost (non-zeros times passes) is enough to start the long fits first. It
    // must count what each optimizer reads: L-BFGS computes a run of copies once per
    // pass, FTRL visits every copy (and one of its epochs costs about four L-BFGS
    // passes). Counting the spam head's copies made its fits look twice their size, and
    // the abuse head's final fit, the longest, started late and ran alone at the end.
    let cost = |fit: &TextFit| -> usize {
        let p = &problems[fit.problem];
        let rows = (0..p.labels.len()).filter(|&j| Some(p.fold[j]) != fit.held_out);
        let row_non_zeros = |j: usize| p.local.row(j).0.len();
        match &p.members[fit.member] {
            TextOptimizer::Lbfgs(params) => {
                rows.filter(|&j| p.canonical[j] == j).map(row_non_zeros).sum::<usize>() * params.max_iterations
            }
            TextOptimizer::Ftrl(params) => rows.map(row_non_zeros).sum::<usize>() * params.epochs * 4,
        }
    };
    fits.sort_by_cached_key(|fit| std::cmp::Reverse(cost(fit)));
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<LinearModel>>> = Mutex::new(vec![None; fits.len()]);
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(fits.len());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    let Some(fit) = fits.get(index) else { break };
                    let p = &problems[fit.problem];
                    let seed = p.member_seed(fit.member) ^ fit.held_out.map_or(0, |k| k as u64);
                    let model = fit_text(
                        &p.members[fit.member],
                        naive_bayes,
                        &p.local,
                        &p.labels,
                        &p.training_rows(fit.held_out),
                        dims,
                        seed,
                        progress,
                    );
                    results.lock().expect("no panics while holding")[index] = Some(model);
                }
            });
        }
    });
    let mut results: Vec<Option<LinearModel>> = results.into_inner().expect("no panics while holding");
    let mut take = |problem: usize, member: usize, held_out: Option<usize>| -> LinearModel {
        let index = fits
            .iter()
            .position(|f| f.problem == problem && f.member == member && f.held_out == held_out)
            .expect("every fit was listed");
        results[index].take().expect("every fit ran")
    };
    problems
        .iter()
        .enumerate()
        .map(|(problem, p)| {
            (0..p.members.len())
                .map(|member| {
                    let mut oof = vec![0f32; p.labels.len()];
                    for k in 0..folds {
                        let model = take(problem, member, Some(k));
                        for (j, &f) in p.fold.iter().enumerate() {
                            if f == k {
                                let (indices, values) = p.local.row(j);
                                oof[j] = model.logit(indices, values);
                            }
                        }
                    }
                    (take(problem, member, None), oof)
                })
                .collect()
        })
        .collect()
}

/// Naive-Bayes feature scaling (Wang & Manning, "Baselines and Bigrams", ACL 2012): each
/// feature is multiplied by the magnitude of its log-count ratio between the classes
/// before the regression is fitted, so the penalty is lighter on features that the
/// counts already call discriminative. The scale folds into the weights afterwards, so
/// scoring does not change at all.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NaiveBayesScaling {
    /// Additive smoothing of the per-class feature totals.
    pub smoothing: f64,
    /// Smallest scale, so no feature is switched off entirely.
    pub floor: f64,
}

#[allow(clippy::too_many_arguments)]
fn fit_text(
    params: &TextOptimizer,
    naive_bayes: Option<&NaiveBayesScaling>,
    rows: &SparseRows,
    labels: &[bool],
    subset: &[usize],
    dims: usize,
    seed: u64,
    progress: &dyn Progress,
) -> LinearModel {
    let Some(nb) = naive_bayes else {
        return params.fit(rows, labels, subset, dims, seed, |_| progress.advance(1));
    };
    let mut positive = vec![nb.smoothing; dims];
    let mut negative = vec![nb.smoothing; dims];
    for &r in subset {
        let totals = if labels[r] { &mut positive } else { &mut negative };
        let (indices, values) = rows.row(r);
        for (&i, &v) in indices.iter().zip(values) {
            totals[i as usize] += v as f64;
        }
    }
    let p_sum: f64 = positive.iter().sum();
    let n_sum: f64 = negative.iter().sum();
    let scale: Vec<f32> = positive
        .iter()
        .zip(&negative)
        .map(|(p, n)| ((p / p_sum) / (n / n_sum)).ln().abs().max(nb.floor) as f32)
        .collect();
    let mut scaled = SparseRows::new();
    let mut scaled_labels = Vec::with_capacity(subset.len());
    for &r in subset {
        let (indices, values) = rows.row(r);
        scaled.push_row(indices.iter().zip(values).map(|(&i, &v)| (i, v * scale[i as usize])));
        scaled_labels.push(labels[r]);
    }
    let all: Vec<usize> = (0..subset.len()).collect();
    let mut model = params.fit(&scaled, &scaled_labels, &all, dims, seed, |_| progress.advance(1));
    for (w, s) in model.weights.iter_mut().zip(&scale) {
        *w *= s;
    }
    model
}

/// The out-of-fold logits of `from`'s rows, in `to`'s order. Every row of `to` is in
/// `from` (which only repeats rows), and a row's copies share their out-of-fold logit.
fn reorder_oof(from: &[(usize, bool)], oof: &[f32], to: &[(usize, bool)]) -> Vec<f32> {
    let by_row: HashMap<usize, f32> = from.iter().zip(oof).map(|(&(i, _), &logit)| (i, logit)).collect();
    to.iter().map(|(i, _)| by_row[i]).collect()
}

/// Positions in [`META_SIGNAL_NAMES`] of the signals a head's combiner leaves out.
fn ignored_signals(head: HeadKind, names: &[String]) -> Result<Vec<usize>, TrainError> {
    names
        .iter()
        .map(|name| {
            META_SIGNAL_NAMES
                .iter()
                .position(|known| known == name)
                .ok_or_else(|| TrainError::UnknownSignal {
                    head: head.as_str(),
                    name: name.clone(),
                })
        })
        .collect()
}

/// Fits a head's combiner with linfa-logistic on the members' out-of-fold logits and the
/// meta signals. Returns the weight of each member and the combiner as stored, whose
/// text coefficient is 1 because the member weights are folded into the merged text layer.
fn fit_combiner(
    head: HeadKind,
    rows: &[(usize, bool)],
    oofs: &[&[f32]],
    meta: &[[f32; META_SIGNALS]],
    ignored: &[usize],
    alpha: f64,
) -> Result<(Vec<f32>, Combiner), TrainError> {
    let members = oofs.len();
    let mut x = Array2::<f64>::zeros((rows.len(), members + META_SIGNALS));
    for (r, &(i, _)) in rows.iter().enumerate() {
        for (m, oof) in oofs.iter().enumerate() {
            x[(r, m)] = oof[r] as f64;
        }
        // An ignored signal stays an all-zero column: the L2 penalty then holds its
        // weight at exactly zero, and the stored layout does not change.
        for (k, &value) in meta[i].iter().enumerate() {
            if !ignored.contains(&k) {
                x[(r, members + k)] = value as f64;
            }
        }
    }
    let y: Array1<bool> = rows.iter().map(|&(_, y)| y).collect();
    let dataset = Dataset::new(x, y);
    let fitted = LogisticRegression::default()
        .alpha(alpha)
        .max_iterations(300)
        .fit(&dataset)
        .map_err(|e| TrainError::Combiner {
            head: head.as_str(),
            message: e.to_string(),
        })?;
    // linfa reports probabilities of its "positive" class, which is whichever label is
    // more frequent; flip the sign when that is `false`.
    let sign = if fitted.labels().pos.class { 1.0 } else { -1.0 };
    let coefficients: Vec<f32> = fitted.params().iter().map(|&c| (sign * c) as f32).collect();
    let mut stored = vec![1.0f32];
    stored.extend_from_slice(&coefficients[members..]);
    for &k in ignored {
        stored[1 + k] = 0.0;
    }
    Ok((
        coefficients[..members].to_vec(),
        Combiner {
            intercept: (sign * fitted.intercept()) as f32,
            coefficients: stored,
        },
    ))
}

/// The mean of each meta signal over a combiner's rows: where explanations measure a
/// signal's push from.
fn mean_signals(rows: &[(usize, bool)], meta: &[[f32; META_SIGNALS]]) -> Vec<f32> {
    let mut sums = [0f64; META_SIGNALS];
    for &(i, _) in rows {
        for (sum, &value) in sums.iter_mut().zip(&meta[i]) {
            *sum += value as f64;
        }
    }
    let n = rows.len().max(1) as f64;
    sums.iter().map(|sum| (sum / n) as f32).collect()
}

/// The weighted sum of the members' text layers (and of their out-of-fold logits), with
/// weights smaller than `prune_below` dropped.
fn merge_members(members: &[(LinearModel, Vec<f32>)], weights: &[f32], prune_below: f32) -> (LinearModel, Vec<f32>) {
    let dims = members[0].0.weights.len();
    let mut merged = LinearModel {
        bias: 0.0,
        weights: vec![0.0; dims],
    };
    let mut oof = vec![0.0f32; members[0].1.len()];
    for ((model, member_oof), &c) in members.iter().zip(weights) {
        merged.bias += c * model.bias;
        for (w, m) in merged.weights.iter_mut().zip(&model.weights) {
            *w += c * m;
        }
        for (o, m) in oof.iter_mut().zip(member_oof) {
            *o += c * m;
        }
    }
    for w in &mut merged.weights {
        if w.abs() < prune_below {
            *w = 0.0;
        }
    }
    (merged, oof)
}

fn combine(combiner: &Combiner, text_logit: f32, meta: &[f32; META_SIGNALS]) -> f32 {
    let mut z = combiner.intercept + combiner.coefficients[0] * text_logit;
    for (c, m) in combiner.coefficients[1..].iter().zip(meta) {
        z += c * m;
    }
    super::scorer::sigmoid(z)
}

/// Per set with rows of `task`: (source, the `score` of each such row, its truth for `task`).
fn dev_groups(
    task: HeadKind,
    dev: &[DevSet],
    scores: &[Vec<Scores>],
    score: impl Fn(&Scores) -> f32,
) -> Vec<(String, Vec<f32>, Vec<bool>)> {
    dev.iter()
        .zip(scores)
        .filter_map(|(set, scores)| {
            let mut p = Vec::new();
            let mut t = Vec::new();
            for (e, s) in set.examples.iter().zip(scores) {
                if let Some(y) = head_target(task, e.label) {
                    p.push(score(s));
                    t.push(y);
                }
            }
            (!p.is_empty()).then(|| (set.source.clone(), p, t))
        })
        .collect()
}

const THRESHOLD_GRID: std::ops::RangeInclusive<u32> = 2..=98;

/// A source's precision at a threshold counts for the reject threshold only when the source
/// flags at least this many rows there: fewer say little about it.
const REJECT_EVIDENCE_ROWS: usize = 20;

/// Flag: `fixed_flag`, or else the threshold with the best mean F1 across the sources
/// (each dataset counts the same, whatever its size). Reject: the lowest threshold at or
/// above the flag at which every source that flags [`REJECT_EVIDENCE_ROWS`] rows or more
/// is right at least `reject_precision` of the time (0.99 when no threshold qualifies).
///
/// Every source, not the pool: a pooled precision is the precision of the largest and
/// most clear-cut sources. With Davidson's tweets (83% offensive) in the abuse pool, the
/// pooled rule put the abuse reject at 0.64, where a Vietnamese news site's clean
/// comments (ViCTSD) were rejected about one time in three and ViHSD's one in five.
/// A site's comments look like one source, not like the pool. Also says which source the
/// reject threshold waited for, if one did.
fn choose_thresholds(
    groups: &[(String, Vec<f32>, Vec<bool>)],
    fixed_flag: Option<f32>,
    reject_precision: f64,
) -> (Thresholds, Option<RejectLimit>) {
    let mut best = (f64::MIN, 0.5f32);
    for step in THRESHOLD_GRID.filter(|_| fixed_flag.is_none()) {
        let t = step as f32 / 100.0;
        let mean_f1 = groups.iter().map(|(_, p, y)| binary_metrics(p, y, t).f1).sum::<f64>() / groups.len() as f64;
        if mean_f1 > best.0 + 1e-9 {
            best = (mean_f1, t);
        }
    }
    let flag = fixed_flag.unwrap_or(best.1);
    let mut reject = None;
    let mut last_imprecise: Option<&str> = None;
    for step in THRESHOLD_GRID {
        let t = step as f32 / 100.0;
        if t < flag {
            continue;
        }
        let mut counted = 0;
        let imprecise = groups.iter().find(|(_, p, y)| {
            let flagged = p.iter().filter(|&&p| p >= t).count();
            if flagged < REJECT_EVIDENCE_ROWS {
                return false;
            }
            counted += 1;
            binary_metrics(p, y, t).precision < reject_precision
        });
        match imprecise {
            Some((source, _, _)) => last_imprecise = Some(source),
            None if counted > 0 => {
                reject = Some(t);
                break;
            }
            None => {}
        }
    }
    let limit = match (reject, last_imprecise) {
        (Some(_), Some(source)) => Some(RejectLimit::ReachedBy(source.to_string())),
        (None, Some(source)) => Some(RejectLimit::NeverReachedBy(source.to_string())),
        (_, None) => None,
    };
    let thresholds = Thresholds {
        flag,
        reject: reject.unwrap_or(0.99).max(flag),
    };
    (thresholds, limit)
}

/// The three-class prediction: hate at or above the hate flag, else offensive at or above
/// the abuse flag, else clean.
pub fn three_class(scores: &Scores, abuse_flag: f32, hate_flag: f32) -> u8 {
    if scores.hate >= hate_flag {
        2
    } else if scores.abuse < abuse_flag {
        0
    } else {
        1
    }
}

fn label_class(label: Label) -> Option<u8> {
    match label {
        Label::Clean => Some(0),
        Label::Offensive => Some(1),
        Label::Hate => Some(2),
        _ => None,
    }
}

/// True when a dev set separates offensive from hate (so 3-class macro-F1 is defined).
pub fn has_three_classes(examples: &[Example]) -> bool {
    examples.iter().any(|e| e.label == Label::Offensive) && examples.iter().any(|e| e.label == Label::Hate)
}

/// How far below the best out-of-fold macro-F1 a hate flag threshold may score and still
/// be chosen. The curve is flat around its top (0.15 to 0.27 within 0.003 for
/// `vi-en-2026.12.08d`), so its argmax wanders with each retraining; within this margin
/// the highest threshold, which holds the fewest comments as hate, is taken.
const HATE_FLAG_TOLERANCE: f64 = 0.002;

fn choose_hate_flag(dev: &[DevSet], scores: &[Vec<Scores>], abuse_flag: f32) -> f32 {
    let sets: Vec<(&DevSet, &Vec<Scores>)> = dev
        .iter()
        .zip(scores)
        .filter(|(set, _)| has_three_classes(&set.examples))
        .collect();
    if sets.is_empty() {
        return 0.5;
    }
    let curve: Vec<(f32, f64)> = THRESHOLD_GRID
        .map(|step| {
            let t = step as f32 / 100.0;
            let mean = sets
                .iter()
                .map(|(set, scores)| {
                    let (predicted, truth): (Vec<u8>, Vec<u8>) = set
                        .examples
                        .iter()
                        .zip(scores.iter())
                        .filter_map(|(e, s)| label_class(e.label).map(|c| (three_class(s, abuse_flag, t), c)))
                        .unzip();
                    macro_f1(&predicted, &truth)
                })
                .sum::<f64>()
                / sets.len() as f64;
            (t, mean)
        })
        .collect();
    highest_near_best(&curve, HATE_FLAG_TOLERANCE)
}

/// The highest threshold of `curve` (threshold, score) whose score is within `tolerance`
/// of the best.
fn highest_near_best(curve: &[(f32, f64)], tolerance: f64) -> f32 {
    let best = curve.iter().map(|&(_, score)| score).fold(f64::MIN, f64::max);
    curve
        .iter()
        .filter(|&&(_, score)| score >= best - tolerance)
        .map(|&(t, _)| t)
        .fold(f32::MIN, f32::max)
}

/// Metrics of one labelled set, using the model's own thresholds.
pub fn evaluate_set(
    classifier: &Classifier,
    examples: &[Example],
    scores: &[Scores],
) -> (Task, BinaryMetrics, Option<f64>) {
    let task = if examples.iter().all(|e| e.label.task() == Task::Spam) {
        Task::Spam
    } else {
        Task::Abuse
    };
    let head = if task == Task::Spam {
        HeadKind::Spam
    } else {
        HeadKind::Abuse
    };
    let (p, t): (Vec<f32>, Vec<bool>) = examples
        .iter()
        .zip(scores)
        .filter(|(e, _)| e.label.task() == task)
        .map(|(e, s)| (if task == Task::Spam { s.spam } else { s.abuse }, e.label.is_positive()))
        .unzip();
    let metrics = binary_metrics(&p, &t, classifier.thresholds(head).flag);
    let macro_f1_3class = has_three_classes(examples).then(|| {
        let abuse_flag = classifier.thresholds(HeadKind::Abuse).flag;
        let hate_flag = classifier.thresholds(HeadKind::Hate).flag;
        let (predicted, truth): (Vec<u8>, Vec<u8>) = examples
            .iter()
            .zip(scores)
            .filter_map(|(e, s)| label_class(e.label).map(|c| (three_class(s, abuse_flag, hate_flag), c)))
            .unzip();
        macro_f1(&predicted, &truth)
    });
    (task, metrics, macro_f1_3class)
}

fn dev_metrics(classifier: &Classifier, set: &DevSet, scores: &[Scores]) -> DevMetrics {
    let (task, m, macro_f1_3class) = evaluate_set(classifier, &set.examples, scores);
    DevMetrics {
        source: set.source.clone(),
        task: task.as_str().to_string(),
        n: m.n,
        auc: m.auc.unwrap_or(f64::NAN),
        f1: m.f1,
        precision: m.precision,
        recall: m.recall,
        macro_f1_3class,
    }
}

fn summarize(examples: &[Example]) -> Vec<DatasetSummary> {
    let mut by_source: BTreeMap<(&str, RowOrigin), BTreeMap<&'static str, usize>> = BTreeMap::new();
    for e in examples {
        *by_source
            .entry((&e.source, e.origin))
            .or_default()
            .entry(e.label.as_str())
            .or_default() += 1;
    }
    by_source
        .into_iter()
        .map(|((source, origin), labels)| DatasetSummary {
            source: source.to_string(),
            split: origin.split_name().to_string(),
            rows: labels.values().sum(),
            labels: labels.into_iter().map(|(l, n)| (l.to_string(), n)).collect(),
        })
        .collect()
}

/// Names the strongest buckets of each head with the n-gram that most often lands there.
fn build_dictionary(
    examples: &[Example],
    spec: &FeatureSpec,
    trained: &[(HeadKind, LinearModel, Vec<f32>)],
    per_head: usize,
    progress: &dyn Progress,
) -> Vec<(HeadKind, u32, String, f32)> {
    let mut wanted: HashSet<u32> = HashSet::new();
    let mut strongest: Vec<(HeadKind, Vec<(u32, f32)>)> = Vec::new();
    for (head, model, _) in trained {
        let mut ranked: Vec<(u32, f32)> = model
            .weights
            .iter()
            .enumerate()
            .filter(|(_, w)| **w != 0.0)
            .map(|(i, &w)| (i as u32, w))
            .collect();
        ranked.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()).then(a.0.cmp(&b.0)));
        ranked.truncate(per_head);
        wanted.extend(ranked.iter().map(|r| r.0));
        strongest.push((*head, ranked));
    }
    // Every fourth row is plenty to name features strong enough to matter, at a quarter
    // of the cost (names are built as strings).
    let sample: Vec<&Example> = examples.iter().step_by(4).collect();
    let counted = in_parallel_chunks(&sample, |part| {
        let mut counts: HashMap<u32, HashMap<String, u32>> = HashMap::new();
        let mut analysis = TextAnalysis::default();
        let mut named = NamedFeatures::default();
        for (k, example) in part.iter().enumerate() {
            analysis.analyze(&example.text);
            named.0.clear();
            extract(&analysis, spec, &mut named);
            for f in named.0.drain(..) {
                if wanted.contains(&f.bucket) {
                    *counts.entry(f.bucket).or_default().entry(f.name).or_default() += 1;
                }
            }
            if k % 256 == 255 {
                progress.advance(1024);
            }
        }
        vec![counts]
    });
    let mut counts: HashMap<u32, HashMap<String, u32>> = HashMap::new();
    for part in counted {
        for (bucket, names) in part {
            let merged = counts.entry(bucket).or_default();
            for (name, n) in names {
                *merged.entry(name).or_default() += n;
            }
        }
    }
    let mut dictionary = Vec::new();
    for (head, ranked) in strongest {
        for (bucket, weight) in ranked {
            if let Some(names) = counts.get(&bucket) {
                // Most frequent name; ties broken alphabetically so runs are repeatable.
                let name = names
                    .iter()
                    .max_by(|a, b| a.1.cmp(b.1).then_with(|| b.0.cmp(a.0)))
                    .map(|(n, _)| n.clone());
                if let Some(name) = name {
                    dictionary.push((head, bucket, name, weight));
                }
            }
        }
    }
    dictionary
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` rows scored `score`, all with label `y`.
    fn rows(n: usize, score: f32, y: bool) -> (Vec<f32>, Vec<bool>) {
        (vec![score; n], vec![y; n])
    }

    fn source(name: &str, parts: &[(Vec<f32>, Vec<bool>)]) -> (String, Vec<f32>, Vec<bool>) {
        let p = parts.iter().flat_map(|(p, _)| p.iter().copied()).collect();
        let y = parts.iter().flat_map(|(_, y)| y.iter().copied()).collect();
        (name.to_string(), p, y)
    }

    #[test]
    fn the_hate_flag_is_the_highest_threshold_near_the_best() {
        let curve = [
            (0.10, 0.60),
            (0.17, 0.6642),
            (0.20, 0.6613),
            (0.25, 0.6630),
            (0.30, 0.6544),
        ];
        assert_eq!(highest_near_best(&curve, 0.002), 0.25);
        assert_eq!(highest_near_best(&curve, 0.0), 0.17, "no tolerance: the argmax");
        assert_eq!(highest_near_best(&[(0.5, 0.0)], 0.002), 0.5);
    }

    #[test]
    fn reject_threshold_must_be_precise_on_every_source_not_just_the_pool() {
        // A large clear-cut source and a small one whose clean rows score up to 0.7.
        let large = source("large", &[rows(1000, 0.8, true), rows(1000, 0.1, false)]);
        let small = source(
            "small",
            &[rows(50, 0.9, true), rows(30, 0.7, false), rows(20, 0.2, false)],
        );
        // Pooled, 0.5 would already be 1,050 right of 1,080 (97%); the small source
        // alone is right 62% of the time until its clean rows fall below the threshold.
        let (t, limit) = choose_thresholds(&[large.clone(), small], Some(0.5), 0.95);
        assert_eq!(t.flag, 0.5);
        assert_eq!(t.reject, 0.71);
        assert_eq!(limit, Some(RejectLimit::ReachedBy("small".to_string())));

        // A source that flags fewer than REJECT_EVIDENCE_ROWS rows does not hold it up.
        let sparse = source("sparse", &[rows(10, 0.96, false), rows(90, 0.1, false)]);
        let (t, limit) = choose_thresholds(&[large.clone(), sparse], Some(0.5), 0.95);
        assert_eq!(t.reject, 0.5);
        assert_eq!(limit, None);

        // No threshold on the grid is precise enough: the head almost never rejects.
        let hopeless = source("hopeless", &[rows(30, 0.995, true), rows(30, 0.995, false)]);
        let (t, limit) = choose_thresholds(&[large, hopeless], Some(0.5), 0.95);
        assert_eq!(t.reject, 0.99);
        assert_eq!(limit, Some(RejectLimit::NeverReachedBy("hopeless".to_string())));
    }

    fn review(text: &str, label: Label, spam_type: Option<&str>) -> Example {
        Example {
            id: text.to_string(),
            text: text.to_string(),
            label,
            source: "vispamreviews".to_string(),
            origin: RowOrigin::Read,
            offensive_spans: Vec::new(),
            spam_type: spam_type.map(str::to_string),
        }
    }

    fn row(source: &str, chars: usize, label: Label) -> Example {
        Example {
            id: format!("{source}-{chars}-{label:?}"),
            text: "a".repeat(chars),
            label,
            source: source.to_string(),
            origin: RowOrigin::Read,
            offensive_spans: Vec::new(),
            spam_type: None,
        }
    }

    /// A ViHOS-style row: `spans` are the words its annotators marked as offensive.
    fn marked(id: &str, text: &str, label: Label, spans: &[&str]) -> Example {
        Example {
            id: id.to_string(),
            text: text.to_string(),
            label,
            source: "vihos".to_string(),
            origin: RowOrigin::Read,
            offensive_spans: spans.iter().map(|s| s.to_string()).collect(),
            spam_type: None,
        }
    }

    #[test]
    fn span_rows_are_the_marked_words_of_abusive_rows_only() {
        let examples = vec![
            marked(
                "a",
                "thấy chán, nói chung là dốt còn nát",
                Label::Toxic,
                &["chán", "dốt", "nát"],
            ),
            marked("b", "bài viết hay", Label::Clean, &[]),
            marked("c", "toxic but unmarked", Label::Toxic, &[]),
            // A clean row never yields a span row, whatever its meta says.
            marked("d", "con chó nhà tôi", Label::Clean, &["chó"]),
            Example {
                origin: RowOrigin::UnaccentedCopy,
                ..marked("a", "thay chan, noi chung la dot con nat", Label::Toxic, &["chan"])
            },
        ];
        let rows = offensive_span_rows(&examples);
        assert_eq!(rows.len(), 1);
        let row = &rows[0];
        assert_eq!(row.text, "chán, dốt, nát");
        assert_eq!(row.label, Label::Toxic);
        // Same id, so the same fold as the comment it comes from.
        assert_eq!(row.id, "a");
        assert_eq!(row.origin, RowOrigin::OffensiveSpans);
        assert!(row.offensive_spans.is_empty());
    }

    #[test]
    fn span_remainders_are_the_clean_rest_of_abusive_rows_with_marked_words() {
        let examples = vec![
            // "thằng ngu" holds "ngu": cut longest first, no stray "thằng" is left.
            marked(
                "a",
                "bài này viết về giá xăng tăng mạnh thằng ngu tuần này",
                Label::Offensive,
                &["ngu", "thằng ngu"],
            ),
            // Too little is left to be a comment's clean part.
            marked("b", "đồ ngu như bò", Label::Offensive, &["đồ ngu", "bò"]),
            marked("c", "toxic but unmarked and long enough to keep", Label::Toxic, &[]),
            marked(
                "d",
                "con chó nhà tôi rất ngoan và rất hiền lành",
                Label::Clean,
                &["chó"],
            ),
            Example {
                origin: RowOrigin::UnaccentedCopy,
                ..marked(
                    "a",
                    "bai nay viet ve gia xang tang manh thang ngu tuan nay",
                    Label::Offensive,
                    &["ngu"],
                )
            },
        ];
        let rows = span_remainder_rows(&examples);
        assert_eq!(rows.len(), 1, "{rows:?}");
        let row = &rows[0];
        assert_eq!(row.text, "bài này viết về giá xăng tăng mạnh tuần này");
        assert_eq!(row.label, Label::Clean);
        assert_eq!(row.id, "a");
        assert_eq!(row.origin, RowOrigin::SpanRemainder);
        assert!(row.origin.is_excerpt());
        assert!(row.offensive_spans.is_empty());
    }

    #[test]
    fn unaccented_copies_of_excerpts_stay_excerpts() {
        let comment = marked("a", "nói chung là dốt còn nát", Label::Toxic, &["dốt", "nát"]);
        let examples = vec![
            comment.clone(),
            Example {
                text: "dốt, nát".to_string(),
                origin: RowOrigin::OffensiveSpans,
                offensive_spans: Vec::new(),
                ..comment.clone()
            },
            Example {
                text: "nói chung là còn".to_string(),
                label: Label::Clean,
                origin: RowOrigin::SpanRemainder,
                offensive_spans: Vec::new(),
                ..comment
            },
        ];
        let copies = unaccented_copies(&examples, 1.0, 7);
        let origins: Vec<(&str, RowOrigin)> = copies.iter().map(|c| (c.text.as_str(), c.origin)).collect();
        assert_eq!(
            origins,
            vec![
                ("noi chung la dot con nat", RowOrigin::UnaccentedCopy),
                ("dot, nat", RowOrigin::OffensiveSpans),
                ("noi chung la con", RowOrigin::SpanRemainder),
            ]
        );
    }

    #[test]
    fn hate_rejections_are_judged_against_the_abuse_labels() {
        // The hate head's reject threshold is chosen on hate scores with the abuse task's
        // truth: an offensive or toxic row rejected for hate is still rightly rejected,
        // and rows of the spam task do not count at all.
        let set = DevSet {
            source: "mixed".to_string(),
            examples: vec![
                row("mixed", 10, Label::Clean),
                row("mixed", 11, Label::Offensive),
                row("mixed", 12, Label::Hate),
                row("mixed", 13, Label::Toxic),
                row("mixed", 14, Label::Spam),
            ],
        };
        let scores: Vec<Scores> = (0..5)
            .map(|i| Scores {
                spam: 0.9,
                abuse: 0.1 * i as f32,
                hate: 0.5 + 0.1 * i as f32,
            })
            .collect();
        let groups = dev_groups(
            HeadKind::Abuse,
            std::slice::from_ref(&set),
            std::slice::from_ref(&scores),
            |s| s.hate,
        );
        assert_eq!(groups.len(), 1);
        let (source, p, y) = &groups[0];
        assert_eq!(source, "mixed");
        assert_eq!(p, &vec![0.5, 0.6, 0.7, 0.8]);
        assert_eq!(y, &vec![false, true, true, true]);
        let spam = dev_groups(
            HeadKind::Spam,
            std::slice::from_ref(&set),
            std::slice::from_ref(&scores),
            |s| s.spam,
        );
        assert_eq!((spam[0].1.len(), spam[0].2.clone()), (1, vec![true]));
    }

    #[test]
    fn length_balance_repeats_the_negatives_of_bands_where_positives_crowd() {
        // One source, 25% spam overall; short texts are mostly ham, long ones mostly spam.
        let mut examples = Vec::new();
        let mut add = |n: usize, chars: usize, label: Label| {
            examples.extend((0..n).map(|_| row("comments", chars, label)));
        };
        add(600, 30, Label::Ham);
        add(100, 30, Label::Spam);
        add(60, 500, Label::Ham);
        add(120, 500, Label::Spam);
        // Too few ham rows in this band to repeat (they would be learned by heart).
        add(40, 900, Label::Ham);
        add(120, 900, Label::Spam);
        let rows: Vec<(usize, bool)> = examples
            .iter()
            .enumerate()
            .map(|(i, e)| (i, e.label == Label::Spam))
            .collect();
        let copies = length_balance(&rows, &examples, 8);
        // 120 spam at the source's 700:340 ham to spam wants about 247 ham: 60 x 4.
        assert_eq!(
            copies.get(&("comments".to_string(), length_band(&"a".repeat(500)))),
            Some(&4)
        );
        assert_eq!(
            copies.len(),
            1,
            "short texts are left alone, the sparse band too: {copies:?}"
        );
        assert_eq!(
            length_balance(&rows, &examples, 2).get(&("comments".to_string(), 4)),
            Some(&2),
            "capped at max"
        );
        assert!(length_balance(&rows, &examples, 1).is_empty(), "max 1 is off");
    }

    #[test]
    fn opinion_spam_is_fake_shop_only_and_padded_reviews_labelled_spam() {
        // Fake praise, and shop or delivery only: not spam under an article.
        assert!(is_opinion_spam(&review(
            "Chất lượng sản phẩm tuyệt vời",
            Label::Spam,
            Some("1")
        )));
        assert!(is_opinion_spam(&review(
            "Giao hàng nhanh, đóng gói kĩ",
            Label::Spam,
            Some("2")
        )));
        // Padded with a stretched word, in either case.
        assert!(is_opinion_spam(&review(
            "sẽ ủng hộ shop típ nhaaaaaa",
            Label::Spam,
            Some("3")
        )));
        assert!(is_opinion_spam(&review("Xịn OKKK", Label::Spam, Some("3"))));
        // Too short to be a review: "irrelevant" to a shop, a fine comment under an article.
        assert!(is_opinion_spam(&review("Ngon quá", Label::Spam, Some("3"))));
        assert!(!is_opinion_spam(&review(
            "Hdjdjfkfjfjfjfjfjfjfjfjfjfjfjfjfjf",
            Label::Spam,
            Some("3")
        )));
        // Irrelevant content without a stretched word, and ham: kept.
        assert!(!is_opinion_spam(&review(
            "Soạn tin DK gửi 9029 nhận quà tặng hấp dẫn",
            Label::Spam,
            Some("3")
        )));
        assert!(!is_opinion_spam(&review(
            "vay tiền nhanh không thế chấp, ib mình",
            Label::Spam,
            Some("3")
        )));
        assert!(!is_opinion_spam(&review("tốttttt lắm", Label::Ham, Some("0"))));
        // Two letters, or a repeated digit or mark, are not a stretched word.
        assert!(!is_opinion_spam(&review(
            "ngon!!! 1000đ ok, đặt hàng qua web nhé",
            Label::Spam,
            Some("3")
        )));
        // Other datasets' spam types mean other things.
        let mut other = review("Giao hàng nhanh", Label::Spam, Some("2"));
        other.source = "vi_comment_spam".to_string();
        assert!(!is_opinion_spam(&other));
    }

    #[test]
    fn partial_params_keep_the_other_defaults() {
        let config: TrainConfig =
            serde_json::from_str(r#"{"hate": {"group_scales": [2.0, 1.0, 0.5], "source_weights": {"vihsd": 2}}}"#)
                .unwrap();
        let defaults = TrainConfig::default();
        assert_eq!(config.hate.group_scales, [2.0, 1.0, 0.5]);
        assert_eq!(config.hate.source_weights.get("vihsd"), Some(&2));
        // The head itself starts from HeadConfig's defaults.
        assert!(config.hate.unaccented_copies);
        assert_eq!(config.hate.members.len(), 1);
        // Everything not named keeps TrainConfig's defaults, not the types' zero values.
        assert_eq!(config.prune_below, defaults.prune_below);
        assert_eq!(config.flag_threshold, defaults.flag_threshold);
        assert!(config.drop_opinion_spam);
        assert_eq!(config.spam.source_weights, defaults.spam.source_weights);
        assert_eq!(config.abuse.members.len(), defaults.abuse.members.len());
        let round_trip: TrainConfig = serde_json::from_str(&serde_json::to_string(&defaults).unwrap()).unwrap();
        assert_eq!(round_trip.spec, defaults.spec);
        assert_eq!(round_trip.reject_precision, defaults.reject_precision);
    }

    #[test]
    fn combiner_ignores_only_known_signals() {
        assert_eq!(
            ignored_signals(HeadKind::Spam, &["log_length".into(), "caps_ratio".into()]).unwrap(),
            vec![0, 5]
        );
        let message = ignored_signals(HeadKind::Spam, &["length".into()])
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("\"length\"") && message.contains("log_length"),
            "{message}"
        );
    }

    #[test]
    fn an_ignored_signal_gets_no_weight_and_the_others_keep_theirs() {
        // Rows where both the text logit and caps_ratio predict the label.
        let mut meta = Vec::new();
        let mut rows = Vec::new();
        let mut oof = Vec::new();
        for i in 0..200 {
            let y = i % 2 == 0;
            let mut m = [0.0f32; META_SIGNALS];
            m[0] = if y { 0.9 } else { 0.1 };
            m[5] = if y { 0.8 } else { 0.2 } + (i % 7) as f32 * 0.01;
            meta.push(m);
            rows.push((i, y));
            oof.push(if y { 1.0 } else { -1.0 } + ((i % 5) as f32 - 2.0) * 0.6);
        }
        let (_, kept) = fit_combiner(HeadKind::Spam, &rows, &[&oof], &meta, &[], 1.0).unwrap();
        let (_, ignoring) = fit_combiner(HeadKind::Spam, &rows, &[&oof], &meta, &[0], 1.0).unwrap();
        assert!(kept.coefficients[1] > 0.1, "{:?}", kept.coefficients);
        assert_eq!(ignoring.coefficients[1], 0.0);
        assert!(ignoring.coefficients[6] > 0.0, "{:?}", ignoring.coefficients);
    }

    #[test]
    fn out_of_fold_logits_follow_their_rows_into_the_unrepeated_order() {
        let balanced = [(3, false), (3, false), (1, true), (2, false), (2, false), (2, false)];
        let oof = [0.3, 0.3, 1.1, -0.5, -0.5, -0.5];
        assert_eq!(
            reorder_oof(&balanced, &oof, &[(1, true), (2, false), (3, false)]),
            vec![1.1, -0.5, 0.3]
        );
    }
}
