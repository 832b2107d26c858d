//! Decoding with a discriminator, over a pool of the generator's samples: reranking (keep the
//! texts the discriminator finds most likely real) and residual-energy sampling (Deng et al.,
//! ICLR 2020): sampling-importance-resampling from
//!
//!   p(x) = p_LM(x) exp(-E(x)) / Z,  E(x) = -s logit D(x),
//!
//! D the discriminator's probability that x is real and s a strength (1: the density ratio a
//! discriminator trained to optimality estimates). Each output is drawn from its own group of
//! K samples of the generator, with probability proportional to exp(s logit D). The partition
//! function Z = E_{x ~ p_LM}[exp(s logit D(x))] is estimated from the same kind of samples, so
//! the energy model's NLL of test text is p_LM's plus the energy plus log Z.
use super::errors::{invalid, no_discriminator};
use super::{Draw, Engine, Text};
use crate::error::Result;
use rand::{Rng, SeedableRng};

/// logit D, D clamped to [1e-6, 1 - 1e-6] so that a saturated discriminator stays finite.
pub fn logit(d: f64) -> f64 {
    let d = d.clamp(1e-6, 1.0 - 1e-6);
    (d / (1.0 - d)).ln()
}

/// The indices of the `n` highest `scores`, best first (reranking).
pub fn top(scores: &[f64], n: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&i, &j| scores[j].total_cmp(&scores[i]));
    order.truncate(n);
    order
}

/// log of the sum of exp(xs), stably.
fn log_sum_exp(xs: impl Iterator<Item = f64> + Clone) -> f64 {
    let m = xs.clone().fold(f64::NEG_INFINITY, f64::max);
    if !m.is_finite() {
        return m;
    }
    m + xs.map(|x| (x - m).exp()).sum::<f64>().ln()
}

/// One index per group of `k` consecutive pool entries (D's probabilities `d`), drawn with
/// probability proportional to exp(strength * logit D): sampling-importance-resampling from the
/// energy model. A strength of 0 draws uniformly: plain sampling.
pub fn energy_pick(d: &[f64], k: usize, strength: f64, rng: &mut impl Rng) -> Vec<usize> {
    let k = k.max(1);
    d.chunks(k)
        .enumerate()
        .map(|(g, group)| {
            let w: Vec<f64> = group.iter().map(|&p| strength * logit(p)).collect();
            let lse = log_sum_exp(w.iter().copied());
            let mut u: f64 = rng.gen();
            let mut pick = group.len() - 1;
            for (i, &wi) in w.iter().enumerate() {
                u -= (wi - lse).exp();
                if u <= 0.0 {
                    pick = i;
                    break;
                }
            }
            g * k + pick
        })
        .collect()
}

/// log Z estimated from samples of the generator (D's probabilities `d`): the log of the mean
/// of exp(strength * logit D), with the relative standard error of that mean (its standard
/// error over the mean, from the samples' spread).
pub fn log_partition(d: &[f64], strength: f64) -> (f64, f64) {
    let w: Vec<f64> = d.iter().map(|&p| strength * logit(p)).collect();
    let n = w.len() as f64;
    let log_z = log_sum_exp(w.iter().copied()) - n.ln();
    // exp(w - log Z) has mean 1: its spread is the relative spread of the weights.
    let var = w
        .iter()
        .map(|x| ((x - log_z).exp() - 1.0).powi(2))
        .sum::<f64>()
        / (n - 1.0).max(1.0);
    (log_z, (var / n).sqrt())
}

impl Engine {
    /// Residual-energy sampling: each of `draw.n` texts drawn from its own `k` samples of the
    /// generator with probability proportional to exp(strength logit D) (see the module). The
    /// draw's seed seeds the resampling too; without one, it is fresh each time.
    pub fn energy(&self, draw: Draw, k: usize, strength: f64) -> Result<Vec<Text>> {
        if !self.has_discriminator() {
            return Err(no_discriminator("energy sampling"));
        }
        if !(strength.is_finite() && strength >= 0.0) {
            return Err(invalid(format!(
                "the energy's strength must be a finite number at least 0, got {strength}"
            )));
        }
        if draw.label.is_none() && !self.gen.vocab.labels.is_empty() {
            return Err(invalid(
                "energy sampling on a labelled run draws under one label: give a label",
            ));
        }
        let seed = draw.seed.unwrap_or_else(rand::random);
        let all = Draw {
            n: draw.n.saturating_mul(k.max(1)),
            discriminator: true,
            ..draw
        };
        let texts = self.generate(&[&self.prepare(all)?]).remove(0);
        let d: Vec<f64> = texts.iter().map(|t| t.d.unwrap_or(0.5)).collect();
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed as u64);
        let picks = energy_pick(&d, k, strength, &mut rng);
        Ok(picks.into_iter().map(|i| texts[i].clone()).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn reranking_keeps_the_best_first() {
        assert_eq!(top(&[0.2, 0.9, 0.5, 0.1], 2), vec![1, 2]);
    }

    /// With weights proportional to D / (1 - D), a group of (0.5, 0.8) draws its second member
    /// with probability 4 / 5; a strength of 0 draws uniformly.
    #[test]
    fn energy_sampling_draws_in_proportion_to_the_density_ratio() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let pool: Vec<f64> = [0.5, 0.8].repeat(20_000);
        let picks = energy_pick(&pool, 2, 1.0, &mut rng);
        assert_eq!(picks.len(), 20_000);
        assert!(picks.iter().enumerate().all(|(g, &i)| i / 2 == g));
        let second = picks.iter().filter(|&&i| i % 2 == 1).count() as f64 / 20_000.0;
        assert!((second - 0.8).abs() < 0.01, "{second}");
        let uniform = energy_pick(&pool, 2, 0.0, &mut rng);
        let second = uniform.iter().filter(|&&i| i % 2 == 1).count() as f64 / 20_000.0;
        assert!((second - 0.5).abs() < 0.01, "{second}");
    }

    /// Z = mean of D / (1 - D): (1 + 4) / 2 for D = 0.5 and 0.8; s = 0 gives Z = 1 exactly.
    #[test]
    fn the_partition_function_is_the_mean_weight() {
        let (log_z, se) = log_partition(&[0.5, 0.8], 1.0);
        assert!((log_z - 2.5f64.ln()).abs() < 1e-9);
        // Weights 0.4 and 1.6 (over Z): sample variance 0.72, over 2 samples.
        assert!((se - (0.72f64 / 2.0).sqrt()).abs() < 1e-9, "{se}");
        assert_eq!(log_partition(&[0.3, 0.9], 0.0), (0.0, 0.0));
        assert!(logit(1.0).is_finite() && logit(0.0).is_finite());
    }
}
