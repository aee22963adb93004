//! `modgate eval`: replays a labelled file through exactly the scoring code that serves.

use std::io::{self, Write};
use std::path::Path;
use std::time::Instant;

use serde::Serialize;

use super::data::{Example, read_jsonl};
use super::metrics::percentile;
use super::scorer::{Classifier, Scores};
use super::train::{TrainError, evaluate_set};

/// The result of `modgate eval --json`: one object, keys as documented in the README.
#[derive(Clone, Debug, Serialize)]
pub struct EvalReport {
    pub n: usize,
    pub task: &'static str,
    pub auc: Option<f64>,
    pub f1: f64,
    pub precision: f64,
    pub recall: f64,
    pub macro_f1_3class: Option<f64>,
    /// Time to score one comment (normalize, hash, all heads), median and 99th percentile.
    pub scoring_us_p50: f64,
    pub scoring_us_p99: f64,
}

/// A labelled file replayed through the classifier: the report, and every row's scores
/// for those who want to see which comments it got wrong.
pub struct Evaluation {
    pub report: EvalReport,
    examples: Vec<Example>,
    scores: Vec<Scores>,
}

/// One line of `modgate eval --scores`.
#[derive(Serialize)]
struct RowScores<'a> {
    id: &'a str,
    label: &'static str,
    spam: f32,
    abuse: f32,
    hate: f32,
}

impl Evaluation {
    /// One JSON object per row, in the file's order: its id (the row's own, else
    /// "file:line"), its label and the three heads' probabilities.
    pub fn write_scores(&self, mut out: impl Write) -> io::Result<()> {
        for (example, scores) in self.examples.iter().zip(&self.scores) {
            let row = RowScores {
                id: &example.id,
                label: example.label.as_str(),
                spam: scores.spam,
                abuse: scores.abuse,
                hate: scores.hate,
            };
            serde_json::to_writer(&mut out, &row)?;
            out.write_all(b"\n")?;
        }
        out.flush()
    }
}

pub fn evaluate_file(classifier: &Classifier, path: &Path) -> Result<Evaluation, TrainError> {
    let examples = read_jsonl(path)?;
    if examples.is_empty() {
        return Err(TrainError::NoRows("evaluated", "at least one labelled row"));
    }
    // Warm the caches and the thread-local buffers so the first rows are not outliers.
    for e in examples.iter().take(50) {
        std::hint::black_box(classifier.score(&e.text));
    }
    let mut timings = Vec::with_capacity(examples.len());
    let mut scores = Vec::with_capacity(examples.len());
    for e in &examples {
        let start = Instant::now();
        let s = classifier.score(&e.text);
        timings.push(start.elapsed().as_secs_f64() * 1e6);
        scores.push(s);
    }
    let (task, metrics, macro_f1_3class) = evaluate_set(classifier, &examples, &scores);
    let report = EvalReport {
        n: metrics.n,
        task: task.as_str(),
        auc: metrics.auc,
        f1: metrics.f1,
        precision: metrics.precision,
        recall: metrics.recall,
        macro_f1_3class,
        scoring_us_p50: percentile(&mut timings, 0.5),
        scoring_us_p99: percentile(&mut timings, 0.99),
    };
    Ok(Evaluation {
        report,
        examples,
        scores,
    })
}
