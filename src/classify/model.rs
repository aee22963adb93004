//! The model file: what is saved, how it is checked when loaded.
//!
//! Layout: 8 magic bytes, the format version as a little-endian u32, then the
//! [`ModelFile`] encoded with postcard; from format 2 on, its [`ModelAppendix`] after it,
//! also postcard. A `<file>.sha256` beside it (sha256sum format) guards against truncated
//! or swapped files; it is checked on every load.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::text::{FeatureSpec, META_SIGNALS, NORMALIZER_VERSION};

pub const MODEL_MAGIC: &[u8; 8] = b"MODGATE\x1a";
/// Bumped on any change to the encoding. What a new format adds goes into the appendix
/// after the format-1 body, so models trained by earlier releases still load.
pub const MODEL_FORMAT_VERSION: u32 = 2;
/// The oldest format this build reads: format 1 is format 2 without the appendix.
pub const OLDEST_MODEL_FORMAT: u32 = 1;

/// The three questions the classifier answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HeadKind {
    /// Advertising, scams, link and phone drops. Learns the spam datasets' labels, and
    /// by default news comments from an abuse dataset as ham (`negative_sources`).
    Spam,
    /// Offensive, hateful or toxic, against clean. Trained on abuse datasets only.
    Abuse,
    /// Hate against merely offensive, among abusive comments; trained where the data
    /// separates the two.
    Hate,
}

impl HeadKind {
    pub const ALL: [HeadKind; 3] = [HeadKind::Spam, HeadKind::Abuse, HeadKind::Hate];

    pub fn as_str(self) -> &'static str {
        match self {
            HeadKind::Spam => "spam",
            HeadKind::Abuse => "abuse",
            HeadKind::Hate => "hate",
        }
    }

    pub fn index(self) -> usize {
        match self {
            HeadKind::Spam => 0,
            HeadKind::Abuse => 1,
            HeadKind::Hate => 2,
        }
    }
}

/// Text-layer weights, quantized to 12 bits (±2047 steps of one scale per head) and
/// stored sparsely (pruning leaves most buckets at zero): `(gap to previous index, value)`
/// pairs, which postcard's varints store in two to four bytes each. A step is 1/2047 of
/// the largest weight: measured, finer steps change no dev AUC in the fourth decimal but
/// make the file a third larger.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct QuantizedWeights {
    pub scale: f32,
    pub entries: Vec<(u32, i16)>,
}

const QUANTIZATION_STEPS: f32 = 2047.0;

impl QuantizedWeights {
    pub fn quantize(weights: &[f32]) -> Self {
        let max = weights.iter().fold(0f32, |m, w| m.max(w.abs()));
        let scale = if max > 0.0 { max / QUANTIZATION_STEPS } else { 1.0 };
        let mut entries = Vec::new();
        let mut last = 0u32;
        for (i, &w) in weights.iter().enumerate() {
            let q = (w / scale).round() as i16;
            if q != 0 {
                entries.push((i as u32 - last, q));
                last = i as u32;
            }
        }
        Self { scale, entries }
    }

    /// Expands into a dense vector of quantized values.
    pub fn dense(&self, dims: usize) -> Result<Vec<i16>, ModelError> {
        let mut out = vec![0i16; dims];
        let mut index = 0u64;
        for &(gap, q) in &self.entries {
            index += gap as u64;
            let slot = out
                .get_mut(index as usize)
                .ok_or(ModelError::Corrupt("weight index out of range"))?;
            *slot = q;
        }
        Ok(out)
    }
}

/// Per-head calibrated combiner, fitted by linfa-logistic on out-of-fold text logits and
/// the meta signals: `p = sigmoid(intercept + coef[0] * text_logit + coef[1..] . meta)`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Combiner {
    pub intercept: f32,
    pub coefficients: Vec<f32>,
}

impl Combiner {
    pub fn inputs() -> usize {
        1 + META_SIGNALS
    }
}

/// Probability cut-offs for one head.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    /// At or above: the comment is flagged (held for review by the default policy). By
    /// default 0.5 for spam and abuse (the combiners are calibrated); the hate head's gives
    /// the best three-class macro-F1 on out-of-fold scores, the highest within 0.002 of it
    /// (`train::choose_hate_flag`).
    pub flag: f32,
    /// At or above: confident enough to reject outright: the lowest at which every training
    /// source's out-of-fold rejections reach the configured precision (`train::choose_thresholds`).
    pub reject: f32,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HeadFile {
    pub kind: HeadKind,
    /// Scale of each feature group (words, surface, compact) for this head.
    pub group_scales: [f32; 3],
    pub text_bias: f32,
    pub text_weights: QuantizedWeights,
    pub combiner: Combiner,
    pub thresholds: Thresholds,
}

/// Rows per dataset and label that a model learned from.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct DatasetSummary {
    pub source: String,
    pub split: String,
    pub rows: usize,
    pub labels: Vec<(String, usize)>,
}

/// Metrics of one dev split, measured with the shipped (quantized) weights.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct DevMetrics {
    pub source: String,
    pub task: String,
    pub n: usize,
    pub auc: f64,
    pub f1: f64,
    pub precision: f64,
    pub recall: f64,
    pub macro_f1_3class: Option<f64>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ModelFile {
    /// Human-readable version, reported in every moderation decision.
    pub version: String,
    pub spec: FeatureSpec,
    /// Inverse document frequency per bucket in steps of 1/20 above 1: idf = 1 + q / 20.
    /// One byte per bucket; idf only ever appears in ratios, so the step (at most 5% of the
    /// smallest idf) does not change a single dev AUC in the fourth decimal.
    pub idf: Vec<u8>,
    pub heads: Vec<HeadFile>,
    pub training: Vec<DatasetSummary>,
    /// The training settings, as JSON, for the model card and reproducibility.
    pub training_params: String,
    pub dev_metrics: Vec<DevMetrics>,
    /// Names of the strongest features per head: (head, bucket, name, weight).
    pub dictionary: Vec<(HeadKind, u32, String, f32)>,
    /// Stored after the body (format 2), so it is not part of the body's encoding.
    #[serde(skip)]
    pub appendix: ModelAppendix,
}

/// What format 2 added to a model file.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct ModelAppendix {
    /// Per head, the mean of each meta signal over the comments its combiner learned
    /// from. Explanations measure a signal's push from there, so an ordinary length
    /// is no reason for a score; empty in a format-1 model, which is explained from zero.
    pub typical_signals: Vec<(HeadKind, Vec<f32>)>,
}

/// Steps per unit of idf in [`ModelFile::idf`].
pub const IDF_STEPS: f64 = 20.0;

/// The integer idf used when scoring (units of 1/[`IDF_STEPS`]); scales cancel out.
pub fn idf_units(code: u8) -> u16 {
    IDF_STEPS as u16 + code as u16
}

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("cannot read model {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a modgate model file")]
    NotAModel { path: PathBuf },
    #[error(
        "{path} has model format {found}, this modgate reads formats {OLDEST_MODEL_FORMAT} to {MODEL_FORMAT_VERSION}; retrain or upgrade"
    )]
    FormatVersion { path: PathBuf, found: u32 },
    #[error("{path} was trained with text normalizer {found}, this modgate has {NORMALIZER_VERSION}; retrain it")]
    NormalizerVersion { path: PathBuf, found: u32 },
    #[error("{path}: checksum mismatch with {checksum_path} (expected {expected}, file has {actual})")]
    Checksum {
        path: PathBuf,
        checksum_path: PathBuf,
        expected: String,
        actual: String,
    },
    #[error("{path}: missing checksum file {checksum_path}")]
    MissingChecksum { path: PathBuf, checksum_path: PathBuf },
    #[error("model is corrupt: {0}")]
    Corrupt(&'static str),
    #[error("cannot decode model {path}: {message}")]
    Decode { path: PathBuf, message: String },
}

pub fn checksum_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".sha256");
    PathBuf::from(name)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl ModelFile {
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(4 << 20);
        bytes.extend_from_slice(MODEL_MAGIC);
        bytes.extend_from_slice(&MODEL_FORMAT_VERSION.to_le_bytes());
        bytes.extend(postcard::to_allocvec(self).expect("a model always encodes"));
        bytes.extend(postcard::to_allocvec(&self.appendix).expect("an appendix always encodes"));
        bytes
    }

    /// Writes the model and its checksum file; the model is written to a temporary file
    /// and renamed, so a reader never sees half a model.
    pub fn save(&self, path: &Path) -> Result<(), ModelError> {
        let io = |source| ModelError::Io {
            path: path.to_path_buf(),
            source,
        };
        let bytes = self.to_bytes();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let tmp = path.with_extension("model.tmp");
        std::fs::write(&tmp, &bytes).map_err(io)?;
        std::fs::rename(&tmp, path).map_err(io)?;
        let digest = hex(&Sha256::digest(&bytes));
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        std::fs::write(checksum_path(path), format!("{digest}  {file_name}\n")).map_err(io)?;
        Ok(())
    }

    pub fn load(path: &Path) -> Result<Self, ModelError> {
        let bytes = std::fs::read(path).map_err(|source| ModelError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let checksum_path = checksum_path(path);
        let expected = match std::fs::read_to_string(&checksum_path) {
            Ok(text) => text.split_whitespace().next().unwrap_or("").to_ascii_lowercase(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ModelError::MissingChecksum {
                    path: path.to_path_buf(),
                    checksum_path,
                });
            }
            Err(source) => {
                return Err(ModelError::Io {
                    path: checksum_path,
                    source,
                });
            }
        };
        let actual = hex(&Sha256::digest(&bytes));
        if expected != actual {
            return Err(ModelError::Checksum {
                path: path.to_path_buf(),
                checksum_path,
                expected,
                actual,
            });
        }
        Self::from_bytes(path, &bytes)
    }

    pub fn from_bytes(path: &Path, bytes: &[u8]) -> Result<Self, ModelError> {
        if bytes.len() < 12 || &bytes[..8] != MODEL_MAGIC {
            return Err(ModelError::NotAModel {
                path: path.to_path_buf(),
            });
        }
        let found = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
        if !(OLDEST_MODEL_FORMAT..=MODEL_FORMAT_VERSION).contains(&found) {
            return Err(ModelError::FormatVersion {
                path: path.to_path_buf(),
                found,
            });
        }
        let decode = |e: postcard::Error| ModelError::Decode {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        let (mut model, rest): (ModelFile, &[u8]) = postcard::take_from_bytes(&bytes[12..]).map_err(decode)?;
        let rest = if found >= 2 {
            let (appendix, rest) = postcard::take_from_bytes(rest).map_err(decode)?;
            model.appendix = appendix;
            rest
        } else {
            rest
        };
        if !rest.is_empty() {
            return Err(ModelError::Corrupt("bytes after the end of the model"));
        }
        if model.spec.normalizer_version != NORMALIZER_VERSION {
            return Err(ModelError::NormalizerVersion {
                path: path.to_path_buf(),
                found: model.spec.normalizer_version,
            });
        }
        model.validate()?;
        Ok(model)
    }

    fn validate(&self) -> Result<(), ModelError> {
        if !(8..=24).contains(&self.spec.bits) {
            return Err(ModelError::Corrupt("feature bits out of range"));
        }
        if self.idf.len() != self.spec.buckets() {
            return Err(ModelError::Corrupt("idf table does not match the feature spec"));
        }
        for kind in HeadKind::ALL {
            let head = self
                .heads
                .iter()
                .find(|h| h.kind == kind)
                .ok_or(ModelError::Corrupt("a head is missing"))?;
            if head.combiner.coefficients.len() != Combiner::inputs() {
                return Err(ModelError::Corrupt("combiner size does not match the meta signals"));
            }
            let finite = head.text_bias.is_finite()
                && head.group_scales.iter().all(|s| s.is_finite())
                && head.text_weights.scale.is_finite()
                && head.combiner.intercept.is_finite()
                && head.combiner.coefficients.iter().all(|c| c.is_finite());
            if !finite {
                return Err(ModelError::Corrupt("non-finite parameter"));
            }
        }
        let mut seen = Vec::new();
        for (kind, typical) in &self.appendix.typical_signals {
            if seen.contains(kind) {
                return Err(ModelError::Corrupt("a head's typical signals are stored twice"));
            }
            seen.push(*kind);
            if typical.len() != META_SIGNALS || !typical.iter().all(|v| v.is_finite()) {
                return Err(ModelError::Corrupt("typical signals do not match the meta signals"));
            }
        }
        Ok(())
    }

    /// The typical meta signals of a head's comments, if the model stores them.
    pub fn typical_signals(&self, kind: HeadKind) -> Option<&[f32]> {
        self.appendix
            .typical_signals
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, typical)| typical.as_slice())
    }

    pub fn head(&self, kind: HeadKind) -> &HeadFile {
        self.heads.iter().find(|h| h.kind == kind).expect("validated on load")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantization_round_trips_within_one_step() {
        let weights = vec![0.0, 1.5, -3.0, 0.00001, 0.0, 2.25];
        let q = QuantizedWeights::quantize(&weights);
        let dense = q.dense(weights.len()).unwrap();
        for (w, q_i) in weights.iter().zip(&dense) {
            assert!((w - *q_i as f32 * q.scale).abs() <= q.scale, "{w} vs {q_i}");
        }
        // Zeros and values below half a step are not stored.
        assert_eq!(q.entries.len(), 3);
        assert!(q.dense(2).is_err(), "indices past the end are rejected");
    }

    fn shipped() -> ModelFile {
        super::super::shipped::shipped_model()
            .expect("the repository ships models/modgate.model")
            .expect("the shipped model loads")
    }

    fn format_1_bytes(model: &ModelFile) -> Vec<u8> {
        let mut bytes = MODEL_MAGIC.to_vec();
        bytes.extend_from_slice(&1u32.to_le_bytes());
        bytes.extend(postcard::to_allocvec(model).unwrap());
        bytes
    }

    #[test]
    fn the_appendix_round_trips_and_format_1_models_still_load() {
        let mut model = shipped();
        let path = Path::new("test.model");
        model.appendix.typical_signals = vec![(HeadKind::Abuse, vec![0.25; META_SIGNALS])];
        let again = ModelFile::from_bytes(path, &model.to_bytes()).unwrap();
        assert_eq!(again.appendix, model.appendix);
        assert_eq!(again.typical_signals(HeadKind::Abuse), Some(&[0.25; META_SIGNALS][..]));
        assert_eq!(again.typical_signals(HeadKind::Spam), None);

        let old = ModelFile::from_bytes(path, &format_1_bytes(&model)).unwrap();
        assert_eq!(old.appendix, ModelAppendix::default(), "format 1 has no appendix");
        assert_eq!(old.version, model.version);
        assert_eq!(old.heads.len(), 3);
    }

    #[test]
    fn trailing_bytes_bad_appendices_and_unknown_formats_are_refused() {
        let mut model = shipped();
        let path = Path::new("test.model");
        let mut bytes = model.to_bytes();
        bytes.push(0);
        assert!(matches!(
            ModelFile::from_bytes(path, &bytes),
            Err(ModelError::Corrupt(_))
        ));
        let mut old = format_1_bytes(&model);
        old.push(0);
        assert!(matches!(ModelFile::from_bytes(path, &old), Err(ModelError::Corrupt(_))));

        let mut future = model.to_bytes();
        future[8..12].copy_from_slice(&(MODEL_FORMAT_VERSION + 1).to_le_bytes());
        let error = ModelFile::from_bytes(path, &future).unwrap_err();
        assert!(matches!(error, ModelError::FormatVersion { found, .. } if found == MODEL_FORMAT_VERSION + 1));
        assert!(error.to_string().contains("reads formats 1 to 2"), "{error}");

        model.appendix.typical_signals = vec![(HeadKind::Spam, vec![0.0; META_SIGNALS - 1])];
        assert!(matches!(
            ModelFile::from_bytes(path, &model.to_bytes()),
            Err(ModelError::Corrupt(_))
        ));
        model.appendix.typical_signals = vec![(HeadKind::Spam, vec![f32::NAN; META_SIGNALS])];
        assert!(matches!(
            ModelFile::from_bytes(path, &model.to_bytes()),
            Err(ModelError::Corrupt(_))
        ));
        let twice = (HeadKind::Spam, vec![0.0; META_SIGNALS]);
        model.appendix.typical_signals = vec![twice.clone(), twice];
        assert!(matches!(
            ModelFile::from_bytes(path, &model.to_bytes()),
            Err(ModelError::Corrupt(_))
        ));
    }
}
