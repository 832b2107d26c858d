//! GPT-style Transformer decoder: causal self-attention, learned positions, pre-norm blocks.
//!
//! After nanoGPT's `model.py` (Radford et al. 2019): `wte` + `wpe` -> blocks of
//! `x + attn(ln_1(x))`, `x + mlp(ln_2(x))` -> `ln_f` -> logits through the tied `wte`.
//! Step-by-step decoding keeps a key/value cache per layer.
use super::{Generator, State};
use crate::error::{ensure, Result};
use serde::{Deserialize, Serialize};
use tch::{nn, nn::Module, Kind, Tensor};

/// The Transformer's settings, for the generator (`[generator] kind = "transformer"`) and the
/// discriminator (`[discriminator] kind = "transformer"`) alike.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TransformerConfig {
    pub n_layer: i64,
    pub n_head: i64,
    pub n_embd: i64,
    pub dropout: f64,
}

impl Default for TransformerConfig {
    fn default() -> Self {
        TransformerConfig {
            n_layer: 2,
            n_head: 4,
            n_embd: 128,
            dropout: 0.1,
        }
    }
}

impl TransformerConfig {
    /// Range checks that serde cannot express; `section` names the config section
    /// (`generator` or `discriminator`) in the messages.
    pub fn validate(&self, section: &str) -> Result<()> {
        let c = self;
        ensure((1..=64).contains(&c.n_layer), || {
            format!("{section}.n_layer must be in 1..=64, got {}", c.n_layer)
        })?;
        ensure(c.n_head >= 1 && c.n_embd >= 1 && c.n_embd <= 65_536, || {
            format!("{section}.n_head and n_embd must be positive")
        })?;
        ensure(c.n_embd % c.n_head == 0, || {
            format!(
                "{section}.n_embd ({}) must be divisible by {section}.n_head ({})",
                c.n_embd, c.n_head
            )
        })?;
        ensure((0.0..1.0).contains(&c.dropout), || {
            format!("{section}.dropout must be in [0, 1), got {}", c.dropout)
        })
    }
}

/// What GPT-2's layout fixes that textgan's own Transformer leaves at its defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Flavor {
    /// torch's GELU approximation: "none" (the erf form, textgan's) or "tanh" (GPT-2's
    /// `gelu_new`).
    pub gelu: &'static str,
    pub ln_eps: f64,
    /// Width of each block's MLP.
    pub inner: i64,
    /// Low-rank adapters on the attention projections.
    pub lora: Option<Lora>,
}

/// LoRA (Hu et al. 2021) on a projection `W`: `W x + (alpha / rank) B A x`, with `A`
/// [rank, in] drawn as `peft` draws it and `B` [out, rank] zero, so training starts from the
/// layer as it was; the model's other weights are frozen (see `GeneratorModel`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Lora {
    pub rank: i64,
    pub alpha: f64,
}

/// A linear layer, with its LoRA update beside it when adapters are on.
#[derive(Debug)]
struct Proj {
    lin: nn::Linear,
    /// `A`, `B` and the scale `alpha / rank`.
    lora: Option<(Tensor, Tensor, f64)>,
}

impl Proj {
    fn new(p: nn::Path, i: i64, o: i64, lora: Option<Lora>) -> Self {
        let lin = nn::linear(&p, i, o, Default::default());
        let lora = lora.map(|l| {
            // peft: kaiming_uniform_(a=sqrt(5)), i.e. U(-1/sqrt(in), 1/sqrt(in)).
            let bound = 1.0 / (i as f64).sqrt();
            let a = p.var(
                "lora_a",
                &[l.rank, i],
                nn::Init::Uniform {
                    lo: -bound,
                    up: bound,
                },
            );
            let b = p.zeros("lora_b", &[o, l.rank]);
            (a, b, l.alpha / l.rank as f64)
        });
        Proj { lin, lora }
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        let y = self.lin.forward(x);
        match &self.lora {
            None => y,
            Some((a, b, scale)) => y + x.matmul(&a.tr()).matmul(&b.tr()) * *scale,
        }
    }
}

impl Flavor {
    /// textgan's own Transformer: erf GELU, epsilon 1e-5, an MLP 4x wide.
    pub fn textgan(c: &TransformerConfig) -> Self {
        Flavor {
            gelu: "none",
            ln_eps: 1e-5,
            inner: 4 * c.n_embd,
            lora: None,
        }
    }

    fn ln(&self) -> nn::LayerNormConfig {
        nn::LayerNormConfig {
            eps: self.ln_eps,
            ..Default::default()
        }
    }
}

#[derive(Debug)]
struct CausalSelfAttention {
    c_attn: Proj,
    c_proj: Proj,
    n_head: i64,
    dropout: f64,
}

impl CausalSelfAttention {
    fn new(p: nn::Path, c: &TransformerConfig, lora: Option<Lora>) -> Self {
        CausalSelfAttention {
            c_attn: Proj::new(&p / "c_attn", c.n_embd, 3 * c.n_embd, lora),
            c_proj: Proj::new(&p / "c_proj", c.n_embd, c.n_embd, lora),
            n_head: c.n_head,
            dropout: c.dropout,
        }
    }

    /// [B, T, C] -> q, k, v each [B, nh, T, hs].
    fn qkv(&self, x: &Tensor) -> (Tensor, Tensor, Tensor) {
        let (b, t, c) = x.size3().expect("[B, T, C]");
        let qkv = self.c_attn.forward(x).split(c, 2);
        let heads = |t_: &Tensor| {
            t_.view([b, t, self.n_head, c / self.n_head])
                .transpose(1, 2)
        };
        (heads(&qkv[0]), heads(&qkv[1]), heads(&qkv[2]))
    }

    /// [B, nh, T, hs] -> [B, T, C] -> output projection.
    fn merge(&self, y: Tensor, train: bool) -> Tensor {
        let (b, nh, t, hs) = y.size4().expect("[B, nh, T, hs]");
        let y = y.transpose(1, 2).contiguous().view([b, t, nh * hs]);
        self.c_proj.forward(&y).dropout(self.dropout, train)
    }

    fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        let (q, k, v) = self.qkv(x);
        let p = if train { self.dropout } else { 0.0 };
        let y =
            Tensor::scaled_dot_product_attention(&q, &k, &v, None::<Tensor>, p, true, None, false);
        self.merge(y, train)
    }

    /// One new position against the cache; `cache` holds keys and values [B, nh, t, hs].
    fn step(&self, x: &Tensor, k_cache: &mut Tensor, v_cache: &mut Tensor) -> Tensor {
        let (q, k, v) = self.qkv(x); // [B, nh, 1, hs]
        *k_cache = Tensor::cat(&[&*k_cache, &k], 2);
        *v_cache = Tensor::cat(&[&*v_cache, &v], 2);
        // The one query is the newest position: it may see every cached key, so no mask.
        let y = Tensor::scaled_dot_product_attention(
            &q,
            &*k_cache,
            &*v_cache,
            None::<Tensor>,
            0.0,
            false,
            None,
            false,
        );
        self.merge(y, false)
    }
}

#[derive(Debug)]
struct Mlp {
    c_fc: nn::Linear,
    c_proj: nn::Linear,
    dropout: f64,
    gelu: &'static str,
}

impl Mlp {
    fn new(p: nn::Path, c: &TransformerConfig, f: &Flavor) -> Self {
        Mlp {
            c_fc: nn::linear(&p / "c_fc", c.n_embd, f.inner, Default::default()),
            c_proj: nn::linear(&p / "c_proj", f.inner, c.n_embd, Default::default()),
            dropout: c.dropout,
            gelu: f.gelu,
        }
    }

    fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        self.c_proj
            .forward(&self.c_fc.forward(x).gelu(self.gelu))
            .dropout(self.dropout, train)
    }
}

#[derive(Debug)]
struct Block {
    ln_1: nn::LayerNorm,
    attn: CausalSelfAttention,
    ln_2: nn::LayerNorm,
    mlp: Mlp,
}

impl Block {
    fn new(p: nn::Path, c: &TransformerConfig, f: &Flavor) -> Self {
        Block {
            ln_1: nn::layer_norm(&p / "ln_1", vec![c.n_embd], f.ln()),
            attn: CausalSelfAttention::new(&p / "attn", c, f.lora),
            ln_2: nn::layer_norm(&p / "ln_2", vec![c.n_embd], f.ln()),
            mlp: Mlp::new(&p / "mlp", c, f),
        }
    }
}

#[derive(Debug)]
pub struct TransformerGenerator {
    wte: nn::Embedding,
    wpe: nn::Embedding,
    blocks: Vec<Block>,
    ln_f: nn::LayerNorm,
    cfg: TransformerConfig,
    vocab_size: i64,
    block_size: i64,
}

impl TransformerGenerator {
    pub fn new(p: &nn::Path, cfg: &TransformerConfig, vocab_size: i64, block_size: i64) -> Self {
        Self::with_flavor(p, cfg, vocab_size, block_size, &Flavor::textgan(cfg))
    }

    /// The network in `flavor` (GPT-2's: tanh GELU, its epsilon and MLP width).
    pub fn with_flavor(
        p: &nn::Path,
        cfg: &TransformerConfig,
        vocab_size: i64,
        block_size: i64,
        flavor: &Flavor,
    ) -> Self {
        let init = nn::EmbeddingConfig {
            ws_init: nn::Init::Randn {
                mean: 0.0,
                stdev: 0.02,
            },
            ..Default::default()
        };
        TransformerGenerator {
            wte: nn::embedding(p / "wte", vocab_size, cfg.n_embd, init),
            wpe: nn::embedding(p / "wpe", block_size, cfg.n_embd, init),
            blocks: (0..cfg.n_layer)
                .map(|i| Block::new(p / "h" / i, cfg, flavor))
                .collect(),
            ln_f: nn::layer_norm(p / "ln_f", vec![cfg.n_embd], flavor.ln()),
            cfg: cfg.clone(),
            vocab_size,
            block_size,
        }
    }

    fn logits(&self, x: &Tensor) -> Tensor {
        self.ln_f.forward(x).matmul(&self.wte.ws.tr()) // [.., C] x [C, V] -> [.., V]
    }
}

impl Generator for TransformerGenerator {
    fn vocab_size(&self) -> i64 {
        self.vocab_size
    }

    fn max_len(&self) -> Option<i64> {
        Some(self.block_size)
    }

    fn embed(&self, tokens: &Tensor) -> Tensor {
        self.wte.forward(tokens)
    }

    fn embed_soft(&self, probs: &Tensor) -> Tensor {
        probs.matmul(&self.wte.ws) // [B, T, V] x [V, C] -> [B, T, C]
    }

    fn forward_embedded(&self, emb: &Tensor, train: bool) -> Tensor {
        let t = emb.size()[1];
        assert!(
            t <= self.block_size,
            "sequence of {t} positions exceeds the block size {}",
            self.block_size
        );
        let pos = Tensor::arange(t, (Kind::Int64, emb.device()));
        let mut x = (emb + self.wpe.forward(&pos)).dropout(self.cfg.dropout, train); // [B, T, C]
        for b in &self.blocks {
            x = &x + b.attn.forward(&b.ln_1.forward(&x), train);
            x = &x + b.mlp.forward(&b.ln_2.forward(&x), train);
        }
        self.logits(&x) // [B, T, V]
    }

    fn initial_state(&self, batch: i64) -> State {
        let hs = self.cfg.n_embd / self.cfg.n_head;
        let opts = (self.wte.ws.kind(), self.wte.ws.device());
        let empty = || (Tensor::zeros([batch, self.cfg.n_head, 0, hs], opts), 0);
        State::new((0..2 * self.cfg.n_layer).map(|_| empty()).collect()) // per layer: keys, values
    }

    fn step_embedded(&self, x: &Tensor, state: &mut State) -> Tensor {
        // Past the position table the oldest positions are not dropped: callers bound the length.
        let pos = Tensor::from(state.pos.min(self.block_size - 1)).to_device(x.device());
        let mut x = (x + self.wpe.forward(&pos)).unsqueeze(1); // [B, 1, C]
        for (i, b) in self.blocks.iter().enumerate() {
            let (kv, rest) = state.tensors[2 * i..].split_at_mut(1);
            let y = b
                .attn
                .step(&b.ln_1.forward(&x), &mut kv[0].0, &mut rest[0].0);
            x = &x + y;
            x = &x + b.mlp.forward(&b.ln_2.forward(&x), false);
        }
        state.pos += 1;
        self.logits(&x).squeeze_dim(1) // [B, V]
    }
}
