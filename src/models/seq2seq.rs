//! Transformer encoder-decoder for source-conditional generation (translation, dialogue):
//! the generator of `[generator] kind = "seq2seq"`.
//!
//! Pre-norm blocks as in the decoder-only [`TransformerGenerator`](super::TransformerGenerator):
//! the encoder's `x + attn(ln(x))` (padding keys masked), `x + mlp(ln(x))`; the decoder adds
//! cross-attention to the encoder's output between the two. Positions are learned tables or the
//! sinusoids of Vaswani et al.; the output layer is tied to the target embedding. Decoding keeps
//! per layer a self-attention cache and the cross-attention keys and values of the source,
//! computed once, all batch-first in the [`State`], so beam search and rollouts pick and
//! repeat them like any other state.
use super::{Condition, Generator, State};
use crate::error::{ensure, Result};
use serde::{Deserialize, Serialize};
use tch::{nn, nn::Module, Kind, Tensor};

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Positions {
    #[default]
    Learned,
    Sinusoidal,
}

/// The encoder-decoder's settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Seq2seqConfig {
    pub enc_layers: i64,
    pub dec_layers: i64,
    pub n_head: i64,
    pub n_embd: i64,
    /// Width of the feed-forward layers.
    pub ffn: i64,
    pub dropout: f64,
    pub positions: Positions,
}

impl Default for Seq2seqConfig {
    /// bentrevett's Multi30k Transformer: d 256, 3 + 3 layers, 8 heads, FFN 512, dropout 0.1.
    fn default() -> Self {
        Seq2seqConfig {
            enc_layers: 3,
            dec_layers: 3,
            n_head: 8,
            n_embd: 256,
            ffn: 512,
            dropout: 0.1,
            positions: Positions::Learned,
        }
    }
}

impl Seq2seqConfig {
    pub fn validate(&self) -> Result<()> {
        let c = self;
        ensure(
            (1..=64).contains(&c.enc_layers) && (1..=64).contains(&c.dec_layers),
            || "generator.enc_layers and dec_layers must be in 1..=64".into(),
        )?;
        ensure(
            c.n_head >= 1 && c.n_embd % c.n_head == 0 && c.n_embd <= 65_536,
            || {
                format!(
                    "generator.n_embd ({}) must be a positive multiple of generator.n_head ({})",
                    c.n_embd, c.n_head
                )
            },
        )?;
        ensure(c.ffn >= 1 && c.ffn <= 262_144, || {
            "generator.ffn out of range".into()
        })?;
        ensure((0.0..1.0).contains(&c.dropout), || {
            format!("generator.dropout must be in [0, 1), got {}", c.dropout)
        })
    }
}

/// Multi-head attention with separate query and key/value inputs.
struct Attention {
    q: nn::Linear,
    kv: nn::Linear,
    proj: nn::Linear,
    n_head: i64,
    dropout: f64,
}

impl Attention {
    fn new(p: nn::Path, c: &Seq2seqConfig) -> Self {
        let d = c.n_embd;
        Attention {
            q: nn::linear(&p / "q", d, d, Default::default()),
            kv: nn::linear(&p / "kv", d, 2 * d, Default::default()),
            proj: nn::linear(&p / "proj", d, d, Default::default()),
            n_head: c.n_head,
            dropout: c.dropout,
        }
    }

    fn heads(&self, x: &Tensor) -> Tensor {
        let (b, t, c) = x.size3().expect("[B, T, C]");
        x.view([b, t, self.n_head, c / self.n_head]).transpose(1, 2)
    }

    /// Keys and values of `x` [B, S, C]: each [B, nh, S, hs].
    fn keys_values(&self, x: &Tensor) -> (Tensor, Tensor) {
        let c = x.size()[2];
        let kv = self.kv.forward(x).split(c, 2);
        (self.heads(&kv[0]), self.heads(&kv[1]))
    }

    /// Queries from `x` [B, T, C] against keys and values; `mask` [B, 1, 1, S] (true: attend).
    fn attend(
        &self,
        x: &Tensor,
        (k, v): (&Tensor, &Tensor),
        mask: Option<&Tensor>,
        causal: bool,
        train: bool,
    ) -> Tensor {
        let q = self.heads(&self.q.forward(x));
        let p = if train { self.dropout } else { 0.0 };
        let y = Tensor::scaled_dot_product_attention(&q, k, v, mask, p, causal, None, false);
        let (b, nh, t, hs) = y.size4().expect("[B, nh, T, hs]");
        let y = y.transpose(1, 2).contiguous().view([b, t, nh * hs]);
        self.proj.forward(&y).dropout(self.dropout, train)
    }
}

struct Mlp {
    fc: nn::Linear,
    proj: nn::Linear,
    dropout: f64,
}

impl Mlp {
    fn new(p: nn::Path, c: &Seq2seqConfig) -> Self {
        Mlp {
            fc: nn::linear(&p / "fc", c.n_embd, c.ffn, Default::default()),
            proj: nn::linear(&p / "proj", c.ffn, c.n_embd, Default::default()),
            dropout: c.dropout,
        }
    }

    fn forward(&self, x: &Tensor, train: bool) -> Tensor {
        let h = self.fc.forward(x).relu().dropout(self.dropout, train);
        self.proj.forward(&h).dropout(self.dropout, train)
    }
}

/// An encoder block (self-attention, MLP) or a decoder block (and cross-attention between).
struct Block {
    ln_1: nn::LayerNorm,
    attn: Attention,
    cross: Option<(nn::LayerNorm, Attention)>,
    ln_2: nn::LayerNorm,
    mlp: Mlp,
}

impl Block {
    fn new(p: nn::Path, c: &Seq2seqConfig, decoder: bool) -> Self {
        let ln = |name: &str| nn::layer_norm(&p / name, vec![c.n_embd], Default::default());
        Block {
            ln_1: ln("ln_1"),
            attn: Attention::new(&p / "attn", c),
            cross: decoder.then(|| (ln("ln_x"), Attention::new(&p / "cross", c))),
            ln_2: ln("ln_2"),
            mlp: Mlp::new(&p / "mlp", c),
        }
    }
}

/// The source's encoding: its padding mask and, per decoder layer, the cross-attention keys
/// and values.
struct Memory {
    mask: Tensor,
    kv: Vec<(Tensor, Tensor)>,
}

pub struct Seq2seqGenerator {
    src_embed: Option<nn::Embedding>,
    tgt_embed: nn::Embedding,
    /// Learned position tables (source, target), or None for sinusoids.
    pos: Option<(nn::Embedding, nn::Embedding)>,
    encoder: Vec<Block>,
    ln_enc: nn::LayerNorm,
    decoder: Vec<Block>,
    ln_f: nn::LayerNorm,
    cfg: Seq2seqConfig,
    vocab_size: i64,
    block_size: i64,
    max_source_len: i64,
}

/// The sinusoids of "Attention is all you need" for positions `pos` [T]: [T, C].
fn sinusoids(pos: &Tensor, c: i64) -> Tensor {
    let device = pos.device();
    let i = Tensor::arange_start_step(0, c, 2, (Kind::Float, device));
    let freq = (i * (-(10_000f64.ln()) / c as f64)).exp(); // [C/2]
    let angles = pos.to_kind(Kind::Float).unsqueeze(1) * freq.unsqueeze(0); // [T, C/2]
    Tensor::stack(&[angles.sin(), angles.cos()], 2).view([-1, c])
}

impl Seq2seqGenerator {
    /// `src` says the source side: its vocabulary (None: the target's, shared with its
    /// embedding) and its longest sequence.
    pub fn new(
        p: &nn::Path,
        cfg: &Seq2seqConfig,
        (src_vocab, max_source_len): (Option<i64>, i64),
        vocab: i64,
        block_size: i64,
    ) -> Self {
        let init = nn::EmbeddingConfig {
            ws_init: nn::Init::Randn {
                mean: 0.0,
                stdev: 0.02,
            },
            ..Default::default()
        };
        let d = cfg.n_embd;
        Seq2seqGenerator {
            src_embed: src_vocab.map(|v| nn::embedding(p / "src_embed", v, d, init)),
            tgt_embed: nn::embedding(p / "tgt_embed", vocab, d, init),
            pos: (cfg.positions == Positions::Learned).then(|| {
                (
                    nn::embedding(p / "src_pos", max_source_len, d, init),
                    nn::embedding(p / "tgt_pos", block_size, d, init),
                )
            }),
            encoder: (0..cfg.enc_layers)
                .map(|i| Block::new(p / "enc" / i, cfg, false))
                .collect(),
            ln_enc: nn::layer_norm(p / "ln_enc", vec![d], Default::default()),
            decoder: (0..cfg.dec_layers)
                .map(|i| Block::new(p / "dec" / i, cfg, true))
                .collect(),
            ln_f: nn::layer_norm(p / "ln_f", vec![d], Default::default()),
            cfg: cfg.clone(),
            vocab_size: vocab,
            block_size,
            max_source_len,
        }
    }

    fn positions(&self, target: bool, pos: &Tensor) -> Tensor {
        match &self.pos {
            Some((src, tgt)) => if target { tgt } else { src }.forward(pos),
            None => sinusoids(pos, self.cfg.n_embd),
        }
    }

    /// Encodes the source of `cond` and prepares every decoder layer's keys and values.
    fn memory(&self, cond: &Condition, train: bool) -> Memory {
        let Condition::Source { ids, pad } = cond else {
            panic!("an encoder-decoder generates under a source sentence (Condition::Source)")
        };
        let ids = ids.narrow(1, 0, ids.size()[1].min(self.max_source_len));
        let s = ids.size()[1];
        let embed = self.src_embed.as_ref().unwrap_or(&self.tgt_embed);
        let pos = Tensor::arange(s, (Kind::Int64, ids.device()));
        let mut x =
            (embed.forward(&ids) + self.positions(false, &pos)).dropout(self.cfg.dropout, train);
        let mask = ids.ne(*pad).view([-1, 1, 1, s]); // [B, 1, 1, S]: true = a real token
        for b in &self.encoder {
            let h = b.ln_1.forward(&x);
            let kv = b.attn.keys_values(&h);
            x = &x + b.attn.attend(&h, (&kv.0, &kv.1), Some(&mask), false, train);
            x = &x + b.mlp.forward(&b.ln_2.forward(&x), train);
        }
        let m = self.ln_enc.forward(&x);
        let kv = self
            .decoder
            .iter()
            .map(|b| {
                b.cross
                    .as_ref()
                    .expect("decoder blocks attend")
                    .1
                    .keys_values(&m)
            })
            .collect();
        Memory { mask, kv }
    }

    /// Decoder blocks over `x` [B, T, C]; `cache` holds each layer's self-attention keys and
    /// values when decoding step by step.
    fn decode(
        &self,
        mut x: Tensor,
        mem: &Memory,
        mut cache: Option<&mut [(Tensor, i64)]>,
        train: bool,
    ) -> Tensor {
        for (i, b) in self.decoder.iter().enumerate() {
            let h = b.ln_1.forward(&x);
            let (k, v) = b.attn.keys_values(&h);
            let y = match cache.as_deref_mut() {
                Some(c) => {
                    let k = Tensor::cat(&[&c[2 * i].0, &k], 2);
                    let v = Tensor::cat(&[&c[2 * i + 1].0, &v], 2);
                    let y = b.attn.attend(&h, (&k, &v), None, false, false);
                    c[2 * i].0 = k;
                    c[2 * i + 1].0 = v;
                    y
                }
                None => b.attn.attend(&h, (&k, &v), None, true, train),
            };
            x = &x + y;
            let (ln_x, cross) = b.cross.as_ref().expect("decoder blocks attend");
            let (ck, cv) = &mem.kv[i];
            x = &x + cross.attend(&ln_x.forward(&x), (ck, cv), Some(&mem.mask), false, train);
            x = &x + b.mlp.forward(&b.ln_2.forward(&x), train);
        }
        self.ln_f.forward(&x).matmul(&self.tgt_embed.ws.tr())
    }
}

impl Generator for Seq2seqGenerator {
    fn vocab_size(&self) -> i64 {
        self.vocab_size
    }
    fn max_len(&self) -> Option<i64> {
        Some(self.block_size)
    }
    fn embed(&self, tokens: &Tensor) -> Tensor {
        self.tgt_embed.forward(tokens)
    }
    fn embed_soft(&self, probs: &Tensor) -> Tensor {
        probs.matmul(&self.tgt_embed.ws)
    }
    fn forward_embedded(&self, _emb: &Tensor, _train: bool) -> Tensor {
        panic!("an encoder-decoder generates under a source sentence (forward_embedded_given)")
    }
    fn initial_state(&self, _batch: i64) -> State {
        panic!("an encoder-decoder generates under a source sentence (initial_state_given)")
    }
    fn reads_condition(&self) -> bool {
        true
    }
    fn forward_embedded_given(&self, emb: &Tensor, cond: &Condition, train: bool) -> Tensor {
        let t = emb.size()[1];
        let pos = Tensor::arange(t, (Kind::Int64, emb.device()));
        let x = (emb + self.positions(true, &pos)).dropout(self.cfg.dropout, train);
        let mem = self.memory(cond, train);
        self.decode(x, &mem, None, train)
    }
    /// State: per decoder layer the self-attention keys and values (empty), then per layer the
    /// cross-attention keys and values, then the source mask; all batch-first.
    fn initial_state_given(&self, batch: i64, cond: &Condition) -> State {
        let mem = self.memory(cond, false);
        debug_assert_eq!(mem.mask.size()[0], batch);
        let hs = self.cfg.n_embd / self.cfg.n_head;
        let opts = (self.tgt_embed.ws.kind(), self.tgt_embed.ws.device());
        let mut tensors = Vec::new();
        for _ in &self.decoder {
            for _ in 0..2 {
                tensors.push((Tensor::zeros([batch, self.cfg.n_head, 0, hs], opts), 0));
            }
        }
        for (k, v) in mem.kv {
            tensors.push((k, 0));
            tensors.push((v, 0));
        }
        tensors.push((mem.mask, 0));
        let mut s = State::new(tensors);
        s.fixed = 2 * self.decoder.len() + 1; // the source's keys, values and mask
        s
    }
    fn step_embedded(&self, x: &Tensor, state: &mut State) -> Tensor {
        let n = self.decoder.len();
        let pos = Tensor::from(state.pos.min(self.block_size - 1)).to_device(x.device());
        let x = (x + self.positions(true, &pos.unsqueeze(0)).squeeze_dim(0)).unsqueeze(1);
        let (cache, rest) = state.tensors.split_at_mut(2 * n);
        let mem = Memory {
            mask: rest[2 * n].0.shallow_clone(),
            kv: (0..n)
                .map(|i| {
                    (
                        rest[2 * i].0.shallow_clone(),
                        rest[2 * i + 1].0.shallow_clone(),
                    )
                })
                .collect(),
        };
        let y = self.decode(x, &mem, Some(cache), false);
        state.pos += 1;
        y.squeeze_dim(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::{CondSpec, GeneratorConfig, GeneratorModel, LstmSeq2seqConfig};
    use tch::Device;

    /// Both encoder-decoders, learned and sinusoidal positions: stepping gives teacher
    /// forcing's logits under sources of different lengths, and the source matters.
    #[test]
    fn decoding_step_by_step_matches_teacher_forcing() {
        tch::manual_seed(6);
        let small = |positions| Seq2seqConfig {
            enc_layers: 2,
            dec_layers: 2,
            n_head: 2,
            n_embd: 16,
            ffn: 32,
            dropout: 0.0,
            positions,
        };
        let configs = [
            GeneratorConfig::Seq2seq(small(Positions::Learned)),
            GeneratorConfig::Seq2seq(small(Positions::Sinusoidal)),
            GeneratorConfig::LstmSeq2seq(LstmSeq2seqConfig {
                embed_dim: 8,
                hidden_dim: 12,
                dropout: 0.0,
            }),
        ];
        let input = Tensor::from_slice(&[1i64, 4, 5, 6, 1, 8, 9, 4]).view([2, 4]);
        let cond = Condition::Source {
            ids: Tensor::from_slice(&[3i64, 5, 7, 3, 0, 0]).view([2, 3]),
            pad: 0,
        };
        let other = Condition::Source {
            ids: Tensor::from_slice(&[4i64, 4, 4, 8, 8, 8]).view([2, 3]),
            pad: 0,
        };
        for cfg in configs {
            for vocab in [Some(9), None] {
                let spec = CondSpec::Source { vocab, max_len: 8 };
                let m = GeneratorModel::conditional(&cfg, 11, 8, spec, Device::Cpu);
                let what = format!("{cfg:?} {vocab:?}");
                crate::models::assert_steps_match(&m, &input, (&cond, &other), &what);
            }
        }
    }
}
