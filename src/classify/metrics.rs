//! Evaluation metrics, computed with linfa (ROC/AUC and confusion matrices).

use linfa::dataset::Pr;
use linfa::prelude::{BinaryClassification, ToConfusionMatrix};
use ndarray::Array1;
use serde::Serialize;

#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct BinaryMetrics {
    pub n: usize,
    /// Area under the ROC curve; `None` when only one class is present.
    pub auc: Option<f64>,
    pub f1: f64,
    pub precision: f64,
    pub recall: f64,
}

/// Metrics of `probabilities` against `truth`, positive when `p >= threshold`.
pub fn binary_metrics(probabilities: &[f32], truth: &[bool], threshold: f32) -> BinaryMetrics {
    assert_eq!(probabilities.len(), truth.len());
    let n = truth.len();
    let positives = truth.iter().filter(|&&t| t).count();
    let auc = if positives == 0 || positives == n {
        None
    } else {
        let scores: Vec<Pr> = probabilities
            .iter()
            .map(|&p| Pr::new_unchecked(p.clamp(0.0, 1.0)))
            .collect();
        scores
            .as_slice()
            .roc(truth)
            .ok()
            .map(|roc| roc.area_under_curve() as f64)
    };
    let predicted: Array1<bool> = probabilities.iter().map(|&p| p >= threshold).collect();
    let (precision, recall, f1) = precision_recall_f1(&predicted, truth);
    BinaryMetrics {
        n,
        auc,
        f1,
        precision,
        recall,
    }
}

fn precision_recall_f1(predicted: &Array1<bool>, truth: &[bool]) -> (f64, f64, f64) {
    let truth = Array1::from(truth.to_vec());
    let both_classes_seen =
        predicted.iter().chain(truth.iter()).any(|&v| v) && predicted.iter().chain(truth.iter()).any(|&v| !v);
    if !both_classes_seen {
        // One class everywhere: linfa's matrix degenerates to 1x1. Nothing predicted
        // positive and nothing positive is a perfect but empty result; report zeros as
        // scikit-learn does with zero_division=0.
        let all_positive = truth.iter().all(|&t| t);
        return if all_positive { (1.0, 1.0, 1.0) } else { (0.0, 0.0, 0.0) };
    }
    // linfa 0.8 fills `matrix[(row of the receiver, column of the argument)]` and computes
    // precision down the first column, so the receiver must be the ground truth for
    // precision to mean TP / (TP + FP). (Its docs describe the opposite layout.)
    let matrix = truth.confusion_matrix(predicted).expect("same length");
    let zero_if_nan = |v: f32| if v.is_nan() { 0.0 } else { v as f64 };
    (
        zero_if_nan(matrix.precision()),
        zero_if_nan(matrix.recall()),
        zero_if_nan(matrix.f1_score()),
    )
}

/// Macro-averaged F1 over the classes present in `truth` (mean of per-class F1, as
/// scikit-learn's `f1_score(average="macro")`).
pub fn macro_f1(predicted: &[u8], truth: &[u8]) -> f64 {
    let mut classes: Vec<u8> = truth.to_vec();
    classes.sort_unstable();
    classes.dedup();
    if classes.is_empty() {
        return 0.0;
    }
    let total: f64 = classes
        .iter()
        .map(|&class| {
            let p: Array1<bool> = predicted.iter().map(|&c| c == class).collect();
            let t: Vec<bool> = truth.iter().map(|&c| c == class).collect();
            precision_recall_f1(&p, &t).2
        })
        .sum();
    total / classes.len() as f64
}

/// The `q`-quantile (0..1) of `values` by nearest rank; 0 for no values.
pub fn percentile(values: &mut [f64], q: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
    values[rank - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perfect_and_inverted_rankings() {
        let truth = [false, false, true, true];
        let good = binary_metrics(&[0.1, 0.2, 0.8, 0.9], &truth, 0.5);
        assert!((good.auc.unwrap() - 1.0).abs() < 1e-6);
        assert_eq!((good.precision, good.recall, good.f1), (1.0, 1.0, 1.0));
        let bad = binary_metrics(&[0.9, 0.8, 0.2, 0.1], &truth, 0.5);
        assert!(bad.auc.unwrap() < 1e-6);
        assert_eq!(bad.f1, 0.0);
    }

    #[test]
    fn matches_hand_computed_values() {
        // Predicted positive: rows 1, 2, 3. TP = 2 (rows 2, 3), FP = 1, FN = 1 (row 4).
        let truth = [false, false, true, true, true];
        let probabilities = [0.1, 0.6, 0.7, 0.9, 0.3];
        let m = binary_metrics(&probabilities, &truth, 0.5);
        assert!((m.precision - 2.0 / 3.0).abs() < 1e-6);
        assert!((m.recall - 2.0 / 3.0).abs() < 1e-6);
        // AUC: of the 6 positive/negative pairs, the 0.3 positive loses to the 0.6 negative.
        assert!((m.auc.unwrap() - 5.0 / 6.0).abs() < 1e-6, "{:?}", m.auc);
        // Ties count half.
        let tied = binary_metrics(&[0.5, 0.5], &[false, true], 0.5);
        assert!((tied.auc.unwrap() - 0.5).abs() < 1e-6);
    }

    #[test]
    fn precision_and_recall_are_not_swapped() {
        // 4 predicted positive, 1 of them right; 2 actual positives.
        let truth = [true, false, false, false, true, false];
        let probabilities = [0.9, 0.8, 0.7, 0.6, 0.1, 0.0];
        let m = binary_metrics(&probabilities, &truth, 0.5);
        assert!((m.precision - 0.25).abs() < 1e-6, "precision {}", m.precision);
        assert!((m.recall - 0.5).abs() < 1e-6, "recall {}", m.recall);
        assert!((m.f1 - 2.0 * 0.25 * 0.5 / 0.75).abs() < 1e-6, "f1 {}", m.f1);
    }

    #[test]
    fn single_class_has_no_auc() {
        let m = binary_metrics(&[0.2, 0.9], &[true, true], 0.5);
        assert_eq!(m.auc, None);
        assert!((m.recall - 0.5).abs() < 1e-6);
    }

    #[test]
    fn macro_f1_averages_per_class_f1() {
        // Class 0 perfect; class 1 and 2 swapped once each.
        let truth = [0, 0, 1, 1, 2, 2];
        let predicted = [0, 0, 1, 2, 2, 1];
        let expected = (1.0 + 0.5 + 0.5) / 3.0;
        assert!((macro_f1(&predicted, &truth) - expected).abs() < 1e-9);
    }

    #[test]
    fn percentile_by_nearest_rank() {
        let mut v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&mut v, 0.5), 50.0);
        assert_eq!(percentile(&mut v, 0.99), 99.0);
        assert_eq!(percentile(&mut [], 0.5), 0.0);
    }
}
