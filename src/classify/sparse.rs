//! The sparse text layer: a logistic regression over hashed n-gram features.
//!
//! linfa's models take dense `ndarray` input; a dense matrix of ~90,000 comments by 2^18+
//! hashed features would need tens of GiB, while each comment has only a few hundred
//! non-zero features. So this layer is our own: rows in compressed sparse row form and
//! FTRL-Proximal (McMahan et al., "Ad Click Prediction: a View from the Trenches", KDD
//! 2013), which handles L1 and L2 regularization lazily per coordinate and so only ever
//! touches a row's non-zeros. Several shuffled passes approximate the batch optimum.

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Rows of (feature index, value) pairs, stored back to back.
#[derive(Clone, Debug, Default)]
pub struct SparseRows {
    offsets: Vec<usize>,
    indices: Vec<u32>,
    values: Vec<f32>,
}

impl SparseRows {
    pub fn new() -> Self {
        Self {
            offsets: vec![0],
            indices: Vec::new(),
            values: Vec::new(),
        }
    }

    pub fn push_row(&mut self, entries: impl IntoIterator<Item = (u32, f32)>) {
        for (index, value) in entries {
            self.indices.push(index);
            self.values.push(value);
        }
        self.offsets.push(self.indices.len());
    }

    pub fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn non_zeros(&self) -> usize {
        self.indices.len()
    }

    pub fn row(&self, i: usize) -> (&[u32], &[f32]) {
        let range = self.offsets[i]..self.offsets[i + 1];
        (&self.indices[range.clone()], &self.values[range])
    }
}

/// FTRL-Proximal settings. Defaults were chosen on the dev splits (see models/MODEL_CARD.md).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FtrlParams {
    /// Learning-rate scale (the paper's alpha).
    pub alpha: f64,
    /// Learning-rate smoothing (beta).
    pub beta: f64,
    /// L1 strength: drives weak weights to exactly zero, which keeps the model small.
    pub l1: f64,
    /// L2 strength.
    pub l2: f64,
    /// Passes over the data, each in a fresh seeded order.
    pub epochs: usize,
}

impl Default for FtrlParams {
    fn default() -> Self {
        Self {
            alpha: 1.0,
            beta: 1.0,
            l1: 0.5,
            l2: 0.0,
            epochs: 6,
        }
    }
}

/// How a head's text layer is fitted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TextOptimizer {
    Ftrl(FtrlParams),
    Lbfgs(LbfgsParams),
}

impl TextOptimizer {
    /// Progress steps one fit reports (epochs or at most this many iterations).
    pub fn steps(&self) -> usize {
        match self {
            TextOptimizer::Ftrl(p) => p.epochs,
            TextOptimizer::Lbfgs(p) => p.max_iterations,
        }
    }

    pub fn fit(
        &self,
        rows: &SparseRows,
        labels: &[bool],
        subset: &[usize],
        dims: usize,
        seed: u64,
        on_step: impl FnMut(usize),
    ) -> LinearModel {
        match self {
            TextOptimizer::Ftrl(p) => train_ftrl(rows, labels, subset, dims, p, seed, on_step),
            TextOptimizer::Lbfgs(p) => train_lbfgs(rows, labels, subset, dims, p, on_step),
        }
    }
}

/// A trained text layer: bias plus one weight per feature bucket.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LinearModel {
    pub bias: f32,
    pub weights: Vec<f32>,
}

impl LinearModel {
    pub fn logit(&self, indices: &[u32], values: &[f32]) -> f32 {
        let mut z = self.bias;
        for (&i, &v) in indices.iter().zip(values) {
            z += self.weights[i as usize] * v;
        }
        z
    }
}

pub fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

/// Trains on the rows listed in `subset` (indices into `rows`), with `labels[i]` for row i.
pub fn train_ftrl(
    rows: &SparseRows,
    labels: &[bool],
    subset: &[usize],
    dims: usize,
    params: &FtrlParams,
    seed: u64,
    mut on_epoch: impl FnMut(usize),
) -> LinearModel {
    // The bias is never regularized. Each feature's z and n share a slot, hottest
    // features first ([`HotFirst`]): the same updates in the same order as with plain
    // arrays, so the same model, with half the cache misses or fewer.
    let mut problem = HotFirst::new(rows, subset, dims);
    let (mut bias_z, mut bias_n) = (0f64, 0f64);
    let mut order: Vec<usize> = subset.to_vec();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let weight = |z: f64, n: f64, regularize: bool| -> f64 {
        let (l1, l2) = if regularize { (params.l1, params.l2) } else { (0.0, 0.0) };
        if z.abs() <= l1 {
            0.0
        } else {
            -(z - z.signum() * l1) / ((params.beta + n.sqrt()) / params.alpha + l2)
        }
    };
    let mut w_row: Vec<f64> = Vec::new();
    let slots = &mut problem.slots;
    for epoch in 0..params.epochs {
        order.shuffle(&mut rng);
        for &r in &order {
            let (indices, values) = problem.rows.row(r);
            w_row.clear();
            let mut score = weight(bias_z, bias_n, false);
            let bias_weight = score;
            for (&s, &v) in indices.iter().zip(values) {
                let [z, n] = slots[s as usize];
                let w = weight(z, n, true);
                w_row.push(w);
                score += w * v as f64;
            }
            let p = sigmoid(score.clamp(-35.0, 35.0));
            let g_unit = p - if labels[r] { 1.0 } else { 0.0 };
            update(&mut bias_z, &mut bias_n, g_unit, bias_weight, params.alpha);
            for ((&s, &v), &w) in indices.iter().zip(values).zip(&w_row) {
                let [z, n] = &mut slots[s as usize];
                update(z, n, g_unit * v as f64, w, params.alpha);
            }
        }
        on_epoch(epoch);
    }
    let weights = problem
        .slot_of
        .iter()
        .map(|&s| {
            let [z, n] = slots[s as usize];
            weight(z, n, true) as f32
        })
        .collect();
    LinearModel {
        bias: weight(bias_z, bias_n, false) as f32,
        weights,
    }
}

#[inline]
fn update(z: &mut f64, n: &mut f64, g: f64, w: f64, alpha: f64) {
    let n_new = *n + g * g;
    let sigma = (n_new.sqrt() - n.sqrt()) / alpha;
    *z += g - sigma * w;
    *n = n_new;
}

/// Settings of the batch optimizer: the same objective as scikit-learn's
/// `LogisticRegression(C)`: C * sum of log losses + ||w||^2 / 2 (bias not penalised).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct LbfgsParams {
    /// Inverse regularisation strength.
    pub c: f64,
    /// Most iterations; each is one pass over the rows (more when the line search backtracks).
    pub max_iterations: usize,
    /// Stop when the objective improves by less than this fraction in an iteration.
    pub tolerance: f64,
    /// Correction pairs kept (the "m" of L-BFGS).
    pub memory: usize,
}

impl Default for LbfgsParams {
    fn default() -> Self {
        Self {
            c: 3.0,
            max_iterations: 120,
            tolerance: 1e-5,
            memory: 8,
        }
    }
}

/// The rows of one L-BFGS problem with its features renumbered hottest first, so the
/// objective's reads and writes of the weights cluster in cache.
///
/// In the order the training code numbers them (by hash bucket), a row's few hundred
/// features sit at random places in weight and gradient vectors of 8-11 MB each: nearly
/// every non-zero of every pass missed the cache twice, once reading its weight and once
/// adding to its gradient. Here the features that occur in most rows come first, and each
/// weight shares a 16-byte slot with its gradient. The arithmetic is unchanged: every row
/// keeps its non-zeros in their order and every gradient sums its terms in row order, so
/// the optimum comes out the same to the last bit.
struct HotFirst {
    /// The rows, with each feature index replaced by its slot.
    rows: SparseRows,
    /// Slot of each feature index.
    slot_of: Vec<u32>,
    /// The two numbers the optimizer keeps per feature: for L-BFGS the weight and its
    /// gradient (reused between evaluations), for FTRL z and n.
    slots: Vec<[f64; 2]>,
}

impl HotFirst {
    fn new(rows: &SparseRows, subset: &[usize], dims: usize) -> Self {
        // Rows repeated in a run are computed once per pass, so they count once.
        let mut occurrences = vec![0u32; dims];
        for run in subset.chunk_by(|a, b| a == b) {
            for &i in rows.row(run[0]).0 {
                occurrences[i as usize] += 1;
            }
        }
        let mut order: Vec<u32> = (0..dims as u32).collect();
        order.sort_by_key(|&i| (std::cmp::Reverse(occurrences[i as usize]), i));
        let mut slot_of = vec![0u32; dims];
        for (slot, &i) in order.iter().enumerate() {
            slot_of[i as usize] = slot as u32;
        }
        let mut renumbered = SparseRows::new();
        for r in 0..rows.len() {
            let (indices, values) = rows.row(r);
            renumbered.push_row(indices.iter().zip(values).map(|(&i, &v)| (slot_of[i as usize], v)));
        }
        Self {
            rows: renumbered,
            slot_of,
            slots: vec![[0.0; 2]; dims],
        }
    }

    /// Objective value and gradient at `w` (last coordinate is the bias): C times the log
    /// loss of the rows in `subset` plus half the squared norm of the weights (not the
    /// bias). A run of equal indices in `subset` is one row counted that many times,
    /// computed once.
    fn objective(&mut self, labels: &[bool], subset: &[usize], w: &[f64], c: f64, grad: &mut [f64]) -> f64 {
        let dims = w.len() - 1;
        for (&slot, &wi) in self.slot_of.iter().zip(w) {
            self.slots[slot as usize] = [wi, 0.0];
        }
        let mut bias_grad = 0.0;
        let mut loss = 0.0;
        for run in subset.chunk_by(|a, b| a == b) {
            let r = run[0];
            let copies = run.len() as f64;
            let (slots, values) = self.rows.row(r);
            let mut z = w[dims];
            for (&s, &v) in slots.iter().zip(values) {
                z += self.slots[s as usize][0] * v as f64;
            }
            let y = if labels[r] { 1.0 } else { 0.0 };
            loss += copies * log_loss(z, y);
            let residual = c * copies * (sigmoid(z) - y);
            bias_grad += residual;
            for (&s, &v) in slots.iter().zip(values) {
                self.slots[s as usize][1] += residual * v as f64;
            }
        }
        grad[dims] = bias_grad;
        let mut penalty = 0.0;
        for ((g, &wi), &slot) in grad[..dims].iter_mut().zip(&w[..dims]).zip(&self.slot_of) {
            *g = self.slots[slot as usize][1] + wi;
            penalty += wi * wi;
        }
        c * loss + 0.5 * penalty
    }
}

/// log(1 + e^z) - y z, computed without overflow.
fn log_loss(z: f64, y: f64) -> f64 {
    (if z > 0.0 {
        z + (-z).exp().ln_1p()
    } else {
        z.exp().ln_1p()
    }) - y * z
}

/// [`HotFirst::objective`] on the rows as numbered: the plain reading of the objective,
/// which the tests hold the fast one to.
#[cfg(test)]
fn objective(rows: &SparseRows, labels: &[bool], subset: &[usize], w: &[f64], c: f64, grad: &mut [f64]) -> f64 {
    let dims = w.len() - 1;
    grad.iter_mut().for_each(|g| *g = 0.0);
    let mut loss = 0.0;
    for run in subset.chunk_by(|a, b| a == b) {
        let r = run[0];
        let copies = run.len() as f64;
        let (indices, values) = rows.row(r);
        let mut z = w[dims];
        for (&i, &v) in indices.iter().zip(values) {
            z += w[i as usize] * v as f64;
        }
        let y = if labels[r] { 1.0 } else { 0.0 };
        loss += copies * log_loss(z, y);
        let residual = c * copies * (sigmoid(z) - y);
        grad[dims] += residual;
        for (&i, &v) in indices.iter().zip(values) {
            grad[i as usize] += residual * v as f64;
        }
    }
    let mut penalty = 0.0;
    for (g, &wi) in grad[..dims].iter_mut().zip(&w[..dims]) {
        *g += wi;
        penalty += wi * wi;
    }
    c * loss + 0.5 * penalty
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Minimises the L2-regularised log loss with L-BFGS (Nocedal & Wright, "Numerical
/// Optimization", algorithm 7.4) and a backtracking Armijo line search. Deterministic:
/// full passes in row order, no randomness.
pub fn train_lbfgs(
    rows: &SparseRows,
    labels: &[bool],
    subset: &[usize],
    dims: usize,
    params: &LbfgsParams,
    on_iteration: impl FnMut(usize),
) -> LinearModel {
    // A weight whose feature no row in `subset` has starts at zero and stays there (its
    // gradient is the penalty's, zero at zero), so L-BFGS only needs the features that
    // occur. With 2^21 buckets most iterations' time went to vector arithmetic over
    // buckets that can never move; the compact problem is the same problem. Its
    // features keep their order, so every sum adds the same non-zero terms in the same
    // order and the result is the same to the last bit.
    let mut compact_of = vec![u32::MAX; dims];
    let mut seen: Vec<u32> = Vec::new();
    for run in subset.chunk_by(|a, b| a == b) {
        for &i in rows.row(run[0]).0 {
            if compact_of[i as usize] == u32::MAX {
                compact_of[i as usize] = 0;
                seen.push(i);
            }
        }
    }
    seen.sort_unstable();
    for (k, &i) in seen.iter().enumerate() {
        compact_of[i as usize] = k as u32;
    }
    let mut compact_rows = SparseRows::new();
    let mut compact_labels = Vec::new();
    let mut compact_subset = Vec::with_capacity(subset.len());
    for run in subset.chunk_by(|a, b| a == b) {
        let (indices, values) = rows.row(run[0]);
        compact_rows.push_row(indices.iter().zip(values).map(|(&i, &v)| (compact_of[i as usize], v)));
        compact_labels.push(labels[run[0]]);
        compact_subset.extend(std::iter::repeat_n(compact_labels.len() - 1, run.len()));
    }
    let w = minimise(
        compact_rows,
        &compact_labels,
        &compact_subset,
        seen.len(),
        params,
        on_iteration,
    );
    let mut weights = vec![0f32; dims];
    for (&i, &wi) in seen.iter().zip(&w) {
        weights[i as usize] = wi as f32;
    }
    LinearModel {
        bias: w[seen.len()] as f32,
        weights,
    }
}

/// L-BFGS over `dims` weights and a bias (the last coordinate); returns them.
fn minimise(
    rows: SparseRows,
    labels: &[bool],
    subset: &[usize],
    dims: usize,
    params: &LbfgsParams,
    mut on_iteration: impl FnMut(usize),
) -> Vec<f64> {
    let n = dims + 1;
    let mut problem = HotFirst::new(&rows, subset, dims);
    // The renumbered copy is all the optimizer reads; with several fits at once, keeping
    // both would hold each fit's rows twice.
    drop(rows);
    let mut w = vec![0f64; n];
    let mut grad = vec![0f64; n];
    let mut f = problem.objective(labels, subset, &w, params.c, &mut grad);
    let mut history: std::collections::VecDeque<(Vec<f64>, Vec<f64>, f64)> = std::collections::VecDeque::new();
    let mut direction = vec![0f64; n];
    let mut trial = vec![0f64; n];
    let mut trial_grad = vec![0f64; n];
    for iteration in 0..params.max_iterations {
        // Two-loop recursion: direction = -H * grad.
        direction.copy_from_slice(&grad);
        let mut alphas = Vec::with_capacity(history.len());
        for (s, y, rho) in history.iter().rev() {
            let a = rho * dot(s, &direction);
            for (d, yi) in direction.iter_mut().zip(y) {
                *d -= a * yi;
            }
            alphas.push(a);
        }
        let gamma = history.back().map_or_else(
            || 1.0 / dot(&grad, &grad).sqrt().max(1e-12),
            |(s, y, _)| dot(s, y) / dot(y, y).max(1e-300),
        );
        direction.iter_mut().for_each(|d| *d *= gamma);
        for ((s, y, rho), a) in history.iter().zip(alphas.iter().rev()) {
            let b = rho * dot(y, &direction);
            for (d, si) in direction.iter_mut().zip(s) {
                *d += (a - b) * si;
            }
        }
        direction.iter_mut().for_each(|d| *d = -*d);
        let slope = dot(&grad, &direction);
        if slope >= 0.0 {
            // Not a descent direction (numerical trouble): restart from steepest descent.
            history.clear();
            continue;
        }
        let mut step = 1.0;
        let mut f_new;
        loop {
            for ((t, wi), d) in trial.iter_mut().zip(&w).zip(&direction) {
                *t = wi + step * d;
            }
            f_new = problem.objective(labels, subset, &trial, params.c, &mut trial_grad);
            if f_new <= f + 1e-4 * step * slope || step < 1e-10 {
                break;
            }
            step *= 0.5;
        }
        let sy: f64 = trial
            .iter()
            .zip(&w)
            .zip(trial_grad.iter().zip(&grad))
            .map(|((t, wi), (tg, g))| (t - wi) * (tg - g))
            .sum();
        if sy > 1e-12 {
            // The oldest pair's buffers are reused once the memory is full: fresh vectors
            // of this size would cost a page fault per 4 KiB every iteration.
            let (mut s, mut y) = if history.len() == params.memory {
                let (s, y, _) = history.pop_front().expect("memory is full");
                (s, y)
            } else {
                (vec![0f64; n], vec![0f64; n])
            };
            for ((si, a), b) in s.iter_mut().zip(&trial).zip(&w) {
                *si = a - b;
            }
            for ((yi, a), b) in y.iter_mut().zip(&trial_grad).zip(&grad) {
                *yi = a - b;
            }
            history.push_back((s, y, 1.0 / sy));
        }
        std::mem::swap(&mut w, &mut trial);
        std::mem::swap(&mut grad, &mut trial_grad);
        let improvement = (f - f_new) / f.abs().max(1e-12);
        f = f_new;
        on_iteration(iteration);
        if improvement < params.tolerance {
            break;
        }
    }
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_a_separable_problem_and_is_deterministic() {
        // Feature 0 marks positives, feature 1 negatives, feature 2 is noise on every row.
        let mut rows = SparseRows::new();
        let mut labels = Vec::new();
        for i in 0..200 {
            let positive = i % 3 == 0;
            rows.push_row([(if positive { 0 } else { 1 }, 1.0), (2, 0.5)]);
            labels.push(positive);
        }
        let all: Vec<usize> = (0..rows.len()).collect();
        let params = FtrlParams {
            l1: 0.0,
            ..FtrlParams::default()
        };
        let model = train_ftrl(&rows, &labels, &all, 4, &params, 7, |_| {});
        assert!(model.logit(&[0, 2], &[1.0, 0.5]) > 2.0);
        assert!(model.logit(&[1, 2], &[1.0, 0.5]) < -2.0);
        assert_eq!(model.weights[3], 0.0, "an unseen feature keeps weight zero");
        let again = train_ftrl(&rows, &labels, &all, 4, &params, 7, |_| {});
        assert_eq!(model.weights, again.weights);
    }

    #[test]
    fn lbfgs_reaches_the_regularised_optimum() {
        // One feature, balanced classes that it separates: the optimum balances the loss
        // gradient against the penalty, so the gradient there must be ~0.
        let mut rows = SparseRows::new();
        let mut labels = Vec::new();
        for i in 0..100 {
            let positive = i % 2 == 0;
            rows.push_row([(0, if positive { 1.0 } else { -1.0 }), (1, 0.3)]);
            labels.push(positive);
        }
        let all: Vec<usize> = (0..rows.len()).collect();
        let params = LbfgsParams {
            c: 0.1,
            max_iterations: 200,
            tolerance: 1e-12,
            memory: 5,
        };
        let model = train_lbfgs(&rows, &labels, &all, 2, &params, |_| {});
        let w: Vec<f64> = vec![model.weights[0] as f64, model.weights[1] as f64, model.bias as f64];
        let mut grad = vec![0.0; 3];
        objective(&rows, &labels, &all, &w, params.c, &mut grad);
        assert!(grad.iter().all(|g| g.abs() < 1e-3), "gradient at the optimum: {grad:?}");
        assert!(model.weights[0] > 1.0);
    }

    #[test]
    fn the_hot_first_objective_gives_the_plain_objectives_bits() {
        // Features of very different frequencies at scattered indices, rows repeated in
        // runs and one row left out of the subset: the renumbering must change where
        // weights live, never what is summed or in which order.
        let dims = 3_000;
        let mut rows = SparseRows::new();
        let mut labels = Vec::new();
        for r in 0..80u32 {
            let mut entries: Vec<(u32, f32)> = (0..1 + r % 7)
                .map(|k| ((r * 131 + k * 977) % dims as u32, 0.1 + (k as f32) * 0.37))
                .collect();
            entries.push((2_999, 0.25));
            entries.push(((r % 4) * 11, 0.5));
            entries.sort_by_key(|e| e.0);
            entries.dedup_by_key(|e| e.0);
            rows.push_row(entries);
            labels.push(r % 3 != 0);
        }
        let subset: Vec<usize> = (0..80)
            .filter(|&r| r != 13)
            .flat_map(|r| std::iter::repeat_n(r, 1 + r % 3))
            .collect();
        let w: Vec<f64> = (0..=dims).map(|i| ((i * 7919) % 101) as f64 / 50.0 - 1.0).collect();
        let mut problem = HotFirst::new(&rows, &subset, dims);
        for c in [0.5, 3.0] {
            let (mut plain, mut fast) = (vec![0.0; dims + 1], vec![9.0; dims + 1]);
            let f_plain = objective(&rows, &labels, &subset, &w, c, &mut plain);
            let f_fast = problem.objective(&labels, &subset, &w, c, &mut fast);
            assert_eq!(f_plain.to_bits(), f_fast.to_bits());
            assert!(plain.iter().zip(&fast).all(|(a, b)| a.to_bits() == b.to_bits()));
        }
        // The most frequent feature got the first slot.
        assert_eq!(problem.slot_of[2_999], 0);
    }

    #[test]
    fn a_run_of_one_index_counts_like_that_many_copies_of_the_row() {
        // Rows 0-2 are one row written three times; the subset [0, 0, 0, 3] names the
        // first copy three times instead.
        let mut rows = SparseRows::new();
        for _ in 0..3 {
            rows.push_row([(0, 1.0), (1, 0.5)]);
        }
        rows.push_row([(1, 1.0)]);
        let labels = [true, true, true, false];
        let w = [0.3, -0.2, 0.1];
        let (mut copies, mut runs) = (vec![0.0; 3], vec![0.0; 3]);
        let f_copies = objective(&rows, &labels, &[0, 1, 2, 3], &w, 2.0, &mut copies);
        let f_runs = objective(&rows, &labels, &[0, 0, 0, 3], &w, 2.0, &mut runs);
        assert!((f_copies - f_runs).abs() < 1e-12, "{f_copies} vs {f_runs}");
        for (a, b) in copies.iter().zip(&runs) {
            assert!((a - b).abs() < 1e-12, "{copies:?} vs {runs:?}");
        }
        // And not like one copy.
        let mut once = vec![0.0; 3];
        let f_once = objective(&rows, &labels, &[0, 3], &w, 2.0, &mut once);
        assert!((f_once - f_runs).abs() > 0.1);
    }

    #[test]
    fn lbfgs_on_the_features_that_occur_gives_the_same_bits_as_on_every_bucket() {
        // Features scattered over 5,000 buckets; row 7 (left out of the subset) alone has
        // bucket 4,321, and rows repeat in runs as the training code passes them.
        let mut rows = SparseRows::new();
        let mut labels = Vec::new();
        for i in 0..60u32 {
            let positive = i % 3 == 0;
            let mut entries = vec![((i * 97) % 4_000, 0.4), (if positive { 11 } else { 2_900 }, 0.8)];
            if i == 7 {
                entries.push((4_321, 1.0));
            }
            rows.push_row(entries);
            labels.push(positive);
        }
        let subset: Vec<usize> = (0..60)
            .filter(|&i| i != 7)
            .flat_map(|i| [i; 2].into_iter().take(1 + i % 2))
            .collect();
        let params = LbfgsParams::default();
        let compact = train_lbfgs(&rows, &labels, &subset, 5_000, &params, |_| {});
        let full = minimise(rows.clone(), &labels, &subset, 5_000, &params, |_| {});
        let full_weights: Vec<f32> = full[..5_000].iter().map(|&w| w as f32).collect();
        assert_eq!(compact.weights, full_weights);
        assert_eq!(compact.bias, full[5_000] as f32);
        assert_eq!(compact.weights[4_321], 0.0, "a feature of no training row");
        assert!(compact.weights[11] > 0.5 && compact.weights[2_900] < -0.5);
    }

    #[test]
    fn l1_zeroes_out_weak_features() {
        let mut rows = SparseRows::new();
        let mut labels = Vec::new();
        for i in 0..400 {
            let positive = i % 2 == 0;
            // Feature 3 appears once, on a positive row: too little evidence to keep under L1.
            let rare = if i == 0 { vec![(3, 1.0)] } else { vec![] };
            rows.push_row([(if positive { 0 } else { 1 }, 1.0)].into_iter().chain(rare));
            labels.push(positive);
        }
        let all: Vec<usize> = (0..rows.len()).collect();
        let sparse = FtrlParams {
            l1: 1.0,
            ..FtrlParams::default()
        };
        let model = train_ftrl(&rows, &labels, &all, 4, &sparse, 1, |_| {});
        assert_eq!(model.weights[3], 0.0);
        assert!(model.weights[0] > 0.0);
    }
}
