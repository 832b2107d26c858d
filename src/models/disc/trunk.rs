//! A Transformer discriminator started from a pretrained decoder's trunk: the generator's own
//! (`gan.d_init = "generator"`) or a GPT-2 folder's (`gan.d_init = "DIR"`). The blocks are
//! GPT-2's (layer norms, attention and MLP projections, token and position tables); the
//! discriminator reads them without the causal mask, pools and adds its own score layer,
//! which starts at random.
use super::DiscriminatorConfig;
use crate::error::{Error, Result};
use crate::models::GeneratorConfig;
use std::collections::HashMap;
use std::path::Path;
use tch::{nn::VarStore, Tensor};

/// The trunk's name of a discriminator variable; `None` for its own (the score layer).
fn trunk_name(d: &str) -> Option<String> {
    let renamed = [
        (".qkv.", ".attn.c_attn."),
        (".proj.", ".attn.c_proj."),
        (".fc.", ".mlp.c_fc."),
        (".fc_out.", ".mlp.c_proj."),
    ];
    if d == "embed.weight" {
        return Some("wte.weight".into());
    }
    if d.starts_with("out.") {
        return None;
    }
    let swapped = renamed
        .iter()
        .find(|(from, _)| d.contains(from))
        .map(|(from, to)| d.replacen(from, to, 1));
    Some(swapped.unwrap_or_else(|| d.to_string()))
}

/// Copies `trunk` (a decoder's variables by GPT-2's names) into the discriminator `d`; the
/// position table copies as many rows as both have. Returns how many tensors it copied; a
/// missing tensor or a shape that differs is an error naming it, with `origin` the source.
pub fn copy_trunk(d: &VarStore, trunk: &HashMap<String, Tensor>, origin: &str) -> Result<usize> {
    let _guard = tch::no_grad_guard();
    let mut copied = 0;
    for (name, var) in d.variables() {
        let Some(src) = trunk_name(&name) else {
            continue;
        };
        let t = trunk.get(&src).ok_or_else(|| {
            Error::Config(format!(
                "gan.d_init: {origin} has no tensor {src} (for {name})"
            ))
        })?;
        let (want, got) = (var.size(), t.size());
        let rows = match name.as_str() {
            "wpe.weight" if want[1..] == got[1..] => want[0].min(got[0]),
            _ if want == got => want[0],
            _ => {
                let hint = match name.as_str() {
                    "embed.weight" => "the vocabularies differ",
                    _ => "give the discriminator the trunk's n_layer, n_head and n_embd",
                };
                return Err(Error::Config(format!(
                    "gan.d_init: {origin}'s {src} has shape {got:?}, the discriminator's {name} {want:?} ({hint})"
                )));
            }
        };
        var.narrow(0, 0, rows).copy_(&t.narrow(0, 0, rows));
        copied += 1;
    }
    Ok(copied)
}

/// The GPT-2 folder `gan.d_init` names, when it names one (not "" or "generator").
pub fn d_init_folder(init: &str) -> Option<&Path> {
    (!init.is_empty() && init != "generator").then(|| Path::new(init))
}

/// Whether `gan.d_init` suits the run: a Transformer discriminator of the trunk's sizes, and
/// a trunk reading the run's `vocab` tokens (the generator's, or the GPT-2 folder's, whose
/// `config.json` is read: call it when a run starts, not when a stored config is read back).
pub fn check_d_init(
    init: &str,
    g: &GeneratorConfig,
    d: &DiscriminatorConfig,
    vocab: usize,
) -> Result<()> {
    if init.is_empty() {
        return Ok(());
    }
    let DiscriminatorConfig::Transformer(dc) = d else {
        return Err(Error::Config(
            "gan.d_init starts a Transformer discriminator from a decoder's trunk: set discriminator.kind = \"transformer\"".into(),
        ));
    };
    let (sizes, what) = match (d_init_folder(init), g) {
        (None, GeneratorConfig::Transformer(t)) => (
            (t.n_layer, t.n_head, t.n_embd, 4 * t.n_embd),
            "the generator's",
        ),
        (None, GeneratorConfig::Gpt2(t)) => (gpt2_sizes(t), "the generator's"),
        (None, _) => {
            return Err(Error::Config(
                "gan.d_init = \"generator\" needs a transformer or gpt2 generator".into(),
            ))
        }
        (Some(dir), _) => {
            let (t, v) = crate::models::gpt2::read_hf_config(dir)
                .map_err(|e| Error::Config(format!("gan.d_init: {e}")))?;
            if v != vocab as i64 {
                return Err(Error::Config(format!(
                    "gan.d_init = \"{init}\": the folder's vocabulary has {v} tokens, the run's {vocab} (the discriminator reads the run's tokens)"
                )));
            }
            (gpt2_sizes(&t), "the folder's")
        }
    };
    if sizes != (dc.n_layer, dc.n_head, dc.n_embd, 4 * dc.n_embd) {
        return Err(Error::Config(format!(
            "gan.d_init = \"{init}\": the discriminator needs {what} sizes (n_layer {}, n_head {}, n_embd {}, an MLP 4x wide)",
            sizes.0, sizes.1, sizes.2
        )));
    }
    Ok(())
}

fn gpt2_sizes(t: &crate::models::gpt2::Gpt2Config) -> (i64, i64, i64, i64) {
    (
        t.n_layer,
        t.n_head,
        t.n_embd,
        t.n_inner.unwrap_or(4 * t.n_embd),
    )
}

/// The variables of a trunk to start from: the generator's (LoRA adapters merged), or a
/// GPT-2 folder's.
pub fn trunk_of(
    init: &str,
    g: &GeneratorConfig,
    gen: &VarStore,
) -> Result<HashMap<String, Tensor>> {
    if let Some(dir) = d_init_folder(init) {
        let (_, _, model) = crate::models::gpt2::load_hf(dir, tch::Device::Cpu)?;
        return Ok(model.vs.variables());
    }
    let lora = match g {
        GeneratorConfig::Gpt2(c) => c.lora(),
        _ => None,
    };
    Ok(crate::models::gpt2::merged_vars(gen, lora)
        .into_iter()
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_map_onto_gpt2s() {
        assert_eq!(
            trunk_name("h.1.qkv.weight").unwrap(),
            "h.1.attn.c_attn.weight"
        );
        assert_eq!(
            trunk_name("h.0.fc_out.bias").unwrap(),
            "h.0.mlp.c_proj.bias"
        );
        assert_eq!(trunk_name("h.0.fc.bias").unwrap(), "h.0.mlp.c_fc.bias");
        assert_eq!(
            trunk_name("h.0.proj.weight").unwrap(),
            "h.0.attn.c_proj.weight"
        );
        assert_eq!(trunk_name("ln_f.weight").unwrap(), "ln_f.weight");
        assert_eq!(trunk_name("embed.weight").unwrap(), "wte.weight");
        assert_eq!(trunk_name("out.weight"), None);
    }

    /// Every discriminator tensor but the score layer comes out equal to the trunk's (the
    /// position table's first rows), and a discriminator of other sizes is refused.
    #[test]
    fn the_trunk_copies_into_the_discriminator() {
        use crate::models::{gpt2::Gpt2Config, GeneratorModel, TransformerConfig};
        use tch::Device;
        let g = GeneratorConfig::Gpt2(Gpt2Config {
            n_layer: 2,
            n_head: 2,
            n_embd: 16,
            n_positions: 12,
            ..Gpt2Config::default()
        });
        let gen = GeneratorModel::new(&g, 20, 12, Device::Cpu);
        let tc = TransformerConfig {
            n_layer: 2,
            n_head: 2,
            n_embd: 16,
            dropout: 0.0,
        };
        let dcfg = DiscriminatorConfig::Transformer(tc.clone());
        check_d_init("generator", &g, &dcfg, 20).unwrap();
        let d = super::super::DiscriminatorModel::new(&dcfg, 20, 40, Device::Cpu);
        let trunk = trunk_of("generator", &g, &gen.vs).unwrap();
        let n = copy_trunk(&d.vs, &trunk, "generator").unwrap();
        let vars = d.vs.variables();
        assert_eq!(n, vars.len() - 2, "all but out.weight and out.bias");
        for (name, v) in &vars {
            let Some(src) = trunk_name(name) else {
                continue;
            };
            let t = &trunk[&src];
            let rows = v.size()[0].min(t.size()[0]);
            assert!(v.narrow(0, 0, rows).equal(&t.narrow(0, 0, rows)), "{name}");
        }
        let wide = DiscriminatorConfig::Transformer(TransformerConfig { n_embd: 32, ..tc });
        let e = check_d_init("generator", &g, &wide, 20)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("the generator's sizes (n_layer 2, n_head 2, n_embd 16"),
            "{e}"
        );
    }
}
