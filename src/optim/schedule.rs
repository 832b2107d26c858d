//! Learning-rate schedules: constant, cosine with linear warm-up, and reduce-on-plateau.
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ScheduleKind {
    Constant,
    /// Linear warm-up over `warmup_steps`, then cosine decay to `min_lr` at the last step.
    Cosine,
    /// Multiply the rate by `plateau_factor` when test NLL has not improved for `plateau_patience` evaluations.
    Plateau,
}

/// What a [`Schedule`] is made from (the `[train]` section's rate settings).
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleConfig {
    pub kind: ScheduleKind,
    pub lr: f64,
    pub min_lr: f64,
    pub warmup_steps: usize,
    pub plateau_factor: f64,
    pub plateau_patience: usize,
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        ScheduleConfig {
            kind: ScheduleKind::Constant,
            lr: 3e-3,
            min_lr: 0.0,
            warmup_steps: 0,
            plateau_factor: 0.5,
            plateau_patience: 2,
        }
    }
}

/// The schedule's state; plateau tracking is saved in checkpoints so a resumed run keeps it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Schedule {
    kind: ScheduleKind,
    base_lr: f64,
    min_lr: f64,
    warmup: usize,
    total: usize,
    factor: f64,
    patience: usize,
    /// Reduce-on-plateau: the current multiplier, the best metric so far and evaluations since it.
    pub scale: f64,
    pub best: Option<f64>,
    pub bad_evals: usize,
}

impl Schedule {
    /// `total` is the number of optimizer steps of the whole run (for cosine decay).
    pub fn new(cfg: &ScheduleConfig, total: usize) -> Self {
        Schedule {
            kind: cfg.kind,
            base_lr: cfg.lr,
            min_lr: cfg.min_lr,
            warmup: cfg.warmup_steps,
            total: total.max(1),
            factor: cfg.plateau_factor,
            patience: cfg.plateau_patience,
            scale: 1.0,
            best: None,
            bad_evals: 0,
        }
    }

    /// Learning rate for optimizer step `step` (0-based).
    pub fn lr(&self, step: usize) -> f64 {
        let warm = if self.warmup > 0 && step < self.warmup {
            (step + 1) as f64 / self.warmup as f64
        } else {
            1.0
        };
        match self.kind {
            ScheduleKind::Constant => self.base_lr * warm,
            ScheduleKind::Plateau => (self.base_lr * self.scale).max(self.min_lr) * warm,
            ScheduleKind::Cosine => {
                if step < self.warmup {
                    return self.base_lr * warm;
                }
                let span = self.total.saturating_sub(self.warmup).max(1) as f64;
                let progress = ((step - self.warmup) as f64 / span).min(1.0);
                self.min_lr
                    + 0.5
                        * (self.base_lr - self.min_lr)
                        * (1.0 + (std::f64::consts::PI * progress).cos())
            }
        }
    }

    /// Reports an evaluation metric (lower is better); returns true when the rate was reduced.
    pub fn observe(&mut self, metric: f64) -> bool {
        if self.kind != ScheduleKind::Plateau || !metric.is_finite() {
            return false;
        }
        match self.best {
            Some(b) if metric >= b * (1.0 - 1e-4) => {
                self.bad_evals += 1;
                if self.bad_evals > self.patience {
                    self.scale *= self.factor;
                    self.bad_evals = 0;
                    return true;
                }
                false
            }
            _ => {
                self.best = Some(metric);
                self.bad_evals = 0;
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cosine_warms_up_then_decays_to_min() {
        let cfg = ScheduleConfig {
            lr: 1.0,
            min_lr: 0.1,
            warmup_steps: 10,
            kind: ScheduleKind::Cosine,
            ..Default::default()
        };
        let s = Schedule::new(&cfg, 110);
        assert!((s.lr(0) - 0.1).abs() < 1e-12);
        assert!((s.lr(9) - 1.0).abs() < 1e-12);
        assert!((s.lr(60) - 0.55).abs() < 1e-12); // half way: min + (max - min) / 2
        assert!((s.lr(110) - 0.1).abs() < 1e-12);
    }

    #[test]
    fn plateau_reduces_after_patience() {
        let cfg = ScheduleConfig {
            lr: 1.0,
            kind: ScheduleKind::Plateau,
            plateau_patience: 1,
            plateau_factor: 0.5,
            ..Default::default()
        };
        let mut s = Schedule::new(&cfg, 100);
        assert!(!s.observe(5.0));
        assert!(!s.observe(4.0));
        assert!(!s.observe(4.5));
        assert!(s.observe(4.2));
        assert_eq!(s.lr(50), 0.5);
        assert!(!s.observe(3.0));
        assert_eq!(s.lr(50), 0.5);
    }
}
