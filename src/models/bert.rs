//! BERT-family encoders (BERT, MiniLM, all-MiniLM-L6-v2: `model_type` `"bert"`) read from a
//! Hugging Face folder (`config.json`, `model.safetensors`) for inference: the hidden states of
//! the last layer, as `transformers`' `BertModel` computes them (post-LayerNorm blocks, erf
//! GELU, an additive attention mask on padding), and for fine-tuning: loaded as trainable
//! variables of a `VarStore` under their own names, with `transformers`' dropouts in training.
use crate::error::{Error, Result};
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;
use tch::{nn, Device, Kind, Tensor};

/// The sizes of a BERT folder's `config.json`.
#[derive(Debug, Clone, PartialEq)]
pub struct BertConfig {
    pub vocab: i64,
    pub hidden: i64,
    pub layers: i64,
    pub heads: i64,
    pub intermediate: i64,
    pub max_positions: i64,
    pub type_vocab: i64,
    pub eps: f64,
}

impl BertConfig {
    /// Reads `dir/config.json`, refusing another `model_type` or activation by name.
    pub fn read(dir: &Path) -> Result<BertConfig> {
        let path = dir.join("config.json");
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let v: Value = serde_json::from_str(&text)
            .map_err(|e| Error::checkpoint(&path, format!("not JSON: {e}")))?;
        let kind = v["model_type"].as_str().unwrap_or("(none)");
        if kind != "bert" {
            return Err(Error::checkpoint(
                &path,
                format!("model_type \"{kind}\" is not supported as an encoder (textgan reads BERT-family folders: model_type \"bert\", such as all-MiniLM-L6-v2)"),
            ));
        }
        let act = v["hidden_act"].as_str().unwrap_or("gelu");
        if act != "gelu" {
            return Err(Error::checkpoint(
                &path,
                format!("hidden_act \"{act}\" is not supported (only \"gelu\")"),
            ));
        }
        let int = |k: &str| {
            v[k].as_i64()
                .filter(|&x| x > 0)
                .ok_or_else(|| Error::checkpoint(&path, format!("{k} missing or not positive")))
        };
        let cfg = BertConfig {
            vocab: int("vocab_size")?,
            hidden: int("hidden_size")?,
            layers: int("num_hidden_layers")?,
            heads: int("num_attention_heads")?,
            intermediate: int("intermediate_size")?,
            max_positions: int("max_position_embeddings")?,
            type_vocab: v["type_vocab_size"].as_i64().unwrap_or(2).max(1),
            eps: v["layer_norm_eps"].as_f64().unwrap_or(1e-12),
        };
        if cfg.hidden % cfg.heads != 0 {
            return Err(Error::checkpoint(
                &path,
                "hidden_size is not a multiple of num_attention_heads",
            ));
        }
        Ok(cfg)
    }
}

/// A BERT encoder's weights, by `transformers`' names without a `bert.` prefix.
pub struct Bert {
    pub config: BertConfig,
    w: HashMap<String, Tensor>,
}

impl Bert {
    /// The encoder of the folder `dir` on `device`; every weight it needs must be there with
    /// its shape (task heads such as `cls.*` are ignored).
    pub fn load(dir: &Path, device: Device) -> Result<Bert> {
        Bert::read(dir, |_, t| t.to_device(device))
    }

    /// The encoder of the folder `dir` as trainable variables of `root` (named as in the
    /// folder, `embeddings.word_embeddings.weight` and so on, so that the store's tensors under
    /// `root` save back as a folder `transformers` reads). The pooler, where the folder has
    /// one, comes too (`pooler.dense.*`); task heads do not.
    pub fn load_trainable(dir: &Path, root: &nn::Path) -> Result<Bert> {
        Bert::read(dir, |name, t| {
            let parts: Vec<&str> = name.split('.').collect();
            let (last, subs) = parts.split_last().expect("a name has a part");
            let p = subs.iter().fold(root.clone(), |p, s| p.sub(*s));
            p.var_copy(last, t)
        })
    }

    /// The weights of `dir/model.safetensors`, each passed through `place` with its name.
    fn read(dir: &Path, mut place: impl FnMut(&str, &Tensor) -> Tensor) -> Result<Bert> {
        let config = BertConfig::read(dir)?;
        let path = dir.join("model.safetensors");
        if !path.exists() {
            return Err(Error::checkpoint(&path, "not found (textgan reads safetensors weights; convert a pytorch_model.bin with transformers' save_pretrained)"));
        }
        let raw =
            Tensor::read_safetensors(&path).map_err(|e| Error::checkpoint(&path, e.to_string()))?;
        let mut w = HashMap::new();
        for (name, t) in raw {
            let name = name.strip_prefix("bert.").unwrap_or(&name);
            if !(name.starts_with("embeddings.")
                || name.starts_with("encoder.")
                || name.starts_with("pooler."))
                || name.ends_with("position_ids")
            {
                continue;
            }
            // Old checkpoints name LayerNorm parameters gamma and beta.
            let name = name.replace("LayerNorm.gamma", "LayerNorm.weight");
            let name = name.replace("LayerNorm.beta", "LayerNorm.bias");
            let t = place(&name, &t.to_kind(Kind::Float));
            w.insert(name, t);
        }
        let bert = Bert { config, w };
        bert.check(&path)?;
        Ok(bert)
    }

    /// Whether the folder had a pooler (`pooler.dense`, tanh over the [CLS] state).
    pub fn has_pooler(&self) -> bool {
        self.w.contains_key("pooler.dense.weight")
    }

    /// BERT's pooled output: tanh(dense(h[:, 0])). Panics without a pooler (see `has_pooler`).
    pub fn pooler(&self, h: &Tensor) -> Tensor {
        self.linear("pooler.dense", &h.select(1, 0)).tanh()
    }

    fn check(&self, path: &Path) -> Result<()> {
        let c = &self.config;
        let (h, i) = (c.hidden, c.intermediate);
        let mut need: Vec<(String, Vec<i64>)> = vec![
            ("embeddings.word_embeddings.weight".into(), vec![c.vocab, h]),
            (
                "embeddings.position_embeddings.weight".into(),
                vec![c.max_positions, h],
            ),
            (
                "embeddings.token_type_embeddings.weight".into(),
                vec![c.type_vocab, h],
            ),
            ("embeddings.LayerNorm.weight".into(), vec![h]),
            ("embeddings.LayerNorm.bias".into(), vec![h]),
        ];
        for l in 0..c.layers {
            let p = format!("encoder.layer.{l}.");
            for (n, o, inp) in [
                ("attention.self.query", h, h),
                ("attention.self.key", h, h),
                ("attention.self.value", h, h),
                ("attention.output.dense", h, h),
                ("intermediate.dense", i, h),
                ("output.dense", h, i),
            ] {
                need.push((format!("{p}{n}.weight"), vec![o, inp]));
                need.push((format!("{p}{n}.bias"), vec![o]));
            }
            for n in ["attention.output.LayerNorm", "output.LayerNorm"] {
                need.push((format!("{p}{n}.weight"), vec![h]));
                need.push((format!("{p}{n}.bias"), vec![h]));
            }
        }
        for (name, shape) in need {
            match self.w.get(&name) {
                None => return Err(Error::checkpoint(path, format!("no tensor {name}"))),
                Some(t) if t.size() != shape => {
                    return Err(Error::checkpoint(
                        path,
                        format!(
                            "{name} has shape {:?}, config.json says {shape:?}",
                            t.size()
                        ),
                    ))
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    pub fn device(&self) -> Device {
        self.w["embeddings.word_embeddings.weight"].device()
    }

    fn linear(&self, name: &str, x: &Tensor) -> Tensor {
        let (w, b) = (
            &self.w[&format!("{name}.weight")],
            &self.w[&format!("{name}.bias")],
        );
        x.matmul(&w.transpose(0, 1)) + b
    }

    fn norm(&self, name: &str, x: &Tensor) -> Tensor {
        let (w, b) = (
            &self.w[&format!("{name}.weight")],
            &self.w[&format!("{name}.bias")],
        );
        x.layer_norm(
            [self.config.hidden].as_slice(),
            Some(w),
            Some(b),
            self.config.eps,
            false,
        )
    }

    /// The last layer's hidden states [B, T, H] of token ids `ids` [B, T] whose real tokens are
    /// where `mask` [B, T] is 1 (token type 0 throughout, positions from 0).
    pub fn forward(&self, ids: &Tensor, mask: &Tensor) -> Tensor {
        let _g = tch::no_grad_guard();
        self.forward_t(ids, mask, 0.0)
    }

    /// `forward` with gradients, and in training (`dropout` > 0) `transformers`' dropouts at
    /// that rate: after the embeddings, on the attention probabilities, and on each block's two
    /// outputs before their residual sums.
    pub fn forward_t(&self, ids: &Tensor, mask: &Tensor, dropout: f64) -> Tensor {
        let train = dropout > 0.0;
        let drop = |x: Tensor| match train {
            true => x.dropout(dropout, true),
            false => x,
        };
        let c = &self.config;
        let (b, t) = (ids.size()[0], ids.size()[1]);
        let pos = Tensor::arange(t, (Kind::Int64, ids.device()));
        let e = self.w["embeddings.word_embeddings.weight"].index_select(0, &ids.reshape([-1]));
        let e = e.reshape([b, t, c.hidden])
            + self.w["embeddings.position_embeddings.weight"]
                .index_select(0, &pos)
                .unsqueeze(0)
            + self.w["embeddings.token_type_embeddings.weight"].get(0);
        let mut h = drop(self.norm("embeddings.LayerNorm", &e));
        // The additive mask of padding: the lowest float where masked, as transformers has it.
        let bias =
            (mask.to_kind(Kind::Float).ones_like() - mask.to_kind(Kind::Float)) * f32::MIN as f64;
        let bias = bias.view([b, 1, 1, t]);
        let (nh, dh) = (c.heads, c.hidden / c.heads);
        for l in 0..c.layers {
            let p = format!("encoder.layer.{l}.");
            let split = |x: Tensor| x.view([b, t, nh, dh]).transpose(1, 2);
            let q = split(self.linear(&format!("{p}attention.self.query"), &h));
            let k = split(self.linear(&format!("{p}attention.self.key"), &h));
            let v = split(self.linear(&format!("{p}attention.self.value"), &h));
            let scores = q.matmul(&k.transpose(-1, -2)) / (dh as f64).sqrt() + &bias;
            let ctx = drop(scores.softmax(-1, Kind::Float))
                .matmul(&v)
                .transpose(1, 2)
                .contiguous()
                .view([b, t, c.hidden]);
            let attn = drop(self.linear(&format!("{p}attention.output.dense"), &ctx));
            h = self.norm(&format!("{p}attention.output.LayerNorm"), &(attn + &h));
            let mid = self
                .linear(&format!("{p}intermediate.dense"), &h)
                .gelu("none");
            let out = drop(self.linear(&format!("{p}output.dense"), &mid));
            h = self.norm(&format!("{p}output.LayerNorm"), &(out + &h));
        }
        h
    }
}
