//! Relational memory core generator of RelGAN (Nie et al. 2019; the core is Santoro et al. 2018).
//!
//! A memory of `mem_slots` rows of width `num_heads * head_size` is updated at every token: the
//! memory and the projected input attend to each other (multi-head), pass an MLP (residuals and
//! layer norms), and LSTM-style input and forget gates blend the result into the memory. The
//! flattened memory gives the logits.
use super::{Generator, State};
use crate::error::{ensure, Result};
use serde::{Deserialize, Serialize};
use tch::{nn, nn::Module, Kind, Tensor};

/// RelGAN's relational-memory generator's settings (`[generator] kind = "rmc"`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RmcConfig {
    pub embed_dim: i64,
    pub mem_slots: i64,
    pub num_heads: i64,
    pub head_size: i64,
}

impl Default for RmcConfig {
    /// RelGAN's setting: 1 slot, 2 heads of 256, embedding 32.
    fn default() -> Self {
        RmcConfig {
            embed_dim: 32,
            mem_slots: 1,
            num_heads: 2,
            head_size: 256,
        }
    }
}

impl RmcConfig {
    /// Range checks that serde cannot express.
    pub fn validate(&self) -> Result<()> {
        let c = self;
        ensure(
            c.embed_dim >= 1 && c.mem_slots >= 1 && c.num_heads >= 1 && c.head_size >= 1,
            || "generator.embed_dim, mem_slots, num_heads and head_size must be positive".into(),
        )
    }
}

pub struct RmcGenerator {
    embed: nn::Embedding,
    input_proj: nn::Linear,
    qkv: nn::Linear,
    ln_1: nn::LayerNorm,
    mlp_1: nn::Linear,
    mlp_2: nn::Linear,
    ln_2: nn::LayerNorm,
    gate_x: nn::Linear,
    gate_m: nn::Linear,
    out: nn::Linear,
    cfg: RmcConfig,
    width: i64,
    vocab_size: i64,
}

impl RmcGenerator {
    pub fn new(p: &nn::Path, cfg: &RmcConfig, vocab_size: i64) -> Self {
        let d = cfg.num_heads * cfg.head_size;
        RmcGenerator {
            embed: nn::embedding(p / "embed", vocab_size, cfg.embed_dim, Default::default()),
            input_proj: nn::linear(p / "input_proj", cfg.embed_dim, d, Default::default()),
            qkv: nn::linear(p / "qkv", d, 3 * d, Default::default()),
            ln_1: nn::layer_norm(p / "ln_1", vec![d], Default::default()),
            mlp_1: nn::linear(p / "mlp_1", d, d, Default::default()),
            mlp_2: nn::linear(p / "mlp_2", d, d, Default::default()),
            ln_2: nn::layer_norm(p / "ln_2", vec![d], Default::default()),
            gate_x: nn::linear(p / "gate_x", d, 2 * d, Default::default()),
            gate_m: nn::linear(p / "gate_m", d, 2 * d, Default::default()),
            out: nn::linear(p / "out", cfg.mem_slots * d, vocab_size, Default::default()),
            cfg: cfg.clone(),
            width: d,
            vocab_size,
        }
    }

    /// Multi-head attention of the first `s` rows of `x` [B, S+1, D] over all of its rows:
    /// [B, s, D]. Only the memory rows' outputs are kept by the core, so the input row needs
    /// keys and values but no query.
    fn attend(&self, x: &Tensor, s: i64) -> Tensor {
        let (b, n, d) = x.size3().expect("[B, N, D]");
        let (h, hs) = (self.cfg.num_heads, self.cfg.head_size);
        let (w, bias) = (&self.qkv.ws, self.qkv.bs.as_ref());
        let rows = x.narrow(1, 0, s);
        let q = rows.linear(&w.narrow(0, 0, d), bias.map(|b| b.narrow(0, 0, d)));
        let kv = x
            .linear(&w.narrow(0, d, 2 * d), bias.map(|b| b.narrow(0, d, 2 * d)))
            .split(d, 2);
        let heads = |z: &Tensor, m: i64| z.view([b, m, h, hs]).transpose(1, 2); // [B, h, m, hs]
        let y = Tensor::scaled_dot_product_attention(
            &heads(&q, s),
            &heads(&kv[0], n),
            &heads(&kv[1], n),
            None::<Tensor>,
            0.0,
            false,
            None,
            false,
        );
        y.transpose(1, 2).contiguous().view([b, s, d])
    }
}

impl Generator for RmcGenerator {
    fn vocab_size(&self) -> i64 {
        self.vocab_size
    }

    fn embed(&self, tokens: &Tensor) -> Tensor {
        self.embed.forward(tokens)
    }

    fn embed_soft(&self, probs: &Tensor) -> Tensor {
        probs.matmul(&self.embed.ws)
    }

    fn forward_embedded(&self, emb: &Tensor, _train: bool) -> Tensor {
        super::forward_stepwise(self, emb)
    }

    fn initial_state(&self, batch: i64) -> State {
        let (s, d) = (self.cfg.mem_slots, self.width);
        let dev = self.embed.ws.device();
        // Identity rows, zero-padded to the memory width (Santoro et al.).
        let eye = Tensor::eye(s, (Kind::Float, dev));
        let init = if d > s {
            Tensor::cat(&[eye, Tensor::zeros([s, d - s], (Kind::Float, dev))], 1)
        } else {
            eye.narrow(1, 0, d)
        };
        State::new(vec![(init.unsqueeze(0).repeat([batch, 1, 1]), 0)]) // memory [B, S, D]
    }

    fn step_embedded(&self, x: &Tensor, state: &mut State) -> Tensor {
        let mem = &state.tensors[0].0; // [B, S, D]
        let s = self.cfg.mem_slots;
        let inp = self.input_proj.forward(x); // [B, D]
                                              // The memory attends over itself and the input; the layer norms and the MLP work row
                                              // by row, so the input row, whose output the core drops, is left out of them.
        let mpi = Tensor::cat(&[mem.shallow_clone(), inp.unsqueeze(1)], 1); // [B, S+1, D]
        let a = self.ln_1.forward(&(mem + self.attend(&mpi, s)));
        let candidate = self
            .ln_2
            .forward(&(&a + self.mlp_2.forward(&self.mlp_1.forward(&a).relu()))); // [B, S, D]
        let gates = self.gate_x.forward(&inp).unsqueeze(1) + self.gate_m.forward(&mem.tanh()); // [B, S, 2D]
        let g = gates.split(self.width, 2);
        let input_gate = g[0].sigmoid();
        let forget_gate = (&g[1] + 1.0).sigmoid();
        let next = input_gate * candidate.tanh() + forget_gate * mem;
        let b = next.size()[0];
        let logits = super::linear_few_rows(&self.out, &next.view([b, s * self.width])); // [B, V]
        state.tensors = vec![(next, 0)];
        state.pos += 1;
        logits
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    /// The step equals the core as Santoro et al. write it: every row of [memory; input]
    /// attends, passes the norms and the MLP, and the memory rows are kept.
    #[test]
    fn step_matches_the_full_core() {
        tch::manual_seed(3);
        let vs = nn::VarStore::new(Device::Cpu);
        let cfg = RmcConfig {
            mem_slots: 2,
            num_heads: 2,
            head_size: 4,
            embed_dim: 5,
        };
        let g = RmcGenerator::new(&vs.root(), &cfg, 11);
        let mut state = g.initial_state(3);
        // A memory away from its initial rows, so every head's attention matters.
        state.tensors[0].0 = Tensor::randn([3, 2, 8], (Kind::Float, Device::Cpu));
        let mem = state.tensors[0].0.shallow_clone();
        let x = Tensor::randn([3, 5], (Kind::Float, Device::Cpu));
        let got = g.step_embedded(&x, &mut state);

        let (b, d) = (3, 8);
        let inp = g.input_proj.forward(&x);
        let mpi = Tensor::cat(&[mem.shallow_clone(), inp.unsqueeze(1)], 1);
        let qkv = g.qkv.forward(&mpi).split(d, 2);
        let heads = |z: &Tensor| z.view([b, 3, 2, 4]).transpose(1, 2);
        let att = (heads(&qkv[0]).matmul(&heads(&qkv[1]).transpose(2, 3)) / 2.0)
            .softmax(-1, Kind::Float)
            .matmul(&heads(&qkv[2]))
            .transpose(1, 2)
            .reshape([b, 3, d]);
        let a = g.ln_1.forward(&(&mpi + att));
        let a = g
            .ln_2
            .forward(&(&a + g.mlp_2.forward(&g.mlp_1.forward(&a).relu())));
        let gates = g.gate_x.forward(&inp).unsqueeze(1) + g.gate_m.forward(&mem.tanh());
        let gs = gates.split(d, 2);
        let next = gs[0].sigmoid() * a.narrow(1, 0, 2).tanh() + (&gs[1] + 1.0).sigmoid() * &mem;
        let want = g.out.forward(&next.view([b, 2 * d]));
        let diff = (&got - &want).abs().max().double_value(&[]);
        assert!(diff < 1e-5, "logits differ by {diff}");
        let diff = (&state.tensors[0].0 - &next).abs().max().double_value(&[]);
        assert!(diff < 1e-5, "memory differs by {diff}");
        assert!(want.std(true).double_value(&[]) > 1e-3);
    }
}
