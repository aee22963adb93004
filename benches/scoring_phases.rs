//! Where scoring time goes: text analysis, feature hashing and the weight lookups, timed
//! apart, per comment, at three comment lengths.
//!
//! Run: `cargo bench --bench scoring_phases`. Comments come from the dev splits in
//! ../shared/data, joined and cut to length as in `benches/scoring.rs`. Each phase runs
//! over 1,000 comments seven times and the fastest pass counts (the machine is shared, so
//! the best pass is the least disturbed one). `lookups` scores features extracted before
//! the timing; `lookups, 4k buckets` folds every bucket into the first 4,096 first, so the
//! table stays in L1/L2: the difference between the two is the cost of the table's cache
//! and TLB misses, the rest is arithmetic.

use std::time::Instant;

use modgate::classify::Classifier;
use modgate::classify::shipped::shipped_model;
use modgate::text::{FeatureIndices, TextAnalysis, extract};

mod common;
use common::{comments_of_length, dev_texts};

/// Fastest of seven passes of `pass` over `n` comments, in µs per comment.
fn best_of_seven(n: usize, mut pass: impl FnMut()) -> f64 {
    (0..7)
        .map(|_| {
            let started = Instant::now();
            pass();
            started.elapsed().as_secs_f64() * 1e6 / n as f64
        })
        .fold(f64::MAX, f64::min)
}

fn main() {
    let Some(file) = shipped_model() else {
        eprintln!("built without models/modgate.model");
        return;
    };
    let classifier = Classifier::from_file(file.expect("shipped model loads")).expect("valid model");
    let spec = classifier.file().spec.clone();
    let texts = dev_texts();
    if texts.is_empty() {
        eprintln!("../shared/data not found: this benchmark needs its dev splits");
        return;
    }
    println!("µs per comment, best of 7 passes over 1,000 dev comments");
    println!(
        "{:>6} {:>9} {:>9} {:>9} {:>11} {:>9}",
        "chars", "analysis", "hashing", "lookups", "lookups 4k", "score"
    );
    for chars in [100, 500, 2000] {
        let comments = comments_of_length(&texts, chars, 1000);
        let n = comments.len();
        let extracted: Vec<FeatureIndices> = comments
            .iter()
            .map(|c| {
                let mut features = FeatureIndices::default();
                extract(&TextAnalysis::of(c), &spec, &mut features);
                features
            })
            .collect();
        let folded: Vec<FeatureIndices> = extracted
            .iter()
            .map(|f| {
                let mut f = f.clone();
                f.groups.iter_mut().flatten().for_each(|b| *b &= 0xFFF);
                f
            })
            .collect();
        let mut analysis = TextAnalysis::default();
        let mut features = FeatureIndices::default();
        let analysis_us = best_of_seven(n, || {
            for c in &comments {
                analysis.analyze(c);
                std::hint::black_box(analysis.tokens().len());
            }
        });
        let with_hashing_us = best_of_seven(n, || {
            for c in &comments {
                analysis.analyze(c);
                features.clear();
                extract(&analysis, &spec, &mut features);
                std::hint::black_box(features.len());
            }
        });
        let lookups_us = best_of_seven(n, || {
            for f in &extracted {
                std::hint::black_box(classifier.text_logits(f));
            }
        });
        let cached_us = best_of_seven(n, || {
            for f in &folded {
                std::hint::black_box(classifier.text_logits(f));
            }
        });
        let score_us = best_of_seven(n, || {
            for c in &comments {
                std::hint::black_box(classifier.score(c));
            }
        });
        println!(
            "{chars:>6} {analysis_us:>9.1} {:>9.1} {lookups_us:>9.1} {cached_us:>11.1} {score_us:>9.1}",
            with_hashing_us - analysis_us
        );
    }
}
