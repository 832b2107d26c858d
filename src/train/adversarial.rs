//! The adversarial phase of a run: the shared loop around any [`Algorithm`] step, with
//! discriminator pretraining, evaluation, warnings about collapse, and checkpoints.
use super::{Hooks, Session};
use crate::algorithms::{self, Ctx, Stats};
use crate::config::Algorithm as Kind;
use crate::error::Result;
use rand::SeedableRng;
use serde_json::json;
use std::collections::BTreeMap;
use std::time::Instant;

/// Means of the step statistics since the last evaluation.
#[derive(Default)]
struct StatsWindow {
    sums: BTreeMap<String, f64>,
    steps: usize,
    seconds: f64,
}

impl StatsWindow {
    fn add(&mut self, s: &Stats, seconds: f64) {
        for (k, v) in s {
            *self.sums.entry(k.clone()).or_insert(0.0) += v;
        }
        self.steps += 1;
        self.seconds += seconds;
    }

    fn means(&self) -> serde_json::Map<String, serde_json::Value> {
        let n = self.steps.max(1) as f64;
        self.sums
            .iter()
            .map(|(k, v)| (k.clone(), json!(v / n)))
            .collect()
    }
}

impl Session {
    /// Trains the whole run: MLE pretraining, then the adversarial phase if one is configured.
    pub fn run(&mut self, hooks: &mut dyn Hooks) -> Result<serde_json::Value> {
        let mle_total = self.total_steps();
        let adv_total = if self.cfg.gan.algorithm == Kind::None {
            0
        } else {
            self.cfg.gan.steps
        };
        if self.progress.step >= mle_total && self.progress.adv_step >= adv_total {
            let m = format!(
                "the run is complete ({} MLE and {} adversarial steps); raise --max-steps, train.epochs or gan.steps to go on",
                self.progress.step, self.progress.adv_step
            );
            self.message(hooks, &m);
            return Ok(self.last_metrics.clone());
        }
        let mut out = self.train_mle(hooks)?;
        if self.progress.adv_step < adv_total {
            out = self.train_adversarial(hooks)?;
        }
        Ok(out)
    }

    fn adv_ctx<'a>(&'a self, rng: &'a mut rand_chacha::ChaCha8Rng) -> Ctx<'a> {
        Ctx {
            gen: &self.model,
            real: &self.corpus.train,
            device: self.device,
            step: self.progress.adv_step,
            total: self.cfg.gan.steps,
            rng,
        }
    }

    fn seed_step(&self, salt: u64) -> rand_chacha::ChaCha8Rng {
        let s = self
            .cfg
            .train
            .seed
            .wrapping_mul(0x5851_F42D)
            .wrapping_add(salt);
        tch::manual_seed(s as i64);
        rand_chacha::ChaCha8Rng::seed_from_u64(s)
    }

    /// Runs `gan.steps` adversarial steps of the configured algorithm.
    pub fn train_adversarial(&mut self, hooks: &mut dyn Hooks) -> Result<serde_json::Value> {
        let total = self.cfg.gan.steps;
        let mut algo = match self.algo.take() {
            Some(a) => a,
            None => {
                let a = algorithms::build(
                    &self.cfg,
                    &self.model,
                    &self.corpus.vocab,
                    self.progress.max_len,
                    self.device,
                )
                .expect("train_adversarial runs only with an algorithm");
                let m = format!(
                    "adversarial phase: {:?} for {total} steps, discriminator {:?}",
                    self.cfg.gan.algorithm, self.cfg.discriminator
                );
                self.message(hooks, &m);
                a
            }
        };
        if self.progress.phase != "adv" {
            self.progress.phase = "adv".into();
            let pre = self.cfg.gan.d_pretrain_steps;
            let unit = match self.cfg.gan.d_epochs {
                0 => "updates".to_string(),
                e => format!(
                    "rounds of {e} epochs over {} fresh samples",
                    self.cfg.gan.d_samples
                ),
            };
            if pre > 0 {
                self.message(
                    hooks,
                    &format!("pretraining the discriminator: {pre} {unit}"),
                );
                hooks.on_start(0, pre);
            }
            for i in 0..pre {
                let mut rng = self.seed_step(1 << 40 | i as u64);
                let mut ctx = self.adv_ctx(&mut rng);
                let s = algo.d_step(&mut ctx);
                hooks.on_step(
                    i + 1,
                    s.get("d_loss").copied().unwrap_or(f64::NAN),
                    self.cfg.gan.d_lr,
                );
                if i + 1 == pre {
                    let m = format!("discriminator pretrained for {pre} {unit}: {s:?}");
                    self.message(hooks, &m);
                }
            }
            // The starting point, with the generator as MLE left it.
            self.algo = Some(algo);
            let metrics = self.evaluate()?;
            self.record(hooks, metrics)?;
            algo = self.algo.take().expect("put back above");
        } else {
            let m = format!(
                "resuming the adversarial phase at step {}",
                self.progress.adv_step
            );
            self.message(hooks, &m);
        }
        hooks.on_start(self.progress.adv_step, total);
        let eval_every = self.cfg.gan.eval_every.max(1);
        let mut window = StatsWindow::default();
        // Collapse is judged against the starting point (step 0, the MLE generator).
        let mut first_self_bleu = self.start_self_bleu();
        while self.progress.adv_step < total {
            let t0 = Instant::now();
            let mut rng = self.seed_step(self.progress.adv_step as u64);
            let stats = {
                let mut ctx = self.adv_ctx(&mut rng);
                algo.step(&mut ctx)
            };
            window.add(&stats, t0.elapsed().as_secs_f64());
            self.progress.adv_step += 1;
            hooks.on_step(
                self.progress.adv_step,
                stats.get("g_loss").copied().unwrap_or(f64::NAN),
                self.cfg.gan.g_lr,
            );
            if self.progress.adv_step.is_multiple_of(eval_every) || self.progress.adv_step == total
            {
                self.algo = Some(algo);
                let mut metrics = self.evaluate()?;
                for (k, v) in window.means() {
                    metrics[k] = v;
                }
                metrics["step_s"] = json!(window.seconds / window.steps.max(1) as f64);
                self.warn(hooks, &metrics, &mut first_self_bleu);
                window = StatsWindow::default();
                self.record(hooks, metrics)?;
                algo = self.algo.take().expect("put back above");
            }
        }
        self.algo = Some(algo);
        Ok(self.last_metrics.clone())
    }

    /// Mode collapse and a discriminator that wins outright are logged as they appear.
    /// Self-BLEU-4 at the adversarial phase's step 0, from `metrics.jsonl` (so also on resume).
    fn start_self_bleu(&self) -> Option<f64> {
        let text = std::fs::read_to_string(self.dir.join("metrics.jsonl")).ok()?;
        text.lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|m| m["phase"] == "adv")
            .and_then(|m| m["self_bleu"][2].as_f64())
    }

    fn warn(&mut self, hooks: &mut dyn Hooks, m: &serde_json::Value, first: &mut Option<f64>) {
        let step = self.progress.adv_step;
        if let Some(sb) = m["self_bleu"][2].as_f64() {
            match *first {
                None => *first = Some(sb),
                Some(f) if sb > f + 0.1 => {
                    let msg = format!("warning: step {step}: Self-BLEU-4 rose from {f:.3} to {sb:.3}: the generator may be collapsing onto few sentences");
                    self.message(hooks, &msg);
                }
                _ => {}
            }
        }
        let (r, f) = (
            m["d_real_acc"].as_f64().unwrap_or(0.0),
            m["d_fake_acc"].as_f64().unwrap_or(0.0),
        );
        if r > 0.99 && f > 0.99 {
            let msg = format!("warning: step {step}: the discriminator wins outright (real {r:.3}, fake {f:.3}): its signal to the generator may vanish");
            self.message(hooks, &msg);
        }
    }
}
