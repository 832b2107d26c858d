//! MAUVE (Pillutla et al., NeurIPS 2021) as `mauve-text` 0.4.0 computes it from features, and
//! FED, the Fréchet distance between the Gaussians of two feature sets.
//!
//! MAUVE, step by step (`compute_mauve.py`): the rows of Q then P, each L2-normalised; PCA
//! keeping the fewest leading components that explain 90% of the variance (f32 after it);
//! k-means with k = max(2, round(min(n_p, n_q) / 10)) buckets (5 restarts of at most 500
//! Lloyd iterations, the best objective kept, as faiss's `Kmeans` with `nredo = 5`); the two
//! histograms of bucket counts; the divergence curve of 25 mixtures `r = w p + (1 - w) q`,
//! points `(exp(-c KL(q || r)), exp(-c KL(p || r)))` with `c = 5` and the two extreme points;
//! MAUVE is the mean of the areas under the curve taken along each axis (trapezoids). MAUVE*
//! repeats it on Krichevsky-Trofimov-smoothed histograms (`count + 1/2`), and the frontier
//! integral (lower is closer) is computed on both.
//!
//! The k-means is Lloyd's, as faiss's: from `k` random rows by default (its random draws are
//! not faiss's, so end-to-end values differ from `mauve-text` by about as much as two of its own
//! seeds do), or from k-means++ centroids ([`KmeansInit::PlusPlus`]), which find clusters
//! faiss's starts miss (on 8 far-apart blobs, 8 of 10 `mauve-text` seeds merged two blobs and
//! split another). From the same bucket assignments the scores equal `mauve-text`'s to rounding.
use crate::error::{Error, Result};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde::Serialize;
use tch::{Device, Kind, Tensor};

/// MAUVE's settings, `mauve-text`'s defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct MauveSettings {
    /// Buckets; `None`: max(2, round(min(n_p, n_q) / 10)).
    pub buckets: Option<usize>,
    /// The share of the variance the PCA keeps.
    pub explained_variance: f64,
    /// k-means restarts (the best objective is kept) and iterations each.
    pub redo: usize,
    pub max_iter: usize,
    /// The scaling constant `c` of the divergence curve.
    pub scaling: f64,
    /// Points of the divergence curve (mixture weights).
    pub discretization: usize,
    /// The seed (`mauve-text`'s 25; k-means draws from `seed + 2`).
    pub seed: u64,
    /// How k-means picks its starting centroids.
    pub init: KmeansInit,
}

/// k-means's starting centroids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KmeansInit {
    /// `k` distinct random rows, as faiss (in `mauve-text`) starts: MAUVE's values then scatter
    /// over seeds as `mauve-text`'s do, around the same mean.
    Random,
    /// k-means++ (Arthur and Vassilvitskii 2007): far less often two centroids in one cluster
    /// and none in another, so lower objectives, and MAUVE values lower than `mauve-text`'s by
    /// about 0.01 to 0.03 on the data tried.
    PlusPlus,
}

impl Default for MauveSettings {
    fn default() -> Self {
        MauveSettings {
            buckets: None,
            explained_variance: 0.9,
            redo: 5,
            max_iter: 500,
            scaling: 5.0,
            discretization: 25,
            seed: 25,
            init: KmeansInit::Random,
        }
    }
}

/// What MAUVE measured: the scores and the histograms behind them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Mauve {
    pub mauve: f64,
    pub frontier_integral: f64,
    pub mauve_star: f64,
    pub frontier_integral_star: f64,
    pub buckets: usize,
    /// Principal components kept before k-means.
    pub pca_dims: usize,
    pub p_hist: Vec<f64>,
    pub q_hist: Vec<f64>,
}

/// The samples a side needs: below this MAUVE is computed but means little (it is biased
/// upwards with few samples; the paper uses 5,000 a side).
pub const MAUVE_MEANINGFUL: usize = 1000;

/// MAUVE of P (`p`, [n_p, d] features of the texts judged) against Q (`q`, [n_q, d], the
/// reference texts).
pub fn mauve(p: &Tensor, q: &Tensor, s: &MauveSettings) -> Result<Mauve> {
    let (np, nq) = check_features(p, q, 2, "MAUVE")?;
    let k = s.buckets.unwrap_or_else(|| auto_buckets(np.min(nq)));
    if k < 2 || k > np + nq {
        return Err(Error::Config(format!(
            "MAUVE needs between 2 and {} buckets (the samples of both sides); {k} asked",
            np + nq
        )));
    }
    let x = Tensor::cat(&[q, p], 0).to_kind(Kind::Double);
    let x = &x / x.norm_scalaropt_dim(2, [1], true).clamp_min(1e-300);
    let (reduced, pca_dims) = pca(&x, s.explained_variance);
    let labels = kmeans(&reduced.to_kind(Kind::Float), k, s);
    let (q_labels, p_labels) = labels.split_at(nq);
    let (pc, qc) = (counts(p_labels, k), counts(q_labels, k));
    let mut m = mauve_of_counts(&pc, &qc, s);
    m.pca_dims = pca_dims;
    Ok(m)
}

/// MAUVE, MAUVE*, and the frontier integrals from the bucket counts of P and Q.
pub fn mauve_of_counts(p_counts: &[f64], q_counts: &[f64], s: &MauveSettings) -> Mauve {
    let norm = |c: &[f64], add: f64| -> Vec<f64> {
        let total: f64 = c.iter().map(|x| x + add).sum();
        c.iter().map(|x| (x + add) / total).collect()
    };
    let (p, q) = (norm(p_counts, 0.0), norm(q_counts, 0.0));
    let (ps, qs) = (norm(p_counts, 0.5), norm(q_counts, 0.5));
    Mauve {
        mauve: mauve_of_histograms(&p, &q, s),
        frontier_integral: frontier_integral(&p, &q),
        mauve_star: mauve_of_histograms(&ps, &qs, s),
        frontier_integral_star: frontier_integral(&ps, &qs),
        buckets: p.len(),
        pca_dims: 0,
        p_hist: p,
        q_hist: q,
    }
}

/// `mauve-text`'s `max(2, int(round(n / 10)))`, Python's rounding (halves to even).
pub fn auto_buckets(n: usize) -> usize {
    let x = n as f64 / 10.0;
    let r = x.round_ties_even();
    (r as usize).max(2)
}

/// KL(p || q) over the buckets where both are positive; infinite where p > 0 = q.
fn kl(p: &[f64], q: &[f64]) -> f64 {
    let mut total = 0.0;
    for (&a, &b) in p.iter().zip(q) {
        if a != 0.0 && b == 0.0 {
            return f64::INFINITY;
        }
        if a != 0.0 {
            total += a * (a / b).ln();
        }
    }
    total
}

/// The divergence curve's points (x, y), the extreme points included.
pub fn divergence_curve(p: &[f64], q: &[f64], s: &MauveSettings) -> Vec<(f64, f64)> {
    let n = s.discretization.max(2);
    let (lo, hi) = (1e-6, 1.0 - 1e-6);
    let mut pts = vec![(0.0, f64::INFINITY)];
    for i in 0..n {
        // numpy's linspace: lo + i * step, the last point exactly hi.
        let w = if i + 1 == n {
            hi
        } else {
            lo + i as f64 * ((hi - lo) / (n - 1) as f64)
        };
        let r: Vec<f64> = p
            .iter()
            .zip(q)
            .map(|(a, b)| w * a + (1.0 - w) * b)
            .collect();
        pts.push((kl(q, &r), kl(p, &r)));
    }
    pts.push((f64::INFINITY, 0.0));
    let c = s.scaling;
    pts.into_iter()
        .map(|(x, y)| ((-c * x).exp(), (-c * y).exp()))
        .collect()
}

/// The area under the curve through `pts` taken in order of their first coordinate (ties:
/// along the curve, the higher second coordinate first), by trapezoids.
fn area(pts: &[(f64, f64)]) -> f64 {
    let mut v = pts.to_vec();
    v.sort_by(|a, b| a.0.total_cmp(&b.0).then(b.1.total_cmp(&a.1)));
    v.windows(2)
        .map(|w| (w[1].0 - w[0].0) * (w[0].1 + w[1].1) / 2.0)
        .sum()
}

/// MAUVE of two histograms: the mean of the areas under the divergence curve along each axis.
pub fn mauve_of_histograms(p: &[f64], q: &[f64], s: &MauveSettings) -> f64 {
    let curve = divergence_curve(p, q, s);
    let flipped: Vec<(f64, f64)> = curve.iter().map(|&(x, y)| (y, x)).collect();
    0.5 * (area(&curve) + area(&flipped))
}

/// The frontier integral of two histograms (`mauve-text`'s `get_fronter_integral`).
pub fn frontier_integral(p: &[f64], q: &[f64]) -> f64 {
    let mut total = 0.0;
    for (&a, &b) in p.iter().zip(q) {
        total += match (a == 0.0, b == 0.0) {
            (true, true) => 0.0,
            (true, false) => b / 4.0,
            (false, true) => a / 4.0,
            _ if (a - b).abs() > 1e-8 => 0.25 * (a + b) - 0.5 * a * b * (a.ln() - b.ln()) / (a - b),
            _ => 0.0,
        };
    }
    total * 2.0
}

fn counts(labels: &[i64], k: usize) -> Vec<f64> {
    let mut c = vec![0.0; k];
    for &l in labels {
        c[l as usize] += 1.0;
    }
    c
}

/// Checks two feature sets: 2-D, the same width, at least `min` rows each; their row counts.
pub fn check_features(p: &Tensor, q: &Tensor, min: usize, what: &str) -> Result<(usize, usize)> {
    let (ps, qs) = (p.size(), q.size());
    if ps.len() != 2 || qs.len() != 2 {
        return Err(Error::Data(format!(
            "{what} needs two matrices of features (rows of texts); got shapes {ps:?} and {qs:?}"
        )));
    }
    if ps[1] != qs[1] {
        return Err(Error::Data(format!(
            "{what}: the features have different widths ({} and {}): both sides need the same encoder",
            ps[1], qs[1]
        )));
    }
    let (np, nq) = (ps[0] as usize, qs[0] as usize);
    if np < min || nq < min {
        return Err(Error::Data(format!(
            "{what} needs at least {min} texts a side ({np} and {nq} given; thousands for a meaningful value)"
        )));
    }
    Ok((np, nq))
}

/// PCA of the rows of `x` [n, d] (f64): the rows in the fewest leading components whose
/// explained variance reaches `share`, and their number.
fn pca(x: &Tensor, share: f64) -> (Tensor, usize) {
    let n = x.size()[0];
    let centred = x - x.mean_dim([0i64].as_slice(), true, Kind::Double);
    let cov = centred.transpose(0, 1).matmul(&centred) / (n - 1).max(1) as f64;
    let (values, vectors) = cov.linalg_eigh("L");
    // Descending order; tiny negative eigenvalues of a singular covariance are zeros.
    let values = values.flip([0]).clamp_min(0.0);
    let vectors = vectors.flip([1]);
    let v: Vec<f64> = Vec::try_from(&values).expect("f64 eigenvalues");
    let total: f64 = v.iter().sum();
    let mut acc = 0.0;
    let mut keep = v.len();
    for (i, x) in v.iter().enumerate() {
        acc += x / total;
        if acc >= share {
            keep = i + 1;
            break;
        }
    }
    (centred.matmul(&vectors.narrow(1, 0, keep as i64)), keep)
}

/// The largest training set k-means uses, per centroid (faiss's `max_points_per_centroid`).
const MAX_POINTS_PER_CENTROID: usize = 256;

/// The bucket of each row of `x` [n, d] (f32): the nearest of `k` centroids found by Lloyd's
/// algorithm, the best of `s.redo` starts (`s.init`) by objective.
fn kmeans(x: &Tensor, k: usize, s: &MauveSettings) -> Vec<i64> {
    let _g = tch::no_grad_guard();
    let n = x.size()[0] as usize;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(s.seed + 2);
    let mut order: Vec<usize> = (0..n).collect();
    // Training rows: all, or a random subset as faiss takes above 256 a centroid.
    let train = if n > k * MAX_POINTS_PER_CENTROID {
        order.shuffle(&mut rng);
        let idx: Vec<i64> = order[..k * MAX_POINTS_PER_CENTROID]
            .iter()
            .map(|&i| i as i64)
            .collect();
        x.index_select(0, &Tensor::from_slice(&idx))
    } else {
        x.shallow_clone()
    };
    let nt = train.size()[0] as usize;
    let mut best: Option<(f64, Tensor)> = None;
    for _ in 0..s.redo.max(1) {
        let mut c = match s.init {
            KmeansInit::PlusPlus => kmeans_plus_plus(&train, k, &mut rng),
            KmeansInit::Random => {
                let mut pick: Vec<usize> = (0..nt).collect();
                pick.shuffle(&mut rng);
                let idx: Vec<i64> = pick[..k].iter().map(|&i| i as i64).collect();
                train.index_select(0, &Tensor::from_slice(&idx))
            }
        };
        let mut labels = Tensor::zeros([nt as i64], (Kind::Int64, Device::Cpu));
        for it in 0..s.max_iter.max(1) {
            let (new, _) = nearest(&train, &c);
            let changed = it == 0 || new.ne_tensor(&labels).any().int64_value(&[]) != 0;
            labels = new;
            if !changed {
                break;
            }
            c = centroids(&train, &labels, &c, &mut rng);
        }
        let (_, d2) = nearest(&train, &c);
        let objective = d2.sum(Kind::Double).double_value(&[]);
        if best.as_ref().is_none_or(|(o, _)| objective < *o) {
            best = Some((objective, c));
        }
    }
    let (_, c) = best.expect("one start at least");
    Vec::try_from(nearest(x, &c).0).expect("i64 labels")
}

/// `k` starting centroids by k-means++ (Arthur and Vassilvitskii 2007): the first a random
/// row, each next one a row drawn with probability proportional to its squared distance to the
/// nearest centroid so far. faiss starts from `k` random rows instead, which often puts two
/// centroids in one cluster and none in another, a local optimum Lloyd's steps keep.
fn kmeans_plus_plus(x: &Tensor, k: usize, rng: &mut rand_chacha::ChaCha8Rng) -> Tensor {
    use rand::Rng;
    let n = x.size()[0] as usize;
    let norms = x
        .square()
        .sum_dim_intlist([1i64].as_slice(), false, Kind::Float);
    let mut picks = vec![rng.gen_range(0..n) as i64];
    let dist_to = |i: i64| {
        let c = x.get(i);
        (&norms - x.mv(&c) * 2.0 + c.square().sum(Kind::Float)).clamp_min(0.0)
    };
    let mut best: Vec<f32> = Vec::try_from(dist_to(picks[0])).expect("f32");
    while picks.len() < k {
        let total: f64 = best.iter().map(|&d| d as f64).sum();
        let next = if total <= 0.0 {
            // Every row sits on a centroid: any row not yet picked.
            (0..n as i64).find(|i| !picks.contains(i)).unwrap_or(0)
        } else {
            let mut r = rng.gen_range(0.0..total);
            let mut chosen = n - 1;
            for (i, &d) in best.iter().enumerate() {
                if r < d as f64 {
                    chosen = i;
                    break;
                }
                r -= d as f64;
            }
            chosen as i64
        };
        picks.push(next);
        let d: Vec<f32> = Vec::try_from(dist_to(next)).expect("f32");
        for (b, d) in best.iter_mut().zip(d) {
            *b = b.min(d);
        }
    }
    x.index_select(0, &Tensor::from_slice(&picks))
}

/// Each row's nearest centroid and its squared distance.
fn nearest(x: &Tensor, c: &Tensor) -> (Tensor, Tensor) {
    let d2 = x
        .square()
        .sum_dim_intlist([1i64].as_slice(), true, Kind::Float)
        - x.matmul(&c.transpose(0, 1)) * 2.0
        + c.square()
            .sum_dim_intlist([1i64].as_slice(), false, Kind::Float)
            .unsqueeze(0);
    let (min, idx) = d2.min_dim(1, false);
    (idx, min.clamp_min(0.0))
}

/// The mean of each bucket's rows; an empty bucket takes half of the largest one (its
/// centroid, nudged apart both ways, as faiss splits it).
fn centroids(
    x: &Tensor,
    labels: &Tensor,
    old: &Tensor,
    rng: &mut rand_chacha::ChaCha8Rng,
) -> Tensor {
    let (k, d) = (old.size()[0], old.size()[1]);
    let sums = Tensor::zeros([k, d], (Kind::Float, Device::Cpu)).index_add(0, labels, x);
    let sizes = Tensor::zeros([k], (Kind::Float, Device::Cpu)).index_add(
        0,
        labels,
        &Tensor::ones([x.size()[0]], (Kind::Float, Device::Cpu)),
    );
    let c = &sums / sizes.clamp_min(1.0).unsqueeze(1);
    let mut size: Vec<f32> = Vec::try_from(&sizes).expect("f32 sizes");
    for e in 0..k as usize {
        if size[e] > 0.0 {
            continue;
        }
        // The largest bucket, chosen with probability by size as faiss does.
        let total: f32 = size.iter().sum();
        let mut r = rand::Rng::gen_range(rng, 0.0..total.max(1e-30));
        let mut big = 0;
        for (j, &sz) in size.iter().enumerate() {
            if r < sz {
                big = j;
                break;
            }
            r -= sz;
        }
        let eps = 1.0 / 1024.0;
        let src = c.get(big as i64);
        c.get(e as i64).copy_(&(&src * (1.0 + eps)));
        c.get(big as i64).copy_(&(&src * (1.0 - eps)));
        size[e] = size[big] / 2.0;
        size[big] -= size[e];
    }
    c
}

/// FED: the Fréchet distance between the Gaussians (sample means, unbiased covariances) of
/// two feature sets, `|mu_a - mu_b|^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2))`, the trace of the
/// root taken as `Tr((A S_b A)^(1/2))`, `A = S_a^(1/2)`, by symmetric eigendecompositions in f64.
pub fn fed(a: &Tensor, b: &Tensor) -> Result<f64> {
    check_features(a, b, 2, "FED")?;
    let _g = tch::no_grad_guard();
    let stats = |x: &Tensor| {
        let x = x.to_kind(Kind::Double);
        let n = x.size()[0];
        let mu = x.mean_dim([0i64].as_slice(), false, Kind::Double);
        let c = &x - mu.unsqueeze(0);
        (mu, c.transpose(0, 1).matmul(&c) / (n - 1) as f64)
    };
    let (mu_a, s_a) = stats(a);
    let (mu_b, s_b) = stats(b);
    let root = sqrt_psd(&s_a);
    let inner = root.matmul(&s_b).matmul(&root);
    let inner = (&inner + inner.transpose(0, 1)) / 2.0;
    let tr_root: f64 = {
        let (values, _) = inner.linalg_eigh("L");
        Vec::<f64>::try_from(values.clamp_min(0.0).sqrt())
            .expect("f64")
            .iter()
            .sum()
    };
    let diff = (&mu_a - &mu_b).square().sum(Kind::Double).double_value(&[]);
    let tr = s_a.trace().double_value(&[]) + s_b.trace().double_value(&[]);
    Ok(diff + tr - 2.0 * tr_root)
}

/// The symmetric square root of a positive semi-definite matrix (eigenvalues below zero, from
/// rounding, taken as zero).
fn sqrt_psd(m: &Tensor) -> Tensor {
    let (values, vectors) = m.linalg_eigh("L");
    let r = values.clamp_min(0.0).sqrt();
    (&vectors * r.unsqueeze(0)).matmul(&vectors.transpose(0, 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_round_as_python_does() {
        assert_eq!(auto_buckets(5), 2);
        assert_eq!(auto_buckets(25), 2); // round(2.5) = 2
        assert_eq!(auto_buckets(35), 4); // round(3.5) = 4
        assert_eq!(auto_buckets(5000), 500);
    }

    #[test]
    fn identical_histograms_score_one() {
        let s = MauveSettings::default();
        let p = [0.2, 0.3, 0.5];
        assert!((mauve_of_histograms(&p, &p, &s) - 1.0).abs() < 1e-12);
        assert_eq!(frontier_integral(&p, &p), 0.0);
        // Disjoint supports: the frontier integral's largest value; MAUVE is the area under
        // x^(1/5) + y^(1/5) = 1 (sampled at 25 points), far below 1.
        let (a, b) = ([1.0, 0.0], [0.0, 1.0]);
        assert!(mauve_of_histograms(&a, &b, &s) < 0.01);
        assert!((frontier_integral(&a, &b) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn fed_of_a_shift_is_its_squared_length() {
        let a = Tensor::randn([500, 4], (Kind::Double, Device::Cpu));
        let b = &a + 3.0;
        assert!((fed(&a, &b).unwrap() - 36.0).abs() < 1e-6);
        assert!(fed(&a, &a).unwrap().abs() < 1e-6);
    }

    #[test]
    fn bad_features_are_refused() {
        let a = Tensor::zeros([10, 4], (Kind::Float, Device::Cpu));
        let b = Tensor::zeros([10, 5], (Kind::Float, Device::Cpu));
        let e = mauve(&a, &b, &MauveSettings::default()).unwrap_err();
        assert!(e.to_string().contains("different widths"), "{e}");
        let one = Tensor::zeros([1, 4], (Kind::Float, Device::Cpu));
        let e = fed(&one, &a).unwrap_err();
        assert!(e.to_string().contains("at least 2"), "{e}");
    }
}
