//! `textgan export`: a run's generator as a Hugging Face GPT-2 model folder.
use anyhow::{bail, Result};
use clap::Args;
use std::path::PathBuf;
use textgan::models::gpt2::{save_hf, Gpt2Config};
use textgan::models::GeneratorConfig;

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// Run directory (or checkpoint file) whose generator to export (`gpt2` or `transformer`).
    #[arg(long, value_name = "DIR")]
    run: PathBuf,
    /// Folder to write `config.json` and `model.safetensors` to (what
    /// `transformers.AutoModelForCausalLM.from_pretrained` loads).
    #[arg(long, value_name = "OUT")]
    hf: PathBuf,
}

pub fn run(a: ExportArgs) -> Result<()> {
    if a.hf.exists() && !a.hf.is_dir() {
        bail!(
            "--hf {}: a file, not a folder (give a new or empty folder)",
            a.hf.display()
        );
    }
    let loaded = textgan::checkpoint::LoadedGenerator::load(&a.run, tch::Device::Cpu)?;
    let cfg = &loaded.config;
    if cfg.data.is_parallel() || !loaded.vocab.labels.is_empty() {
        bail!("a run conditioned on labels or sources cannot be exported as GPT-2 (GPT-2 reads text alone)");
    }
    let gpt2 = match &cfg.generator {
        GeneratorConfig::Gpt2(c) => c.clone(),
        // textgan's own Transformer is GPT-2's block with the erf GELU; its position table has
        // as many rows as the run's longest text.
        GeneratorConfig::Transformer(t) => Gpt2Config {
            n_layer: t.n_layer,
            n_head: t.n_head,
            n_embd: t.n_embd,
            n_positions: loaded
                .model
                .vs
                .variables()
                .get("wpe.weight")
                .map_or(loaded.max_len as i64, |w| w.size()[0]),
            n_inner: None,
            layer_norm_epsilon: 1e-5,
            activation_function: "gelu".into(),
            dropout: t.dropout,
            ..Gpt2Config::default()
        },
        other => bail!(
            "export --hf writes GPT-2 folders: this run's generator is `{}` (gpt2 and transformer export)",
            serde_json::to_value(other)?["kind"].as_str().unwrap_or("?")
        ),
    };
    let full = textgan::fsutil::holds_files(&a.hf)
        .map_err(|e| anyhow::anyhow!("--hf {}: {e}", a.hf.display()))?;
    if full {
        bail!("--hf {}: the folder is not empty", a.hf.display());
    }
    let v = &loaded.vocab;
    let eos = v.eos.unwrap_or(v.bos);
    save_hf(&loaded.model, &gpt2, (v.len() as i64, v.bos, eos), &a.hf)?;
    // A subword run's tokenizer goes with it, so the folder starts a run of its own
    // (`train --init-from-hf`) and `transformers`' `AutoTokenizer` reads its text.
    let tokenizer = match &v.subword {
        Some(sw) => {
            let path = a.hf.join("tokenizer.json");
            textgan::fsutil::write_atomic(&path, sw.json().as_bytes())?;
            // Which tokens are special, for `AutoTokenizer` (without it, it makes up its own).
            let name = |id: Option<i64>| id.map(|i| v.tokens[i as usize].clone());
            let special = serde_json::json!({
                "tokenizer_class": "PreTrainedTokenizerFast",
                "bos_token": name(Some(v.bos)),
                "eos_token": name(Some(eos)),
                "pad_token": name(v.pad),
                "unk_token": name(v.unk),
                "model_max_length": gpt2.n_positions,
            });
            let path = a.hf.join("tokenizer_config.json");
            textgan::fsutil::write_atomic(
                &path,
                serde_json::to_string_pretty(&special)?.as_bytes(),
            )?;
            ", tokenizer.json, tokenizer_config.json"
        }
        None => "",
    };
    eprintln!(
        "wrote {}: config.json, model.safetensors{tokenizer} (GPT-2, {} layers, width {}, {} tokens)",
        a.hf.display(),
        gpt2.n_layer,
        gpt2.n_embd,
        v.len()
    );
    Ok(())
}
