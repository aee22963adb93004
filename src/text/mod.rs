//! Text normalization and feature hashing: pure functions, no I/O.
//!
//! [`TextAnalysis`] turns a comment into tokens in two views (toned: folded with
//! Vietnamese tone marks kept; plain: no diacritics, teencode expanded) and a compact
//! letters-only view; [`extract`] hashes them into sparse feature indices, and
//! [`meta_signals`] gives the dense signals (links, phones, ratios) the combiners use.

mod analyze;
mod english;
mod features;
pub mod fold;
mod masked;
mod teencode;

pub use analyze::{NORMALIZER_VERSION, TextAnalysis, TextCounts, Token, TokenKind};
pub use features::{
    FeatureGroup, FeatureIndices, FeatureOrigin, FeatureSink, FeatureSpec, META_SIGNAL_NAMES, META_SIGNALS,
    NamedFeature, NamedFeatures, extract, meta_signals,
};
