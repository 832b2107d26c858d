//! GPT-2 in Hugging Face's layout, in and out: `generator.kind = "gpt2"` (textgan's Transformer
//! with GPT-2's GELU, epsilon, MLP width and position table), loading a local model folder
//! (`config.json`, `model.safetensors`) and writing one that `transformers` loads.
//!
//! textgan's Transformer already names its variables as GPT-2 does (`wte`, `wpe`,
//! `h.N.ln_1`, `h.N.attn.c_attn`, ..., `ln_f`, the output tied to `wte`); what differs is
//! orientation: GPT-2's `Conv1D` stores `[in, out]` where a `Linear` stores `[out, in]`
//! (REFERENCE-wave2 §6.2).
use super::transformer::{Flavor, Lora, TransformerConfig, TransformerGenerator};
use super::{GeneratorConfig, GeneratorModel};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::Path;
use tch::{nn, Device, Kind, Tensor};

/// GPT-2's sizes (defaults: GPT-2 small).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Gpt2Config {
    pub n_layer: i64,
    pub n_head: i64,
    pub n_embd: i64,
    /// Rows of the position table (the longest text).
    pub n_positions: i64,
    /// Width of each block's MLP (`None`: 4 n_embd).
    pub n_inner: Option<i64>,
    pub layer_norm_epsilon: f64,
    /// `gelu_new` (the tanh approximation, GPT-2's) or `gelu` (the erf form).
    pub activation_function: String,
    pub dropout: f64,
    /// LoRA adapters of this rank on every attention projection (0: none, full fine-tuning);
    /// with them on, only the adapters train.
    pub lora_rank: i64,
    /// LoRA's scale numerator: the update is `lora_alpha / lora_rank` times `B A`.
    pub lora_alpha: f64,
}

impl Default for Gpt2Config {
    fn default() -> Self {
        Gpt2Config {
            n_layer: 12,
            n_head: 12,
            n_embd: 768,
            n_positions: 1024,
            n_inner: None,
            layer_norm_epsilon: 1e-5,
            activation_function: "gelu_new".into(),
            dropout: 0.1,
            lora_rank: 0,
            lora_alpha: 16.0,
        }
    }
}

/// The weights stored by `Conv1D` (`[in, out]`), transposed against textgan's `Linear`s.
const CONV1D: [&str; 4] = [
    ".attn.c_attn.weight",
    ".attn.c_proj.weight",
    ".mlp.c_fc.weight",
    ".mlp.c_proj.weight",
];

impl Gpt2Config {
    pub fn validate(&self) -> Result<()> {
        self.transformer().validate("generator")?;
        if !(1..=1 << 20).contains(&self.n_positions) {
            return Err(Error::Config(
                "generator.n_positions must be in 1..=1048576".into(),
            ));
        }
        if !(0..=self.n_embd).contains(&self.lora_rank) {
            return Err(Error::Config(format!(
                "generator.lora_rank must be in 0..=n_embd ({}), got {}",
                self.n_embd, self.lora_rank
            )));
        }
        if !(self.lora_alpha > 0.0 && self.lora_alpha.is_finite()) {
            return Err(Error::Config(
                "generator.lora_alpha must be positive and finite".into(),
            ));
        }
        self.gelu().map(|_| ())
    }

    /// The LoRA adapters, when `lora_rank` turns them on.
    pub fn lora(&self) -> Option<Lora> {
        (self.lora_rank > 0).then_some(Lora {
            rank: self.lora_rank,
            alpha: self.lora_alpha,
        })
    }

    fn transformer(&self) -> TransformerConfig {
        TransformerConfig {
            n_layer: self.n_layer,
            n_head: self.n_head,
            n_embd: self.n_embd,
            dropout: self.dropout,
        }
    }

    fn gelu(&self) -> Result<&'static str> {
        match self.activation_function.as_str() {
            "gelu_new" | "gelu_pytorch_tanh" => Ok("tanh"),
            "gelu" => Ok("none"),
            other => Err(Error::Config(format!(
                "generator.activation_function `{other}` is not supported (gelu_new or gelu)"
            ))),
        }
    }

    /// The network, `vocab_size` tokens wide.
    pub fn build(&self, p: &nn::Path, vocab_size: i64) -> TransformerGenerator {
        let flavor = Flavor {
            gelu: self.gelu().expect("validated with the config"),
            ln_eps: self.layer_norm_epsilon,
            inner: self.n_inner.unwrap_or(4 * self.n_embd),
            lora: self.lora(),
        };
        TransformerGenerator::with_flavor(
            p,
            &self.transformer(),
            vocab_size,
            self.n_positions,
            &flavor,
        )
    }

    /// The sizes of a Hugging Face `config.json` (and its vocabulary size); other model
    /// types are refused in one line.
    pub fn from_hf(v: &Value) -> Result<(Self, i64)> {
        let kind = v["model_type"].as_str().unwrap_or("(none)");
        if kind != "gpt2" {
            return Err(Error::Config(format!(
                "model_type `{kind}` is not supported: textgan loads GPT-2 models (model_type gpt2)"
            )));
        }
        let d = Gpt2Config::default();
        let int =
            |k: &str, alias: &str, def: i64| v[k].as_i64().or(v[alias].as_i64()).unwrap_or(def);
        let c = Gpt2Config {
            n_layer: int("n_layer", "num_hidden_layers", d.n_layer),
            n_head: int("n_head", "num_attention_heads", d.n_head),
            n_embd: int("n_embd", "hidden_size", d.n_embd),
            n_positions: int("n_positions", "max_position_embeddings", d.n_positions),
            n_inner: v["n_inner"].as_i64(),
            layer_norm_epsilon: v["layer_norm_epsilon"]
                .as_f64()
                .unwrap_or(d.layer_norm_epsilon),
            activation_function: v["activation_function"]
                .as_str()
                .unwrap_or("gelu_new")
                .to_string(),
            dropout: v["resid_pdrop"].as_f64().unwrap_or(d.dropout),
            ..d
        };
        c.validate()?;
        Ok((c, v["vocab_size"].as_i64().unwrap_or(50257)))
    }

    /// A Hugging Face `config.json` for these sizes.
    pub fn to_hf(&self, vocab_size: i64, (bos, eos): (i64, i64)) -> Value {
        json!({
            "architectures": ["GPT2LMHeadModel"],
            "model_type": "gpt2",
            "vocab_size": vocab_size,
            "n_positions": self.n_positions,
            "n_ctx": self.n_positions,
            "n_embd": self.n_embd,
            "n_layer": self.n_layer,
            "n_head": self.n_head,
            "n_inner": self.n_inner,
            "activation_function": self.activation_function,
            "resid_pdrop": self.dropout,
            "embd_pdrop": self.dropout,
            "attn_pdrop": self.dropout,
            "layer_norm_epsilon": self.layer_norm_epsilon,
            "initializer_range": 0.02,
            "bos_token_id": bos,
            "eos_token_id": eos,
            "tie_word_embeddings": true,
            "torch_dtype": "float32",
        })
    }
}

/// The sizes and vocabulary size of a Hugging Face GPT-2 folder's `config.json`.
pub fn read_hf_config(dir: &Path) -> Result<(Gpt2Config, i64)> {
    let cfg_path = dir.join("config.json");
    let text = std::fs::read_to_string(&cfg_path).map_err(|e| Error::io(&cfg_path, e))?;
    let v: Value = serde_json::from_str(&text)
        .map_err(|e| Error::Config(format!("{}: {e}", cfg_path.display())))?;
    Gpt2Config::from_hf(&v)
}

/// A GPT-2 model folder (`config.json`, `model.safetensors`) as a textgan generator: its
/// config, its vocabulary size and the model with the folder's weights.
pub fn load_hf(dir: &Path, device: Device) -> Result<(Gpt2Config, i64, GeneratorModel)> {
    let (cfg, vocab) = read_hf_config(dir)?;
    let mut model = GeneratorModel::new(
        &GeneratorConfig::Gpt2(cfg.clone()),
        vocab,
        cfg.n_positions,
        device,
    );
    load_weights(dir, &mut model)?;
    Ok((cfg, vocab, model))
}

/// Copies the weights of a GPT-2 folder's `model.safetensors` into `model` (built with the
/// folder's sizes), checking every name and shape.
pub fn load_weights(dir: &Path, model: &mut GeneratorModel) -> Result<()> {
    let path = dir.join("model.safetensors");
    if !path.exists() {
        return Err(Error::checkpoint(&path, "not found (textgan reads safetensors weights; convert a pytorch_model.bin with transformers' save_pretrained)"));
    }
    let mut raw =
        Tensor::read_safetensors(&path).map_err(|e| Error::checkpoint(&path, e.to_string()))?;
    raw.sort_by(|a, b| a.0.cmp(&b.0));
    if let Some((name, _)) = raw
        .iter()
        .find(|(_, t)| t.isfinite().all().int64_value(&[]) == 0)
    {
        return Err(Error::checkpoint(
            &path,
            format!("tensor {name} holds NaN or infinite values"),
        ));
    }
    let tensors: HashMap<String, Tensor> = raw
        .into_iter()
        .filter_map(|(name, t)| {
            let name = name
                .strip_prefix("transformer.")
                .unwrap_or(&name)
                .to_string();
            // The causal-mask buffers and the tied output layer are not weights of their own.
            let skip = name.ends_with(".attn.bias")
                || name.ends_with(".attn.masked_bias")
                || name == "lm_head.weight";
            let t = match CONV1D.iter().any(|c| name.ends_with(c)) {
                true => t.tr().contiguous(),
                false => t,
            };
            (!skip).then(|| (name, t.to_kind(Kind::Float)))
        })
        .collect();
    crate::models::vars::restore_vars_where(&mut model.vs, &tensors, "", &path, |n| {
        !n.contains("lora_")
    })
}

/// The variables `vs` of a GPT-style generator as GPT-2 has them: LoRA adapters, when there are any, merged
/// into the projections they adapt (`W + alpha / rank * B A`), so the result is a plain model.
pub fn merged_vars(vs: &nn::VarStore, lora: Option<Lora>) -> Vec<(String, Tensor)> {
    let vars = vs.variables();
    let _guard = tch::no_grad_guard();
    crate::models::vars::named_vars(vs, "")
        .into_iter()
        .filter(|(name, _)| !name.contains("lora_"))
        .map(|(name, t)| {
            let stem = name.strip_suffix(".weight").unwrap_or_default();
            let adapter = (
                vars.get(&format!("{stem}.lora_a")),
                vars.get(&format!("{stem}.lora_b")),
            );
            let t = match (lora, adapter) {
                (Some(l), (Some(a), Some(b))) => t + b.matmul(a) * (l.alpha / l.rank as f64),
                _ => t,
            };
            (name, t)
        })
        .collect()
}

/// Writes `model` (a `gpt2` or `transformer` generator) as a Hugging Face GPT-2 folder:
/// `config.json` and `model.safetensors` (with the `format: pt` metadata `transformers`
/// asks for), Conv1D weights in their orientation.
pub fn save_hf(
    model: &GeneratorModel,
    cfg: &Gpt2Config,
    (vocab, bos, eos): (i64, i64, i64),
    out: &Path,
) -> Result<()> {
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let named: Vec<(String, Tensor)> = merged_vars(&model.vs, cfg.lora())
        .into_iter()
        .map(|(name, t)| {
            let t = t.detach().to_device(Device::Cpu).to_kind(Kind::Float);
            let t = match CONV1D.iter().any(|c| name.ends_with(c)) {
                true => t.tr(),
                false => t,
            };
            (name, t.contiguous())
        })
        .collect();
    let path = out.join("model.safetensors");
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = named
        .iter()
        .map(|(n, t)| {
            let k = t.numel();
            let mut b = vec![0u8; k * 4];
            t.copy_data_u8(&mut b, k);
            (n.clone(), t.size().iter().map(|&d| d as usize).collect(), b)
        })
        .collect();
    let views: Vec<(&str, safetensors::tensor::TensorView)> = bytes
        .iter()
        .map(|(n, shape, b)| {
            let view =
                safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), b)
                    .expect("sizes match by construction");
            (n.as_str(), view)
        })
        .collect();
    let meta = HashMap::from([("format".to_string(), "pt".to_string())]);
    let data = safetensors::serialize(views, &Some(meta))
        .map_err(|e| Error::checkpoint(&path, e.to_string()))?;
    crate::fsutil::write_atomic(&path, &data)?;
    let config = serde_json::to_string_pretty(&cfg.to_hf(vocab, (bos, eos))).expect("json");
    crate::fsutil::write_atomic(&out.join("config.json"), config.as_bytes())
}
