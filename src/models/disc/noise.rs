//! Instance noise (Sønderby et al. 2016; Arjovsky and Bottou 2017): Gaussian noise on a
//! discriminator's input embeddings whenever it trains, so real and generated inputs overlap
//! and its gradient stays informative. Evaluation-mode passes see the inputs as they are.
use super::wrap::{InputTransform, Wrapped};
use super::Discriminator;
use crate::data::Condition;
use tch::Tensor;

/// Gaussian noise of standard deviation `sigma` on the embeddings, in training mode only.
pub struct Noise {
    sigma: f64,
}

impl InputTransform for Noise {
    fn apply(&self, emb: &Tensor, _cond: &Condition, train: bool) -> Tensor {
        match train {
            true => emb + Tensor::randn_like(emb) * self.sigma,
            false => emb.shallow_clone(),
        }
    }
    fn consumes_condition(&self) -> bool {
        false
    }
}

/// A discriminator whose training-mode passes read `emb + sigma * N(0, I)`.
pub type NoisyDiscriminator = Wrapped<Noise>;

impl NoisyDiscriminator {
    pub fn new(inner: Box<dyn Discriminator>, sigma: f64) -> Self {
        Wrapped {
            inner,
            how: Noise { sigma },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::disc::{DiscriminatorModel, LstmDiscConfig};
    use tch::{Device, Kind};

    /// Evaluation-mode scores are the inner network's; training-mode scores move with the
    /// noise by about what it should (none at sigma 0), and the noise reaches the inputs only.
    #[test]
    fn noise_only_when_training() {
        tch::manual_seed(0);
        let cfg = crate::models::disc::DiscriminatorConfig::Lstm(LstmDiscConfig {
            embed_dim: 6,
            hidden_dim: 5,
            dropout: 0.0,
        });
        let ids = Tensor::randint(9, [4, 7], (Kind::Int64, Device::Cpu));
        for sigma in [0.0, 0.5] {
            let DiscriminatorModel { vs: _vs, net } =
                DiscriminatorModel::new(&cfg, 9, 7, Device::Cpu);
            let plain = net.score(&ids, true);
            let noisy = NoisyDiscriminator::new(net, sigma);
            let eval = noisy.score(&ids, false);
            assert!((&eval - &plain).abs().max().double_value(&[]) < 1e-6);
            let moved = (noisy.score(&ids, true) - &plain)
                .abs()
                .max()
                .double_value(&[]);
            assert_eq!(moved > 1e-4, sigma > 0.0, "sigma {sigma}: {moved}");
            let per = noisy.per_token(&noisy.embed(&ids), false).unwrap();
            assert_eq!(per.size(), vec![4, 7]);
        }
    }
}
