//! Discriminators behind one [`Discriminator`] trait.
//!
//! Every discriminator reads embeddings, so token ids (`embed`) and soft one-hot rows from a
//! Gumbel-softmax generator (`embed_soft`, the same table) reach it the same way: any
//! generator meets any discriminator. Scores are raw logits, `[B, K]` with K heads per
//! sequence (K > 1 for RelGAN's multiple representations), or `[B, T]` per token.
mod cnn;
mod cnn_prefix;
mod fused;
mod lstm;
mod mlp;
mod noise;
mod pair;
mod transformer;
pub mod trunk;
pub mod wrap;

pub use cnn::{CnnDiscConfig, CnnDiscriminator, Highway};
pub use fused::twice_differentiable;
pub use lstm::{LstmDiscConfig, LstmDiscriminator};
pub use mlp::{MlpDiscConfig, MlpDiscriminator};
pub use noise::NoisyDiscriminator;
pub use pair::PairDiscriminator;
pub use transformer::TransformerDiscriminator;

use crate::data::Condition;
use serde::{Deserialize, Serialize};
use tch::{nn, Device, Tensor};

/// The discriminator network; `kind` picks the architecture.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum DiscriminatorConfig {
    Cnn(CnnDiscConfig),
    Lstm(LstmDiscConfig),
    Mlp(MlpDiscConfig),
    Transformer(crate::models::TransformerConfig),
}

impl Default for DiscriminatorConfig {
    fn default() -> Self {
        DiscriminatorConfig::Cnn(CnnDiscConfig::default())
    }
}

impl DiscriminatorConfig {
    /// The chosen network's range checks.
    pub fn validate(&self) -> crate::Result<()> {
        match self {
            DiscriminatorConfig::Cnn(c) => c.validate(),
            DiscriminatorConfig::Lstm(c) => c.validate(),
            DiscriminatorConfig::Mlp(c) => c.validate(),
            DiscriminatorConfig::Transformer(c) => c.validate("discriminator"),
        }
    }

    /// Whether the network scores every token ([`Discriminator::per_token`]), known before it
    /// is built (a test checks it against the built networks).
    pub fn scores_per_token(&self) -> bool {
        matches!(self, DiscriminatorConfig::Lstm(_))
    }
}

pub trait Discriminator: Send {
    /// Token embeddings: [B, T] ids -> [B, T, E].
    fn embed(&self, tokens: &Tensor) -> Tensor;

    /// Soft one-hot rows through the same table: [B, T, V] -> [B, T, E].
    fn embed_soft(&self, probs: &Tensor) -> Tensor;

    /// Sequence scores from embeddings: [B, T, E] -> [B, K] logits.
    fn forward_embedded(&self, emb: &Tensor, train: bool) -> Tensor;

    /// Sequence scores under a condition (a pair discriminator reads the source, a class
    /// discriminator the label); unconditional networks ignore it.
    fn forward_embedded_given(&self, emb: &Tensor, _cond: &Condition, train: bool) -> Tensor {
        self.forward_embedded(emb, train)
    }

    /// Sequence scores of token ids under a condition: [B, T] -> [B, K].
    fn score_given(&self, tokens: &Tensor, cond: &Condition, train: bool) -> Tensor {
        self.forward_embedded_given(&self.embed(tokens), cond, train)
    }

    /// The feature vector [B, F] a final linear layer scores, with the scores [B, K] of the
    /// same pass: the CNN's highway output (before its dropout), where TextGAN matches
    /// moments. `None` where the network has no such vector.
    fn features_scored(&self, _emb: &Tensor, _train: bool) -> Option<(Tensor, Tensor)> {
        None
    }

    /// [`Discriminator::features_scored`] under a condition; unconditional networks ignore it.
    fn features_scored_given(
        &self,
        emb: &Tensor,
        _cond: &Condition,
        train: bool,
    ) -> Option<(Tensor, Tensor)> {
        self.features_scored(emb, train)
    }

    /// Per-token scores [B, T] (token t judged on tokens 0..=t), where the network has them.
    fn per_token(&self, _emb: &Tensor, _train: bool) -> Option<Tensor> {
        None
    }

    /// Per-token scores under a condition; unconditional networks ignore it.
    fn per_token_given(&self, emb: &Tensor, _cond: &Condition, train: bool) -> Option<Tensor> {
        self.per_token(emb, train)
    }

    /// Shortest input the network accepts (the CNN's widest filter).
    fn min_len(&self) -> i64 {
        1
    }

    /// Sequence scores of token ids: [B, T] -> [B, K].
    fn score(&self, tokens: &Tensor, train: bool) -> Tensor {
        self.forward_embedded(&self.embed(tokens), train)
    }

    /// Sequence scores of soft one-hot rows: [B, T, V] -> [B, K].
    fn score_soft(&self, probs: &Tensor, train: bool) -> Tensor {
        self.forward_embedded(&self.embed_soft(probs), train)
    }

    /// Evaluation-mode scores [P * B * n, K] of Monte Carlo completions (SeqGAN's rollouts).
    /// `rows` holds P blocks of B * n rows; in block k, rows i * n .. (i + 1) * n are
    /// completions of the first k + 1 tokens of `base` row i ([B, T], the same length as
    /// `rows`). Networks that can reuse the work on the shared prefixes override this; the
    /// default scores every row.
    fn score_completions(&self, _base: &Tensor, rows: &Tensor, _n: i64) -> Tensor {
        score_in_chunks(self, rows)
    }
}

/// Evaluation-mode scores of many rows of ids, in chunks that bound the memory held at once.
pub fn score_in_chunks<D: Discriminator + ?Sized>(d: &D, rows: &Tensor) -> Tensor {
    score_given_in_chunks(d, rows, &Condition::None)
}

/// [`score_in_chunks`] of rows under their condition (one condition row per row).
pub fn score_given_in_chunks<D: Discriminator + ?Sized>(
    d: &D,
    rows: &Tensor,
    cond: &Condition,
) -> Tensor {
    let _guard = tch::no_grad_guard();
    let mut start = 0;
    let parts: Vec<Tensor> = rows
        .split(8192, 0)
        .iter()
        .map(|c| {
            let len = c.size()[0];
            let s = d.score_given(c, &cond.narrow(start, len), false);
            start += len;
            s
        })
        .collect();
    Tensor::cat(&parts, 0)
}

/// A discriminator with the variables it owns.
pub struct DiscriminatorModel {
    pub vs: nn::VarStore,
    pub net: Box<dyn Discriminator>,
}

impl DiscriminatorModel {
    pub fn new(cfg: &DiscriminatorConfig, vocab_size: i64, max_len: i64, device: Device) -> Self {
        let vs = nn::VarStore::new(device);
        let p = vs.root();
        let net: Box<dyn Discriminator> = match cfg {
            DiscriminatorConfig::Cnn(c) => Box::new(CnnDiscriminator::new(&p, c, vocab_size)),
            DiscriminatorConfig::Lstm(c) => Box::new(LstmDiscriminator::new(&p, c, vocab_size)),
            DiscriminatorConfig::Mlp(c) => Box::new(MlpDiscriminator::new(&p, c, vocab_size)),
            DiscriminatorConfig::Transformer(c) => {
                Box::new(TransformerDiscriminator::new(&p, c, vocab_size, max_len))
            }
        };
        DiscriminatorModel { vs, net }
    }

    /// A CNN with `outputs` logits a sequence (one representation): a (k+1)-way
    /// discriminator or a k-way label classifier.
    pub fn classifier(cfg: &CnnDiscConfig, vocab_size: i64, outputs: i64, device: Device) -> Self {
        let vs = nn::VarStore::new(device);
        let cfg = CnnDiscConfig {
            num_rep: 1,
            ..cfg.clone()
        };
        let net = Box::new(CnnDiscriminator::with_outputs(
            &vs.root(),
            &cfg,
            vocab_size,
            outputs,
        ));
        DiscriminatorModel { vs, net }
    }

    /// The network `cfg` names, reading labels as `cond` says (a learned vector per class
    /// added to every input embedding).
    pub fn conditional(
        cfg: &DiscriminatorConfig,
        vocab_size: i64,
        max_len: i64,
        cond: crate::models::CondSpec,
        device: Device,
    ) -> Self {
        let DiscriminatorModel { vs, net } = Self::new(cfg, vocab_size, max_len, device);
        let net: Box<dyn Discriminator> = match cond {
            crate::models::CondSpec::Labels { classes, .. } => Box::new(
                crate::models::LabelDiscriminator::new(&vs.root(), net, classes),
            ),
            crate::models::CondSpec::Source { vocab, .. } => Box::new(PairDiscriminator::new(
                &vs.root(),
                net,
                vocab.unwrap_or(vocab_size),
            )),
            crate::models::CondSpec::None => net,
        };
        DiscriminatorModel { vs, net }
    }
}

/// An embedding table used both as a lookup and as a matrix for soft inputs.
pub(crate) struct Table {
    pub ws: Tensor,
}

impl Table {
    pub fn new(p: nn::Path, vocab: i64, dim: i64) -> Self {
        Table {
            ws: p.var(
                "weight",
                &[vocab, dim],
                nn::Init::Randn {
                    mean: 0.0,
                    stdev: 0.1,
                },
            ),
        }
    }

    pub fn lookup(&self, tokens: &Tensor) -> Tensor {
        Tensor::embedding(&self.ws, tokens, -1, false, false) // [B, T, E]
    }

    pub fn soft(&self, probs: &Tensor) -> Tensor {
        probs.matmul(&self.ws) // [B, T, V] x [V, E] -> [B, T, E]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::TransformerConfig;
    use tch::Kind;

    fn all() -> Vec<DiscriminatorConfig> {
        vec![
            DiscriminatorConfig::Cnn(CnnDiscConfig {
                embed_dim: 8,
                filter_sizes: vec![2, 3],
                num_filters: vec![4, 5],
                num_rep: 2,
                dropout: 0.0,
                highway: Default::default(),
            }),
            DiscriminatorConfig::Lstm(LstmDiscConfig {
                embed_dim: 8,
                hidden_dim: 6,
                dropout: 0.0,
            }),
            DiscriminatorConfig::Mlp(MlpDiscConfig {
                embed_dim: 8,
                hidden_dim: 6,
            }),
            DiscriminatorConfig::Transformer(TransformerConfig {
                n_layer: 1,
                n_head: 2,
                n_embd: 8,
                dropout: 0.0,
            }),
        ]
    }

    /// The config's answer, known before building, is the built network's.
    #[test]
    fn per_token_scoring_is_known_from_the_config() {
        let ids = Tensor::from_slice(&[1i64, 4, 5, 6, 2, 0]).view([1, 6]);
        for cfg in all() {
            let d = DiscriminatorModel::new(&cfg, 11, 6, Device::Cpu);
            let has = d.net.per_token(&d.net.embed(&ids), false).is_some();
            assert_eq!(cfg.scores_per_token(), has, "{cfg:?}");
        }
    }

    #[test]
    fn ids_and_one_hots_score_alike_and_soft_inputs_get_gradients() {
        tch::manual_seed(0);
        for cfg in all() {
            let d = DiscriminatorModel::new(&cfg, 11, 6, Device::Cpu);
            let ids = Tensor::from_slice(&[1i64, 4, 5, 6, 2, 0, 3, 3, 7, 8, 9, 10]).view([2, 6]);
            let hard = d.net.score(&ids, false);
            let k = if matches!(cfg, DiscriminatorConfig::Cnn(_)) {
                2
            } else {
                1
            };
            assert_eq!(hard.size(), vec![2, k], "{cfg:?}");
            let onehot = ids.one_hot(11).to_kind(Kind::Float).set_requires_grad(true);
            let soft = d.net.score_soft(&onehot, false);
            assert!(
                (&soft - &hard).abs().max().double_value(&[]) < 1e-5,
                "{cfg:?}"
            );
            soft.sum(Kind::Float).backward();
            assert!(
                onehot.grad().abs().sum(Kind::Float).double_value(&[]) > 0.0,
                "{cfg:?}"
            );
        }
    }

    #[test]
    fn lstm_gives_one_score_per_token() {
        let d = DiscriminatorModel::new(&all()[1], 11, 6, Device::Cpu);
        let ids = Tensor::from_slice(&[1i64, 4, 5, 6]).view([1, 4]);
        let per = d.net.per_token(&d.net.embed(&ids), false).unwrap();
        assert_eq!(per.size(), vec![1, 4]);
        // Causal: changing the last token leaves the earlier scores alone.
        let ids2 = Tensor::from_slice(&[1i64, 4, 5, 9]).view([1, 4]);
        let per2 = d.net.per_token(&d.net.embed(&ids2), false).unwrap();
        assert!(
            (per.narrow(1, 0, 3) - per2.narrow(1, 0, 3))
                .abs()
                .max()
                .double_value(&[])
                < 1e-6
        );
    }
}
