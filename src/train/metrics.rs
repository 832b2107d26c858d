//! A metrics record, one line of `metrics.jsonl` per evaluation, and the windows that gather
//! the training figures between two evaluations.
use crate::algorithms::StepStats;
use crate::checkpoint::Phase;
use serde::{Deserialize, Serialize};
use std::time::Instant;
use tch::Tensor;

/// One evaluation: where the run stood, what the evaluation measured, and the training figures
/// since the previous one. Absent figures are left out of the line (`test_nll` is `null` when
/// the run has no test data).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    pub step: usize,
    pub epoch: usize,
    pub phase: Phase,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adv_step: Option<usize>,
    /// NLL per token of the test data (nats).
    #[serde(default)]
    pub test_nll: Option<f64>,
    /// The evaluation's samples, relative to the run directory.
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

/// MLE loss and throughput since the last evaluation. The loss stays on the device and is read
/// only when reported, so the GPU is not made to wait every step.
#[derive(Default)]
pub(crate) struct MleWindow {
    loss_sum: Option<Tensor>,
    steps: usize,
    tokens: i64,
    pub seconds: f64,
}

impl MleWindow {
    pub fn add(&mut self, loss: &Tensor, tokens: i64, t0: Instant) {
        self.loss_sum = Some(match self.loss_sum.take() {
            Some(s) => s + loss,
            None => loss.shallow_clone(),
        });
        self.steps += 1;
        self.tokens += tokens;
        self.seconds += t0.elapsed().as_secs_f64();
    }

    pub fn loss(&self) -> f64 {
        match &self.loss_sum {
            Some(s) if self.steps > 0 => s.double_value(&[]) / self.steps as f64,
            _ => f64::NAN,
        }
    }

    pub fn tokens_per_s(&self) -> f64 {
        if self.seconds > 0.0 {
            self.tokens as f64 / self.seconds
        } else {
            0.0
        }
    }
}

/// Means of the adversarial step figures since the last evaluation.
#[derive(Default)]
pub(crate) struct AdvWindow {
    sums: StepStats,
    pub steps: usize,
    pub seconds: f64,
}

impl AdvWindow {
    pub fn add(&mut self, s: &StepStats, seconds: f64) {
        self.sums.add(s);
        self.steps += 1;
        self.seconds += seconds;
    }

    pub fn means(&self) -> StepStats {
        let mut m = self.sums.clone();
        m.scale(1.0 / self.steps.max(1) as f64);
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The line's shape: `test_nll` always present (null without test data), absent figures
    /// left out, the step figures flat beside the rest.
    #[test]
    fn a_record_serializes_flat_and_reads_back() {
        let mut m = Metrics {
            step: 4,
            phase: Phase::Adv,
            adv_step: Some(2),
            samples: "samples/adv-0000002.txt".into(),
            ..Default::default()
        };
        m.adv.g_loss = Some(1.5);
        m.adv.extra.insert("reward".into(), 0.25);
        let v = serde_json::to_value(&m).unwrap();
        assert_eq!(v["phase"], "adv");
        assert!(v["test_nll"].is_null() && v.get("test_nll").is_some());
        assert!(v.get("train_loss").is_none());
        assert_eq!(v["g_loss"], 1.5);
        assert_eq!(v["reward"], 0.25);
        let back: Metrics = serde_json::from_value(v).unwrap();
        assert_eq!(back, m);
    }
}
