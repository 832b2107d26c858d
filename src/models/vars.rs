//! A network's variables as named tensors and back: what checkpoints store and restore.
use crate::error::{Error, Result};
use std::collections::HashMap;
use std::path::Path;
use tch::{nn::VarStore, Tensor};

/// The variables of `vs` under `prefix` (sorted by name), for saving.
pub fn named_vars(vs: &VarStore, prefix: &str) -> Vec<(String, Tensor)> {
    let mut vars: Vec<(String, Tensor)> = vs
        .variables()
        .into_iter()
        .map(|(k, v)| (format!("{prefix}{k}"), v))
        .collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    vars
}

/// Copies the checkpoint's `prefix` tensors into `vs`, checking names and shapes both ways.
pub fn restore_vars(
    vs: &mut VarStore,
    tensors: &HashMap<String, Tensor>,
    prefix: &str,
    path: &Path,
) -> Result<()> {
    restore_vars_where(vs, tensors, prefix, path, |_| true)
}

/// [`restore_vars`] for the variables whose names `wanted` accepts (the others keep their
/// values: a pretrained model's file has no LoRA adapters).
pub fn restore_vars_where(
    vs: &mut VarStore,
    tensors: &HashMap<String, Tensor>,
    prefix: &str,
    path: &Path,
    wanted: impl Fn(&str) -> bool,
) -> Result<()> {
    let mut vars = vs.variables();
    vars.retain(|name, _| wanted(name));
    for (name, var) in &vars {
        let key = format!("{prefix}{name}");
        let src = tensors
            .get(&key)
            .ok_or_else(|| Error::checkpoint(path, format!("missing tensor {key}")))?;
        if src.size() != var.size() {
            return Err(Error::checkpoint(
                path,
                format!(
                    "tensor {key} has shape {:?}, the model expects {:?}",
                    src.size(),
                    var.size()
                ),
            ));
        }
        tch::no_grad(|| var.shallow_clone().copy_(src));
    }
    if let Some(extra) = tensors
        .keys()
        .find(|k| k.starts_with(prefix) && !vars.contains_key(&k[prefix.len()..]))
    {
        return Err(Error::checkpoint(
            path,
            format!("unexpected tensor {extra} (the checkpoint is of another model)"),
        ));
    }
    Ok(())
}
