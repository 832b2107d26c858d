//! Instance noise (Sønderby et al. 2016; Arjovsky and Bottou 2017): Gaussian noise on a
//! discriminator's input embeddings whenever it trains, so real and generated inputs overlap
//! and its gradient stays informative. Evaluation-mode passes see the inputs as they are.
use super::Discriminator;
use crate::data::Condition;
use tch::Tensor;

/// A discriminator whose training-mode passes read `emb + sigma * N(0, I)`.
pub struct NoisyDiscriminator {
    inner: Box<dyn Discriminator>,
    sigma: f64,
}

impl NoisyDiscriminator {
    pub fn new(inner: Box<dyn Discriminator>, sigma: f64) -> Self {
        NoisyDiscriminator { inner, sigma }
    }

    fn noisy(&self, emb: &Tensor, train: bool) -> Tensor {
        match train {
            true => emb + Tensor::randn_like(emb) * self.sigma,
            false => emb.shallow_clone(),
        }
    }
}

impl Discriminator for NoisyDiscriminator {
    fn embed(&self, tokens: &Tensor) -> Tensor {
        self.inner.embed(tokens)
    }

    fn embed_soft(&self, probs: &Tensor) -> Tensor {
        self.inner.embed_soft(probs)
    }

    fn forward_embedded(&self, emb: &Tensor, train: bool) -> Tensor {
        self.inner.forward_embedded(&self.noisy(emb, train), train)
    }

    fn forward_embedded_given(&self, emb: &Tensor, cond: &Condition, train: bool) -> Tensor {
        self.inner
            .forward_embedded_given(&self.noisy(emb, train), cond, train)
    }

    fn features_scored(&self, emb: &Tensor, train: bool) -> Option<(Tensor, Tensor)> {
        self.inner.features_scored(&self.noisy(emb, train), train)
    }

    fn features_scored_given(
        &self,
        emb: &Tensor,
        cond: &Condition,
        train: bool,
    ) -> Option<(Tensor, Tensor)> {
        self.inner
            .features_scored_given(&self.noisy(emb, train), cond, train)
    }

    fn per_token(&self, emb: &Tensor, train: bool) -> Option<Tensor> {
        self.inner.per_token(&self.noisy(emb, train), train)
    }

    fn per_token_given(&self, emb: &Tensor, cond: &Condition, train: bool) -> Option<Tensor> {
        self.inner
            .per_token_given(&self.noisy(emb, train), cond, train)
    }

    fn min_len(&self) -> i64 {
        self.inner.min_len()
    }

    /// Evaluation mode: no noise, and the inner network's shortcut over shared prefixes.
    fn score_completions(&self, base: &Tensor, rows: &Tensor, n: i64) -> Tensor {
        self.inner.score_completions(base, rows, n)
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
