//! How `textgan compare` draws a candidate's samples: plainly, reranked by the run's
//! discriminator, or by residual-energy sampling, with the energy model's NLL-test.
use crate::compare::{Plane, Runs};
use anyhow::Result;
use rand::SeedableRng;
use std::path::Path;
use textgan::infer::guide::{energy_pick, log_partition, logit, top};

/// A way of decoding with the run's generator (and discriminator).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Decode {
    Plain,
    /// The best n of K n samples by the discriminator.
    Rerank(usize),
    /// Each output drawn from K samples by exp(s logit D): K and s.
    Energy(usize, f64),
}

impl Decode {
    pub fn label(self, run: &str) -> String {
        match self {
            Decode::Plain => run.to_string(),
            Decode::Rerank(k) => format!("{run} rerank {k}"),
            Decode::Energy(k, 1.0) => format!("{run} energy {k}"),
            Decode::Energy(k, s) => format!("{run} energy {k} s={s}"),
        }
    }

    fn pool(self) -> usize {
        match self {
            Decode::Plain => 1,
            Decode::Rerank(k) | Decode::Energy(k, _) => k,
        }
    }
}

/// What a draw gave: the rows, the energy model's NLL-test where it has one, and the seconds
/// the decoding took (sampling and the discriminator, not the NLL).
pub type Drawn = (Vec<Vec<i64>>, Option<f64>, f64);

/// `n` samples of the run in `dir` at temperature `t` and seed `seed`, decoded as `decode`
/// says, and for energy sampling on an NLL-test plane the energy model's NLL-test: p_T's summed
/// test NLL, plus the test sentences' energies, plus log Z per sentence, over the tokens.
pub fn draw(
    runs: &mut Runs,
    decode: Decode,
    dir: &Path,
    (n, t, seed): (usize, f64, i64),
    plane: Plane,
) -> Result<Drawn> {
    let clock = std::time::Instant::now();
    let pool = runs.ctx(dir)?.sample(n * decode.pool(), t, seed);
    if decode == Decode::Plain {
        return Ok((pool, None, clock.elapsed().as_secs_f64()));
    }
    let engine = runs.engine(dir)?.expect("kept only with a discriminator");
    let d = engine.d_real(&pool)?;
    let (picks, strength) = match decode {
        Decode::Energy(k, s) => {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed as u64);
            (energy_pick(&d, k, s, &mut rng), s)
        }
        _ => (top(&d, n), 0.0),
    };
    let rows = picks.into_iter().map(|i| pool[i].clone()).collect();
    let secs = clock.elapsed().as_secs_f64();
    let nll = match (decode, plane) {
        (Decode::Energy(..), Plane::Nll | Plane::Grammar | Plane::Oracle) => {
            let (log_z, _) = log_partition(&d, strength);
            Some(energy_nll(runs, dir, t, strength, log_z)?)
        }
        _ => None,
    };
    Ok((rows, nll, secs))
}

/// The energy model's NLL-test per token at temperature `t`: (sum over test sentences of
/// -log p_T(x) - s logit D(x) + log Z) / tokens.
fn energy_nll(runs: &mut Runs, dir: &Path, t: f64, s: f64, log_z: f64) -> Result<f64> {
    if !runs.test_d.contains_key(dir) {
        let test = runs.ctx(dir)?.corpus.test.clone();
        let engine = runs.engine(dir)?.expect("kept only with a discriminator");
        let d = engine.d_real(&test)?;
        runs.test_d.insert(dir.to_path_buf(), d);
    }
    let (total, tokens) = runs.ctx(dir)?.nll_test_total(t);
    let d = &runs.test_d[dir];
    let energy: f64 = d.iter().map(|&p| -s * logit(p)).sum();
    Ok((total + energy + d.len() as f64 * log_z) / tokens.max(1) as f64)
}
