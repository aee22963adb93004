//! The classifier: model format, scoring, explanation, training and evaluation.
//!
//! Each head (spam, abuse, hate against clean or offensive) is a sparse logistic text layer over hashed
//! n-grams ([`sparse`]) followed by a small linfa-logistic combiner over the text logit
//! and the dense meta signals ([`train`]). [`Classifier`] is the loaded, immutable,
//! thread-shareable model; [`ClassifierHandle`] swaps it at run time.

pub mod data;
pub mod eval;
pub mod feedback;
pub mod metrics;
pub mod model;
pub mod scorer;
pub mod shipped;
pub mod sparse;
mod table;
pub mod train;

pub use model::{HeadKind, ModelError, ModelFile, Thresholds};
pub use scorer::{Classifier, ClassifierHandle, Explanation, Scores, SuggestedAction};
