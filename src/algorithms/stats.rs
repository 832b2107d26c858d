//! What an adversarial step reports: [`StepStats`] (defined with the metrics record in
//! `crate::record`), made here from a discriminator update's figures.
use super::disc_side::DStats;
pub use crate::record::StepStats;

impl StepStats {
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
