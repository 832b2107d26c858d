//! The windows that gather the training figures between two evaluations; the record they go
//! into ([`Metrics`], one line of `metrics.jsonl`) is `crate::record`'s.
pub use crate::record::Metrics;
use crate::record::StepStats;
use std::time::Instant;
use tch::Tensor;

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
    use crate::record::Phase;

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
