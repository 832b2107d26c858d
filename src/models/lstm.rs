//! LSTM language model (SeqGAN's generator at 32/32; ScratchGAN's at 2 x 512).
//!
//! Embedding -> multi-layer LSTM (fused `aten::lstm`, cuDNN on GPU) -> dropout -> linear.
//! Variable names follow PyTorch's `nn.LSTM` (`lstm.weight_ih_l0`, ...), so weights map one to one.
use super::{Generator, State};
use crate::error::{ensure, Result};
use serde::{Deserialize, Serialize};
use tch::{nn, nn::Module, Tensor};

/// The LSTM generator's settings (`[generator] kind = "lstm"`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LstmConfig {
    pub embed_dim: i64,
    pub hidden_dim: i64,
    pub num_layers: i64,
    /// Dropout between LSTM layers and before the output layer.
    pub dropout: f64,
}

impl Default for LstmConfig {
    fn default() -> Self {
        LstmConfig {
            embed_dim: 64,
            hidden_dim: 128,
            num_layers: 1,
            dropout: 0.0,
        }
    }
}

impl LstmConfig {
    /// SeqGAN's generator: embedding 32, hidden 32, one layer.
    pub fn seqgan() -> Self {
        LstmConfig {
            embed_dim: 32,
            hidden_dim: 32,
            num_layers: 1,
            dropout: 0.0,
        }
    }

    /// Range checks that serde cannot express.
    pub fn validate(&self) -> Result<()> {
        let c = self;
        ensure(c.embed_dim >= 1 && c.embed_dim <= 65_536, || {
            format!("generator.embed_dim out of range: {}", c.embed_dim)
        })?;
        ensure(c.hidden_dim >= 1 && c.hidden_dim <= 65_536, || {
            format!("generator.hidden_dim out of range: {}", c.hidden_dim)
        })?;
        ensure((1..=64).contains(&c.num_layers), || {
            format!(
                "generator.num_layers must be in 1..=64, got {}",
                c.num_layers
            )
        })?;
        ensure((0.0..1.0).contains(&c.dropout), || {
            format!("generator.dropout must be in [0, 1), got {}", c.dropout)
        })
    }
}

#[derive(Debug)]
pub struct LstmGenerator {
    embed: nn::Embedding,
    weights: Vec<Tensor>,
    out: nn::Linear,
    cfg: LstmConfig,
    vocab_size: i64,
}

impl LstmGenerator {
    pub fn new(p: &nn::Path, cfg: &LstmConfig, vocab_size: i64) -> Self {
        let embed = nn::embedding(
            p / "embed",
            vocab_size,
            cfg.embed_dim,
            nn::EmbeddingConfig {
                ws_init: nn::Init::Randn {
                    mean: 0.0,
                    stdev: 0.1,
                },
                ..Default::default()
            },
        );
        let (h, l) = (cfg.hidden_dim, p / "lstm");
        let bound = 1.0 / (h as f64).sqrt();
        let init = nn::Init::Uniform {
            lo: -bound,
            up: bound,
        };
        let mut weights = Vec::new();
        for k in 0..cfg.num_layers {
            let input = if k == 0 { cfg.embed_dim } else { h };
            weights.push(l.var(&format!("weight_ih_l{k}"), &[4 * h, input], init));
            weights.push(l.var(&format!("weight_hh_l{k}"), &[4 * h, h], init));
            weights.push(l.var(&format!("bias_ih_l{k}"), &[4 * h], init));
            weights.push(l.var(&format!("bias_hh_l{k}"), &[4 * h], init));
        }
        let out = nn::linear(p / "out", h, vocab_size, Default::default());
        LstmGenerator {
            embed,
            weights,
            out,
            cfg: cfg.clone(),
            vocab_size,
        }
    }

    /// Runs the LSTM over [B, T, E] from (h, c) of shape [L, B, H]; returns [B, T, H] and the new state.
    fn run(&self, x: &Tensor, h: &Tensor, c: &Tensor, train: bool) -> (Tensor, Tensor, Tensor) {
        let w: Vec<&Tensor> = self.weights.iter().collect();
        x.lstm(
            &[h, c],
            &w,
            true,
            self.cfg.num_layers,
            self.cfg.dropout,
            train,
            false,
            true,
        )
    }
}

impl Generator for LstmGenerator {
    fn vocab_size(&self) -> i64 {
        self.vocab_size
    }

    fn embed(&self, tokens: &Tensor) -> Tensor {
        self.embed.forward(tokens)
    }

    fn embed_soft(&self, probs: &Tensor) -> Tensor {
        probs.matmul(&self.embed.ws) // [B, T, V] x [V, E] -> [B, T, E]
    }

    fn forward_embedded(&self, emb: &Tensor, train: bool) -> Tensor {
        let b = emb.size()[0];
        let State { tensors, .. } = self.initial_state(b);
        let (out, _, _) = self.run(emb, &tensors[0].0, &tensors[1].0, train); // [B, T, H]
        self.out.forward(&out.dropout(self.cfg.dropout, train)) // [B, T, V]
    }

    fn initial_state(&self, batch: i64) -> State {
        let z = Tensor::zeros(
            [self.cfg.num_layers, batch, self.cfg.hidden_dim],
            (self.weights[0].kind(), self.weights[0].device()),
        );
        State::new(vec![(z.shallow_clone(), 1), (z, 1)]) // h, c: [L, B, H]
    }

    fn step_embedded(&self, x: &Tensor, state: &mut State) -> Tensor {
        let (out, h, c) = self.run(
            &x.unsqueeze(1),
            &state.tensors[0].0,
            &state.tensors[1].0,
            false,
        ); // [B, 1, H]
        state.tensors = vec![(h, 1), (c, 1)];
        state.pos += 1;
        super::linear_few_rows(&self.out, &out.squeeze_dim(1)) // [B, V]
    }
}
