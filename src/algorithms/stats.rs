//! What an adversarial step reports: typed scalars for what the loop reads (losses, the
//! discriminator's accuracies, the Gumbel temperature) and named extras for an algorithm's own.
use super::disc_side::DStats;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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

    /// A discriminator update's figures.
    pub fn from_d(s: DStats) -> Self {
        StepStats {
            d_loss: Some(s.loss),
            d_real_acc: Some(s.real_acc),
            d_fake_acc: Some(s.fake_acc),
            d_grad_norm: s.grad_norm,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_figures_replace_and_means_divide_sums() {
        let mut a = StepStats {
            g_loss: Some(1.0),
            d_loss: Some(2.0),
            ..Default::default()
        };
        a.extra.insert("reward".into(), 0.5);
        a.update(StepStats {
            d_loss: Some(3.0),
            ..Default::default()
        });
        assert_eq!((a.g_loss, a.d_loss), (Some(1.0), Some(3.0)));
        let mut sum = StepStats::default();
        sum.add(&a);
        sum.add(&a);
        sum.scale(0.5);
        assert_eq!(sum, a);
        let json = serde_json::to_value(&a).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"g_loss": 1.0, "d_loss": 3.0, "reward": 0.5})
        );
    }
}
