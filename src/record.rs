//! The records a run writes and every reader reads back typed: one [`Metrics`] line of
//! `metrics.jsonl` per evaluation, with the adversarial step's figures ([`StepStats`]) flat
//! beside the rest, and the [`Phase`] it belongs to. Below `eval` and `algorithms`, so the
//! plots, the report, the server and the run loop read the same type (no string keys).
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// The phases of a run, in order.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// Maximum-likelihood training (teacher forcing).
    #[default]
    Mle,
    /// The adversarial phase.
    Adv,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StepStats {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub g_loss: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub d_loss: Option<f64>,
    /// Fractions of real and generated inputs D judged correctly, by its loss's decision rule.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub d_real_acc: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub d_fake_acc: Option<f64>,
    /// D's gradient norm before clipping, when `gan.d_grad_clip` clips.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub d_grad_norm: Option<f64>,
    /// The Gumbel-softmax inverse temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub beta: Option<f64>,
    /// An algorithm's own scalars (SeqGAN's mean reward, ScratchGAN's mean return).
    #[serde(flatten)]
    pub extra: BTreeMap<String, f64>,
}

impl StepStats {
    /// The figures present, for a person: `d_loss 1.3823, d_real_acc 0.6875, mmd2 0.1699`.
    pub fn summary(&self) -> String {
        let named = [
            ("g_loss", self.g_loss),
            ("d_loss", self.d_loss),
            ("d_real_acc", self.d_real_acc),
            ("d_fake_acc", self.d_fake_acc),
            ("d_grad_norm", self.d_grad_norm),
            ("beta", self.beta),
        ];
        let fixed = named
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k.to_string(), v)));
        let extra = self.extra.iter().map(|(k, v)| (k.clone(), *v));
        let parts: Vec<String> = fixed
            .chain(extra)
            .map(|(k, v)| format!("{k} {v:.4}"))
            .collect();
        match parts.is_empty() {
            true => "no figures".into(),
            false => parts.join(", "),
        }
    }

    /// A generator update's figures.
    pub fn g(loss: f64) -> Self {
        StepStats {
            g_loss: Some(loss),
            ..Default::default()
        }
    }

    /// The figures `later` has replace these (a step reports its last update of each kind).
    pub fn update(&mut self, later: StepStats) {
        self.zip_with(&later, |a, b| b.or(a));
        self.extra.extend(later.extra);
    }

    /// Adds `other`'s figures to these (a field missing on one side counts as 0).
    pub fn add(&mut self, other: &StepStats) {
        self.zip_with(other, |a, b| match (a, b) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0.0) + b.unwrap_or(0.0)),
        });
        for (k, v) in &other.extra {
            *self.extra.entry(k.clone()).or_insert(0.0) += v;
        }
    }

    /// Every figure times `f`.
    pub fn scale(&mut self, f: f64) {
        self.zip_with(&StepStats::default(), |a, _| a.map(|x| x * f));
        self.extra.values_mut().for_each(|v| *v *= f);
    }

    fn zip_with(&mut self, o: &StepStats, f: impl Fn(Option<f64>, Option<f64>) -> Option<f64>) {
        self.g_loss = f(self.g_loss, o.g_loss);
        self.d_loss = f(self.d_loss, o.d_loss);
        self.d_real_acc = f(self.d_real_acc, o.d_real_acc);
        self.d_fake_acc = f(self.d_fake_acc, o.d_fake_acc);
        self.d_grad_norm = f(self.d_grad_norm, o.d_grad_norm);
        self.beta = f(self.beta, o.beta);
    }
}

/// One evaluation: where the run stood, what the evaluation measured, and the training figures
/// since the previous one. Absent figures are left out of the line (`test_nll` is `null` when
/// the run has no test data).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    #[serde(default)]
    pub step: usize,
    #[serde(default)]
    pub epoch: usize,
    pub phase: Phase,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adv_step: Option<usize>,
    /// NLL per token of the test data (nats).
    #[serde(default)]
    pub test_nll: Option<f64>,
    /// The evaluation's samples, relative to the run directory.
    #[serde(default)]
    pub samples: String,
    /// Oracle NLL of generated sequences (the oracle benchmark).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nll_oracle: Option<f64>,
    /// BLEU-2..5 of the samples against the test data, and Self-BLEU-2..5 among them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bleu: Option<Vec<f64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub self_bleu: Option<Vec<f64>>,
    /// Parallel corpora: sacreBLEU and chrF of greedy translations of the test sources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sacrebleu: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chrf: Option<f64>,
    /// Grammar benchmark: mean per-token NLL of the samples the grammar derives, under the
    /// grammar (quality), and the fraction it derives (validity).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grammar_nll: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub validity: Option<f64>,
    /// Seconds the evaluation took.
    #[serde(default)]
    pub eval_s: f64,
    /// MLE: mean training loss, learning rate, throughput and seconds of training since the last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_loss: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lr: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_per_s: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_s: Option<f64>,
    /// Adversarial: the step figures' means since the last evaluation.
    #[serde(flatten)]
    pub adv: StepStats,
    /// The divergence guard: steps with a skipped update since the last evaluation, and
    /// rollbacks so far (absent when none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped_steps: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollbacks: Option<u32>,
    /// Adversarial: mean seconds per step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_s: Option<f64>,
}

impl Metrics {
    /// BLEU-4 and Self-BLEU-4, where measured.
    pub fn bleu4(&self) -> Option<(f64, f64)> {
        Some((
            *self.bleu.as_ref()?.get(2)?,
            *self.self_bleu.as_ref()?.get(2)?,
        ))
    }
}

/// The records of a `metrics.jsonl` file, in order; none without the file. A line that is not
/// a record (cut short by a crash, written by something else) is skipped.
pub fn read_records(path: &Path) -> Vec<Metrics> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}
