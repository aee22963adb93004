//! The sparse text layer: a logistic regression over hashed n-gram features.
//!
//! linfa's models take dense `ndarray` input; a dense matrix of ~90,000 comments by 2^18+
//! hashed features would need tens of GiB, while each comment has only a few hundred
//! non-zero features. So this layer is our own: rows in compressed sparse row form, and
//! two optimizers that only ever touch a row's non-zeros: L-BFGS on scikit-learn's
//! `LogisticRegression` objective (the default), and FTRL-Proximal (McMahan et al., "Ad
//! Click Prediction: a View from the Trenches", KDD 2013), which handles L1 and L2
//! regularization lazily per coordinate in shuffled passes.

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

/// Rows whose entries are (index, value) pairs in one vector: one stream to read per
/// row, and one load per non-zero instead of two, for the passes that do little else.
struct PackedRows {
    offsets: Vec<usize>,
    entries: Vec<(u32, f32)>,
}

impl PackedRows {
    fn row(&self, i: usize) -> &[(u32, f32)] {
        &self.entries[self.offsets[i]..self.offsets[i + 1]]
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
    let problem = HotFirst::new(rows, labels, subset, dims);
    let mut slots = vec![[0f64; 2]; problem.features.len()];
    let (mut bias_z, mut bias_n) = (0f64, 0f64);
    // Every copy of a row is its own visit. The shuffle moves positions, whatever they
    // hold, so the rows come in the order they would as indices into `rows`.
    let mut order: Vec<usize> = problem.visits();
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
    for epoch in 0..params.epochs {
        order.shuffle(&mut rng);
        for &r in &order {
            let entries = problem.rows.row(r);
            w_row.clear();
            let mut score = weight(bias_z, bias_n, false);
            let bias_weight = score;
            for &(s, v) in entries {
                let [z, n] = slots[s as usize];
                let w = weight(z, n, true);
                w_row.push(w);
                score += w * v as f64;
            }
            let p = sigmoid(score.clamp(-35.0, 35.0));
            let g_unit = p - if problem.labels[r] { 1.0 } else { 0.0 };
            update(&mut bias_z, &mut bias_n, g_unit, bias_weight, params.alpha);
            for (&(s, v), &w) in entries.iter().zip(&w_row) {
                let [z, n] = &mut slots[s as usize];
                update(z, n, g_unit * v as f64, w, params.alpha);
            }
        }
        on_epoch(epoch);
    }
    // A feature no row has keeps z = n = 0, which is weight 0.
    let mut weights = vec![0f32; dims];
    for (&feature, &slot) in problem.features.iter().zip(&problem.slot_of) {
        let [z, n] = slots[slot as usize];
        weights[feature as usize] = weight(z, n, true) as f32;
    }
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

/// One fit's rows, renumbered for the passes that dominate training.
///
/// - **Only the features that occur.** A weight whose feature no row of the subset has
///   starts at zero and stays there (its gradient is the penalty's, zero at zero), so the
///   optimizers keep one number per feature that occurs ([`HotFirst::features`], in
///   increasing order), not one per hash bucket.
/// - **Hottest first.** In the order the training code numbers them (by hash bucket), a
///   row's few hundred features sit at random places in vectors of 8-11 MB: nearly every
///   non-zero missed the cache twice per pass, once reading its weight and once adding to
///   its gradient. Here a feature's slot follows how many rows have it (most first), then
///   where it was first seen, so a row's rare features sit side by side. Each weight shares
///   an 8-byte slot with its gradient (FTRL: a 16-byte slot holds z and n).
/// - **A run of copies is one row.** Copies of a row (source weights, length balance) come
///   as a run of one index in the subset; the batch objective computes the row once,
///   times the run's length.
///
/// None of this changes the arithmetic: every row keeps its non-zeros in their order and
/// every gradient sums its terms in row order, so the optimum comes out the same to the
/// last bit as the plain objective on every bucket with the same precision (tests below).
struct HotFirst {
    /// One row per run in the subset, each feature replaced by its slot.
    rows: PackedRows,
    /// Length of each row's run: how many times it counts.
    copies: Vec<u32>,
    labels: Vec<bool>,
    /// The features that occur, in increasing order.
    features: Vec<u32>,
    /// Slot of each of `features`.
    slot_of: Vec<u32>,
    /// L-BFGS's weight and gradient of each feature, in single precision (see
    /// [`HotFirst::gradient_at_slots`]); FTRL keeps its own z and n per slot.
    slots: Vec<[f32; 2]>,
}

impl HotFirst {
    fn new(rows: &SparseRows, labels: &[bool], subset: &[usize], dims: usize) -> Self {
        let runs: Vec<&[usize]> = subset.chunk_by(|a, b| a == b).collect();
        let mut occurrences = vec![0u32; dims];
        let mut first_seen = vec![usize::MAX; dims];
        let mut position = 0;
        for run in &runs {
            for &i in rows.row(run[0]).0 {
                occurrences[i as usize] += 1;
                if first_seen[i as usize] == usize::MAX {
                    first_seen[i as usize] = position;
                }
                position += 1;
            }
        }
        let features: Vec<u32> = (0..dims as u32).filter(|&i| occurrences[i as usize] > 0).collect();
        // The keys are gathered once and sorted with their features: looking them up
        // inside the comparisons made this sort a few percent of all training time.
        let mut hottest_first: Vec<(std::cmp::Reverse<u32>, usize, u32)> = features
            .iter()
            .enumerate()
            .map(|(k, &i)| {
                (
                    std::cmp::Reverse(occurrences[i as usize]),
                    first_seen[i as usize],
                    k as u32,
                )
            })
            .collect();
        drop(first_seen);
        // First sightings differ, so no two keys are equal: the order is the same whatever the sort.
        hottest_first.sort_unstable();
        let mut slot_of = vec![0u32; features.len()];
        for (slot, &(_, _, k)) in hottest_first.iter().enumerate() {
            slot_of[k as usize] = slot as u32;
        }
        drop(hottest_first);
        // From here on the counts are no longer needed: the vector becomes each bucket's slot.
        let mut slot_of_bucket = occurrences;
        for (&i, &slot) in features.iter().zip(&slot_of) {
            slot_of_bucket[i as usize] = slot;
        }
        let mut packed = PackedRows {
            offsets: Vec::with_capacity(runs.len() + 1),
            entries: Vec::new(),
        };
        packed.offsets.push(0);
        for run in &runs {
            let (indices, values) = rows.row(run[0]);
            packed.entries.extend(
                indices
                    .iter()
                    .zip(values)
                    .map(|(&i, &v)| (slot_of_bucket[i as usize], v)),
            );
            packed.offsets.push(packed.entries.len());
        }
        Self {
            rows: packed,
            copies: runs.iter().map(|run| run.len() as u32).collect(),
            labels: runs.iter().map(|run| labels[run[0]]).collect(),
            slots: vec![[0.0; 2]; features.len()],
            features,
            slot_of,
        }
    }

    /// Every row once per copy, in the subset's order.
    fn visits(&self) -> Vec<usize> {
        self.copies
            .iter()
            .enumerate()
            .flat_map(|(r, &copies)| std::iter::repeat_n(r, copies as usize))
            .collect()
    }

    /// Objective value and gradient at `w` (one weight per feature that occurs, the bias
    /// last): C times the log loss of the rows plus half the squared norm of the weights
    /// (not the bias).
    fn objective(&mut self, w: &[f64], c: f64, grad: &mut [f64]) -> f64 {
        for (&slot, &wi) in self.slot_of.iter().zip(w) {
            self.slots[slot as usize] = [wi as f32, 0.0];
        }
        self.gradient_at_slots(w, c, grad)
    }

    /// [`HotFirst::objective`] at `from + step * direction`, which it writes to `trial`:
    /// the line search's point is computed in the pass that loads it.
    fn objective_along(
        &mut self,
        from: &[f64],
        direction: &[f64],
        step: f64,
        trial: &mut [f64],
        c: f64,
        grad: &mut [f64],
    ) -> f64 {
        for (((t, &wi), &d), &slot) in trial.iter_mut().zip(from).zip(direction).zip(&self.slot_of) {
            *t = wi + step * d;
            self.slots[slot as usize] = [*t as f32, 0.0];
        }
        let bias = from.len() - 1;
        trial[bias] = from[bias] + step * direction[bias];
        self.gradient_at_slots(trial, c, grad)
    }

    /// The objective's passes over the rows, with the weights `w` already in the slots.
    ///
    /// The rows read each weight and add to each gradient in single precision, in 8-byte
    /// slots: these passes wait on memory, and at 1.4 million features the slots take
    /// 11 MB, which stays in a 32 MB L3 with a second fit running beside it, where 16-byte
    /// slots did not (0.157 s per evaluation against 0.216 s, BENCHMARKS.md). Each row's
    /// margin, the loss, the bias gradient and the optimizer's own vectors stay in double
    /// precision; the fits end within 0.1% of the objectives they reached in double
    /// precision.
    fn gradient_at_slots(&mut self, w: &[f64], c: f64, grad: &mut [f64]) -> f64 {
        let dims = w.len() - 1;
        let mut bias_grad = 0.0;
        let mut loss = 0.0;
        for (r, (&copies, &label)) in self.copies.iter().zip(&self.labels).enumerate() {
            let copies = copies as f64;
            let entries = self.rows.row(r);
            let mut z = w[dims];
            for &(s, v) in entries {
                z += self.slots[s as usize][0] as f64 * v as f64;
            }
            let y = if label { 1.0 } else { 0.0 };
            loss += copies * log_loss(z, y);
            let residual = c * copies * (sigmoid(z) - y);
            bias_grad += residual;
            for &(s, v) in entries {
                self.slots[s as usize][1] += (residual * v as f64) as f32;
            }
        }
        grad[dims] = bias_grad;
        let mut penalty = 0.0;
        for ((g, &wi), &slot) in grad[..dims].iter_mut().zip(&w[..dims]).zip(&self.slot_of) {
            *g = self.slots[slot as usize][1] as f64 + wi;
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
    let mut problem = HotFirst::new(rows, labels, subset, dims);
    let w = minimise(&mut problem, params, on_iteration);
    let mut weights = vec![0f32; dims];
    for (&i, &wi) in problem.features.iter().zip(&w) {
        weights[i as usize] = wi as f32;
    }
    LinearModel {
        bias: w[problem.features.len()] as f32,
        weights,
    }
}

/// One L-BFGS correction pair: the step `s` and the change in gradient `y` it made.
struct Correction {
    s: Vec<f64>,
    y: Vec<f64>,
    /// s · y
    sy: f64,
    /// y · y
    yy: f64,
    /// 1 / (s · y)
    rho: f64,
}

impl Correction {
    /// The pair from `before` to `after`, with its dot products taken in the same pass.
    fn set(&mut self, after: &[f64], before: &[f64], after_grad: &[f64], before_grad: &[f64]) {
        // Sums start where `Iterator::sum` starts (-0.0), so they agree with it to the bit.
        let (mut sy, mut yy) = (-0.0, -0.0);
        for ((((s, y), a), b), (ag, bg)) in self
            .s
            .iter_mut()
            .zip(self.y.iter_mut())
            .zip(after)
            .zip(before)
            .zip(after_grad.iter().zip(before_grad))
        {
            *s = a - b;
            *y = ag - bg;
            sy += *s * *y;
            yy += *y * *y;
        }
        self.sy = sy;
        self.yy = yy;
        self.rho = 1.0 / sy;
    }
}

/// L-BFGS over the problem's features and a bias (the last coordinate); returns them.
fn minimise(problem: &mut HotFirst, params: &LbfgsParams, mut on_iteration: impl FnMut(usize)) -> Vec<f64> {
    let n = problem.features.len() + 1;
    let mut w = vec![0f64; n];
    let mut grad = vec![0f64; n];
    let mut f = problem.objective(&w, params.c, &mut grad);
    let mut history: std::collections::VecDeque<Correction> = std::collections::VecDeque::new();
    // The next pair is computed here before it is known to be kept; once the memory is
    // full this is the oldest pair's buffers, reused: fresh vectors of this size would
    // cost a page fault per 4 KiB every iteration.
    let mut spare: Option<Correction> = None;
    let mut alphas: Vec<f64> = Vec::with_capacity(params.memory);
    let mut direction = vec![0f64; n];
    let mut trial = vec![0f64; n];
    let mut trial_grad = vec![0f64; n];
    for iteration in 0..params.max_iterations {
        let slope = descent_direction(&history, &grad, &mut direction, &mut alphas);
        if slope >= 0.0 {
            // Not a descent direction (numerical trouble): restart from steepest descent.
            history.clear();
            continue;
        }
        let mut step = 1.0;
        let mut f_new;
        loop {
            f_new = problem.objective_along(&w, &direction, step, &mut trial, params.c, &mut trial_grad);
            if f_new <= f + 1e-4 * step * slope || step < 1e-10 {
                break;
            }
            step = backtrack(step, f, slope, f_new);
        }
        let mut pair = spare.take().unwrap_or_else(|| Correction {
            s: vec![0f64; n],
            y: vec![0f64; n],
            sy: 0.0,
            yy: 0.0,
            rho: 0.0,
        });
        pair.set(&trial, &w, &trial_grad, &grad);
        if pair.sy > 1e-12 && params.memory > 0 {
            if history.len() == params.memory {
                spare = history.pop_front();
            }
            history.push_back(pair);
        } else {
            spare = Some(pair);
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

/// The next step to try when `step` failed the sufficient-decrease test: the minimum of
/// the parabola through the objective at 0 (`f`, falling with `slope`) and at `step`
/// (`f_step`), kept between a tenth and a half of `step`.
///
/// Halving alone often took three or four full passes over the rows to find a step, and
/// an iteration that ended on a tiny step improved the objective so little that the fit
/// stopped there, well short of the optimum (one head's final fit stopped at 58
/// iterations with an objective 0.5% above where it converges).
fn backtrack(step: f64, f: f64, slope: f64, f_step: f64) -> f64 {
    // Positive whenever the test failed, since the slope is negative.
    let curvature = f_step - f - slope * step;
    let minimum = -slope * step * step / (2.0 * curvature);
    if minimum.is_finite() {
        minimum.clamp(0.1 * step, 0.5 * step)
    } else {
        0.5 * step
    }
}

/// Writes the search direction -H grad (the two-loop recursion) to `direction`; returns
/// the slope grad · direction.
///
/// At a million features the vectors live in memory, not in cache, and the plain
/// recursion's forty-odd passes over them per iteration were a fifth of training. Here
/// each pass that updates the direction also takes the dot product the next step needs,
/// and the scaling and the sign change ride along: about half the passes. Every element
/// and every sum is computed as in the plain recursion, in the same order, so the
/// direction is the same to the bit.
fn descent_direction(
    history: &std::collections::VecDeque<Correction>,
    grad: &[f64],
    direction: &mut [f64],
    alphas: &mut Vec<f64>,
) -> f64 {
    let Some(newest) = history.back() else {
        let gamma = 1.0 / dot(grad, grad).sqrt().max(1e-12);
        let mut slope = -0.0;
        for (d, &g) in direction.iter_mut().zip(grad) {
            *d = -(g * gamma);
            slope += g * *d;
        }
        return slope;
    };
    let m = history.len();
    let gamma = newest.sy / newest.yy.max(1e-300);
    // First loop, newest pair to oldest: a_i = rho_i s_i · q, then q -= a_i y_i, where q
    // starts as the gradient. `next_dot` is always the dot product the next step needs.
    let mut next_dot = -0.0;
    for ((d, &g), &s) in direction.iter_mut().zip(grad).zip(&newest.s) {
        *d = g;
        next_dot += s * *d;
    }
    alphas.clear();
    alphas.resize(m, 0.0);
    for i in (0..m).rev() {
        let a = history[i].rho * next_dot;
        alphas[i] = a;
        let y = &history[i].y;
        next_dot = -0.0;
        if i > 0 {
            for ((d, &yk), &s_older) in direction.iter_mut().zip(y).zip(&history[i - 1].s) {
                *d -= a * yk;
                next_dot += s_older * *d;
            }
        } else {
            // The last update, the scaling by gamma, and the second loop's first dot.
            for (d, &yk) in direction.iter_mut().zip(y) {
                *d -= a * yk;
                *d *= gamma;
                next_dot += yk * *d;
            }
        }
    }
    // Second loop, oldest pair to newest: b_i = rho_i y_i · r, then r += (a_i - b_i) s_i;
    // the direction is -r.
    for i in 0..m {
        let b = history[i].rho * next_dot;
        let coefficient = alphas[i] - b;
        let s = &history[i].s;
        next_dot = -0.0;
        if i + 1 < m {
            for ((d, &sk), &y_newer) in direction.iter_mut().zip(s).zip(&history[i + 1].y) {
                *d += coefficient * sk;
                next_dot += y_newer * *d;
            }
        } else {
            for ((d, &sk), &g) in direction.iter_mut().zip(s).zip(grad) {
                *d += coefficient * sk;
                *d = -*d;
                next_dot += g * *d;
            }
        }
    }
    next_dot
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`HotFirst::objective`] on the rows as numbered: the plain reading of the objective,
    /// which the tests hold the fast one to. Like it, it reads the feature weights and sums
    /// their gradients in single precision.
    fn objective(rows: &SparseRows, labels: &[bool], subset: &[usize], w: &[f64], c: f64, grad: &mut [f64]) -> f64 {
        let dims = w.len() - 1;
        let mut feature_grad = vec![0f32; dims];
        let mut bias_grad = 0.0;
        let mut loss = 0.0;
        for run in subset.chunk_by(|a, b| a == b) {
            let r = run[0];
            let copies = run.len() as f64;
            let (indices, values) = rows.row(r);
            let mut z = w[dims];
            for (&i, &v) in indices.iter().zip(values) {
                z += w[i as usize] as f32 as f64 * v as f64;
            }
            let y = if labels[r] { 1.0 } else { 0.0 };
            loss += copies * log_loss(z, y);
            let residual = c * copies * (sigmoid(z) - y);
            bias_grad += residual;
            for (&i, &v) in indices.iter().zip(values) {
                feature_grad[i as usize] += (residual * v as f64) as f32;
            }
        }
        grad[dims] = bias_grad;
        let mut penalty = 0.0;
        for ((g, &wi), &sum) in grad[..dims].iter_mut().zip(&w[..dims]).zip(&feature_grad) {
            *g = sum as f64 + wi;
            penalty += wi * wi;
        }
        c * loss + 0.5 * penalty
    }

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
        let mut problem = HotFirst::new(&rows, &labels, &subset, dims);
        // Weights on every bucket for the plain objective; a bucket no row of the subset
        // has is zero, as it stays in training. The fast one holds the buckets that occur.
        let mut w: Vec<f64> = vec![0.0; dims + 1];
        for &i in &problem.features {
            w[i as usize] = ((i as usize * 7919) % 101) as f64 / 50.0 - 1.0;
        }
        w[dims] = 0.3;
        let compact: Vec<f64> = problem
            .features
            .iter()
            .map(|&i| w[i as usize])
            .chain([w[dims]])
            .collect();
        assert!(problem.features.len() < dims / 4, "most buckets never occur");
        for c in [0.5, 3.0] {
            let (mut plain, mut fast) = (vec![0.0; dims + 1], vec![9.0; compact.len()]);
            let f_plain = objective(&rows, &labels, &subset, &w, c, &mut plain);
            let f_fast = problem.objective(&compact, c, &mut fast);
            assert_eq!(f_plain.to_bits(), f_fast.to_bits());
            let plain_compact = problem.features.iter().map(|&i| plain[i as usize]).chain([plain[dims]]);
            assert!(plain_compact.zip(&fast).all(|(a, b)| a.to_bits() == b.to_bits()));
        }
        // The most frequent feature got the first slot.
        let last = problem.features.len() - 1;
        assert_eq!(problem.features[last], 2_999);
        assert_eq!(problem.slot_of[last], 0);
    }

    #[test]
    fn a_rows_rare_features_get_neighbouring_slots() {
        // Bucket 1 is in every row; the others in one row each, at scattered buckets. By
        // bucket they would interleave across rows; by first sighting each row's stay together.
        let mut rows = SparseRows::new();
        rows.push_row([(1, 1.0), (10, 1.0), (500, 1.0), (900, 1.0)]);
        rows.push_row([(1, 1.0), (20, 1.0), (800, 1.0)]);
        rows.push_row([(1, 1.0), (300, 1.0)]);
        let problem = HotFirst::new(&rows, &[true, false, true], &[0, 1, 2], 1_000);
        let slot = |bucket: u32| {
            let k = problem.features.binary_search(&bucket).expect("bucket occurs");
            problem.slot_of[k]
        };
        let slots: Vec<u32> = [1, 10, 500, 900, 20, 800, 300].into_iter().map(slot).collect();
        assert_eq!(slots, [0, 1, 2, 3, 4, 5, 6]);
    }

    #[test]
    fn backtracking_goes_to_the_parabolas_minimum_within_bounds() {
        // f(t) = (t - 0.3)^2: f(0) = 0.09, slope -0.6, f(1) = 0.49; the minimum is at 0.3.
        assert!((backtrack(1.0, 0.09, -0.6, 0.49) - 0.3).abs() < 1e-12);
        // The same parabola seen from step 4 (f(4) = 13.69): its minimum, 0.3, is below a
        // tenth of the step, so the step shrinks only tenfold.
        assert!((backtrack(4.0, 0.09, -0.6, 13.69) - 0.4).abs() < 1e-12);
        // Barely over the test: the parabola's minimum is near the step; keep at most half.
        assert_eq!(backtrack(1.0, 1.0, -1.0, 0.0001), 0.5);
        // A non-finite objective at the trial point (overflow): halve.
        assert_eq!(backtrack(1.0, 1.0, -1.0, f64::INFINITY), 0.1);
        assert_eq!(backtrack(1.0, 1.0, -1.0, f64::NAN), 0.5);
    }

    /// The L-BFGS of this module as first written: plain objective on every bucket, plain
    /// two-loop recursion. [`train_lbfgs`] must give its bits.
    fn plain_lbfgs(
        rows: &SparseRows,
        labels: &[bool],
        subset: &[usize],
        dims: usize,
        params: &LbfgsParams,
    ) -> Vec<f64> {
        let n = dims + 1;
        let mut w = vec![0f64; n];
        let mut grad = vec![0f64; n];
        let mut f = objective(rows, labels, subset, &w, params.c, &mut grad);
        let mut history: std::collections::VecDeque<(Vec<f64>, Vec<f64>, f64)> = Default::default();
        for _ in 0..params.max_iterations {
            let mut direction = grad.clone();
            let mut alphas = Vec::new();
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
                history.clear();
                continue;
            }
            let mut step = 1.0;
            let (mut trial, mut trial_grad) = (vec![0f64; n], vec![0f64; n]);
            let mut f_new;
            loop {
                for ((t, wi), d) in trial.iter_mut().zip(&w).zip(&direction) {
                    *t = wi + step * d;
                }
                f_new = objective(rows, labels, subset, &trial, params.c, &mut trial_grad);
                if f_new <= f + 1e-4 * step * slope || step < 1e-10 {
                    break;
                }
                step = backtrack(step, f, slope, f_new);
            }
            let s: Vec<f64> = trial.iter().zip(&w).map(|(a, b)| a - b).collect();
            let y: Vec<f64> = trial_grad.iter().zip(&grad).map(|(a, b)| a - b).collect();
            let sy = dot(&s, &y);
            if sy > 1e-12 {
                if history.len() == params.memory {
                    history.pop_front();
                }
                history.push_back((s, y, 1.0 / sy));
            }
            let improvement = (f - f_new) / f.abs().max(1e-12);
            (w, grad, f) = (trial, trial_grad, f_new);
            if improvement < params.tolerance {
                break;
            }
        }
        w
    }

    #[test]
    fn lbfgs_gives_the_plain_lbfgs_bits() {
        // Features scattered over 5,000 buckets with frequencies from one row to all;
        // row 7 (left out of the subset) alone has bucket 4,321; rows repeat in runs as
        // the training code passes them. A small memory is filled and recycled many times.
        let mut rows = SparseRows::new();
        let mut labels = Vec::new();
        for i in 0..60u32 {
            let positive = i % 3 == 0;
            let mut entries = vec![
                (i % 5, 0.3),
                (17 + (i * 97) % 4_000, 0.4),
                (if positive { 4_011 } else { 4_900 }, 0.8),
            ];
            if i == 7 {
                entries.push((4_321, 1.0));
            }
            if i % 4 == 1 {
                // Mislabelled-looking rows keep the problem from being separable.
                entries.push((4_011, 0.5));
            }
            entries.sort_by_key(|e| e.0);
            entries.dedup_by_key(|e| e.0);
            rows.push_row(entries);
            labels.push(positive);
        }
        let subset: Vec<usize> = (0..60)
            .filter(|&i| i != 7)
            .flat_map(|i| [i; 2].into_iter().take(1 + i % 2))
            .collect();
        for memory in [1, 3, 8] {
            let params = LbfgsParams {
                memory,
                tolerance: 1e-12,
                max_iterations: 60,
                ..LbfgsParams::default()
            };
            let fast = train_lbfgs(&rows, &labels, &subset, 5_000, &params, |_| {});
            let plain = plain_lbfgs(&rows, &labels, &subset, 5_000, &params);
            let plain_weights: Vec<f32> = plain[..5_000].iter().map(|&w| w as f32).collect();
            assert_eq!(fast.weights, plain_weights, "memory {memory}");
            assert_eq!(fast.bias, plain[5_000] as f32, "memory {memory}");
            assert_eq!(fast.weights[4_321], 0.0, "a feature of no training row");
            assert!(fast.weights[4_011] > 0.5 && fast.weights[4_900] < -0.5);
        }
    }

    #[test]
    fn ftrl_gives_the_bits_of_plain_arrays_over_every_bucket() {
        let mut rows = SparseRows::new();
        let mut labels = Vec::new();
        for i in 0..90u32 {
            let positive = i % 3 != 0;
            rows.push_row([
                (i % 6, 0.5),
                (30 + (i * 37) % 900, 0.7),
                (if positive { 950 } else { 970 }, 1.0),
            ]);
            labels.push(positive);
        }
        let subset: Vec<usize> = (0..90)
            .filter(|i| i % 10 != 3)
            .flat_map(|i| [i; 3].into_iter().take(1 + i % 3))
            .collect();
        let params = FtrlParams {
            l1: 0.2,
            l2: 0.1,
            epochs: 4,
            ..FtrlParams::default()
        };
        let fast = train_ftrl(&rows, &labels, &subset, 1_000, &params, 5, |_| {});
        // The plain reading: z and n per bucket, every copy visited in a seeded shuffle.
        let weight = |z: f64, n: f64, l1: f64, l2: f64| -> f64 {
            if z.abs() <= l1 {
                0.0
            } else {
                -(z - z.signum() * l1) / ((params.beta + n.sqrt()) / params.alpha + l2)
            }
        };
        let (mut z, mut n) = (vec![0f64; 1_000], vec![0f64; 1_000]);
        let (mut bias_z, mut bias_n) = (0f64, 0f64);
        let mut order = subset.clone();
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        for _ in 0..params.epochs {
            order.shuffle(&mut rng);
            for &r in &order {
                let (indices, values) = rows.row(r);
                let bias_weight = weight(bias_z, bias_n, 0.0, 0.0);
                let w_row: Vec<f64> = indices
                    .iter()
                    .map(|&i| weight(z[i as usize], n[i as usize], params.l1, params.l2))
                    .collect();
                let mut score = bias_weight;
                for (w, &v) in w_row.iter().zip(values) {
                    score += w * v as f64;
                }
                let g = sigmoid(score.clamp(-35.0, 35.0)) - if labels[r] { 1.0 } else { 0.0 };
                update(&mut bias_z, &mut bias_n, g, bias_weight, params.alpha);
                for ((&i, &v), &w) in indices.iter().zip(values).zip(&w_row) {
                    update(&mut z[i as usize], &mut n[i as usize], g * v as f64, w, params.alpha);
                }
            }
        }
        let plain: Vec<f32> = (0..1_000)
            .map(|i| weight(z[i], n[i], params.l1, params.l2) as f32)
            .collect();
        assert_eq!(fast.weights, plain);
        assert_eq!(fast.bias, weight(bias_z, bias_n, 0.0, 0.0) as f32);
        assert!(fast.weights[950] > 0.0 && fast.weights[970] < 0.0);
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
