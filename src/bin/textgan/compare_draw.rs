//! How `textgan compare` draws a candidate's samples: plainly, reranked by the run's
//! discriminator, or by residual-energy sampling, with the energy model's NLL-test; and the
//! runs it draws from, each loaded once.
use crate::compare::Plane;
use anyhow::Result;
use rand::SeedableRng;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use textgan::infer::guide::{energy_pick, log_partition, logit, top};
use textgan::run::RunContext;

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
    let (total, tokens) = runs.nll_test(dir, t)?;
    let d = &runs.test_d[dir];
    let energy: f64 = d.iter().map(|&p| -s * logit(p)).sum();
    Ok((total + energy + d.len() as f64 * log_z) / tokens.max(1) as f64)
}

/// Loaded runs by directory, each loaded once.
pub struct Runs {
    device: tch::Device,
    pub ctx: HashMap<PathBuf, RunContext>,
    pub engines: HashMap<PathBuf, textgan::infer::Engine>,
    /// The discriminator's probabilities of a run's test sentences (for energy NLLs).
    pub test_d: HashMap<PathBuf, Vec<f64>>,
    /// A run's summed test NLL and its tokens by temperature (no sampling: the same at
    /// every seed and for every candidate, so computed once).
    nll: HashMap<(PathBuf, u64), (f64, i64)>,
}

impl Runs {
    pub fn new(device: tch::Device) -> Self {
        Runs {
            device,
            ctx: HashMap::new(),
            engines: HashMap::new(),
            test_d: HashMap::new(),
            nll: HashMap::new(),
        }
    }

    pub fn ctx(&mut self, dir: &Path) -> Result<&RunContext> {
        if !self.ctx.contains_key(dir) {
            let c = RunContext::load(dir, self.device)
                .map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?;
            self.ctx.insert(dir.to_path_buf(), c);
        }
        Ok(&self.ctx[dir])
    }

    /// The run's summed test NLL at temperature `t` and the tokens it counts.
    pub fn nll_test(&mut self, dir: &Path, t: f64) -> Result<(f64, i64)> {
        let key = (dir.to_path_buf(), t.to_bits());
        if !self.nll.contains_key(&key) {
            let v = self.ctx(dir)?.nll_test_total(t);
            self.nll.insert(key.clone(), v);
        }
        Ok(self.nll[&key])
    }

    /// The coverage of the NLL-test planes at `t` (NaN on the bleu plane, which has none).
    pub fn coverage(&mut self, dir: &Path, plane: Plane, t: f64) -> Result<f64> {
        if plane == Plane::Bleu {
            return Ok(f64::NAN);
        }
        let (total, tokens) = self.nll_test(dir, t)?;
        Ok(match tokens {
            0 => f64::NAN,
            n => total / n as f64,
        })
    }

    /// The served form of a run with a discriminator (`None`: the run has none).
    pub fn engine(&mut self, dir: &Path) -> Result<Option<&textgan::infer::Engine>> {
        if !self.engines.contains_key(dir) {
            let e = textgan::infer::Engine::load(dir, self.device)?;
            self.engines.insert(dir.to_path_buf(), e);
        }
        let e = &self.engines[dir];
        Ok(e.has_discriminator().then_some(e))
    }
}
