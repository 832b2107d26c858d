//! Checkpoints: one safetensors file holding the weights, the optimizer state, the resolved
//! config, the vocabulary and the training progress, written atomically (temporary file, fsync,
//! rename), so `sample` and `eval` need nothing else and a crash never leaves half a file.
//!
//! Formats: 2 (now) stores [`Progress`] as typed JSON and `[gan]` with the chosen algorithm's
//! keys only; 1 (before the run loop's redesign) stored the same progress fields and every
//! algorithm's `[gan]` keys, and still loads (`tests/fixtures/v1-seqgan`).
use crate::config::RunConfig;
use crate::data::Vocab;
use crate::error::{Error, Result};
use crate::optim::Schedule;
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use tch::{Device, Kind, Tensor};

/// File name of the checkpoint inside a run directory.
pub const FILE: &str = "checkpoint.safetensors";
const FORMAT: &str = "textgan-checkpoint";
/// The format written; [`load`] reads it and every earlier one.
pub const VERSION: u32 = 2;

pub use crate::record::Phase;

pub use crate::algorithms::AdvCounts;

/// Where training stands; saved in every checkpoint. Random draws are seeded from the run's
/// seed and the step, so no generator state needs saving for a resumed run to match.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Progress {
    /// MLE optimizer steps taken.
    pub step: usize,
    pub epoch: usize,
    /// Batches of `epoch` already consumed.
    pub batch_in_epoch: usize,
    /// The MLE optimizer's update count.
    pub adam_t: i64,
    pub schedule: Option<Schedule>,
    /// Longest sequence the model was built for.
    pub max_len: usize,
    pub phase: Phase,
    /// Adversarial steps taken.
    #[serde(default)]
    pub adv_step: usize,
    /// The adversarial optimizers' counts, once that phase has begun.
    #[serde(default)]
    pub algo: Option<AdvCounts>,
    /// The run's id (also in its directory's `run.json`); absent in format 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// The divergence guard: the factor on every learning rate (1 until a rollback lowers
    /// it), rollbacks so far, steps skipped so far.
    #[serde(default = "one")]
    pub lr_scale: f64,
    #[serde(default)]
    pub rollbacks: u32,
    #[serde(default)]
    pub skipped_steps: u64,
    /// The watch on `gan.best_metric` (best checkpoint, early stop, plateau), once it has
    /// seen an evaluation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watch: Option<crate::optim::Watch>,
}

fn one() -> f64 {
    1.0
}

impl Default for Progress {
    fn default() -> Self {
        Progress {
            step: 0,
            epoch: 0,
            batch_in_epoch: 0,
            adam_t: 0,
            schedule: None,
            max_len: 0,
            phase: Phase::Mle,
            adv_step: 0,
            algo: None,
            run_id: None,
            lr_scale: 1.0,
            rollbacks: 0,
            skipped_steps: 0,
            watch: None,
        }
    }
}

impl Progress {
    /// Optimizer steps of both phases together.
    pub fn steps(&self) -> usize {
        self.step + self.adv_step
    }

    /// Whether a metrics record at (`phase`, `step`, `adv_step`) lies at or before this point.
    pub fn covers(&self, phase: Phase, step: usize, adv_step: usize) -> bool {
        match (phase, self.phase) {
            (Phase::Mle, Phase::Mle) => step <= self.step,
            (Phase::Mle, Phase::Adv) => true,
            (Phase::Adv, Phase::Mle) => false,
            (Phase::Adv, Phase::Adv) => adv_step <= self.adv_step,
        }
    }
}

/// Everything a checkpoint holds.
#[derive(Debug)]
pub struct Checkpoint {
    pub config: RunConfig,
    pub vocab: Vocab,
    pub progress: Progress,
    /// The format it was written in.
    pub format: u32,
    /// Tensors by name, on the CPU: `model.<var>`, `optim.<...>`.
    pub tensors: HashMap<String, Tensor>,
}

impl Checkpoint {
    /// Puts the generator's weights, the MLE optimizer's moments and count, and the
    /// schedule's plateau state back as this checkpoint (read from `path`) holds them.
    pub fn restore_mle(
        &self,
        path: &Path,
        (gen, opt, schedule): (
            &mut crate::models::GeneratorModel,
            &mut crate::optim::Adam,
            &mut Schedule,
        ),
    ) -> Result<()> {
        restore_vars(&mut gen.vs, &self.tensors, "model.", path)?;
        opt.load_state(&self.tensors, "optim.")
            .map_err(|e| Error::checkpoint(path, e))?;
        opt.t = self.progress.adam_t;
        if let Some(saved) = &self.progress.schedule {
            schedule.scale = saved.scale;
            schedule.best = saved.best;
            schedule.bad_evals = saved.bad_evals;
        }
        Ok(())
    }
}

/// The checkpoint file of a run directory, or the path itself if it names a file.
pub fn locate(run: &Path) -> PathBuf {
    if run.is_dir() {
        run.join(FILE)
    } else {
        run.to_path_buf()
    }
}

/// Writes a checkpoint atomically at `path`.
pub fn save(
    path: &Path,
    config: &RunConfig,
    vocab: &Vocab,
    progress: &Progress,
    tensors: &[(String, Tensor)],
) -> Result<()> {
    let bytes = serialize(path, config, vocab, progress, tensors)?;
    crate::fsutil::write_atomic(path, &bytes)
}

/// The checkpoint file's bytes.
pub fn serialize(
    path: &Path,
    config: &RunConfig,
    vocab: &Vocab,
    progress: &Progress,
    tensors: &[(String, Tensor)],
) -> Result<Vec<u8>> {
    let cpu: Vec<(String, Tensor, Vec<u8>)> = tensors
        .iter()
        .map(|(name, t)| {
            let t = t
                .detach()
                .to_device(Device::Cpu)
                .to_kind(Kind::Float)
                .contiguous();
            let n = t.numel();
            let mut bytes = vec![0u8; n * 4];
            t.copy_data_u8(&mut bytes, n);
            (name.clone(), t, bytes)
        })
        .collect();
    let views: BTreeMap<String, TensorView> = cpu
        .iter()
        .map(|(name, t, bytes)| {
            let shape = t.size().iter().map(|&d| d as usize).collect();
            let view =
                TensorView::new(Dtype::F32, shape, bytes).expect("sizes match by construction");
            (name.clone(), view)
        })
        .collect();
    let mut meta = HashMap::new();
    let hash = hash_tensors(
        cpu.iter()
            .map(|(name, t, bytes)| (name.as_str(), t.size(), bytes.as_slice()))
            .collect(),
    );
    meta.insert("format".to_string(), FORMAT.to_string());
    meta.insert("version".to_string(), VERSION.to_string());
    meta.insert("config".to_string(), config.to_toml());
    meta.insert(
        "vocab".to_string(),
        serde_json::to_string(vocab).expect("vocab serializes"),
    );
    meta.insert(
        "state".to_string(),
        serde_json::to_string(progress).expect("progress serializes"),
    );
    let digest = hash_meta(hash, &meta);
    meta.insert(HASH.to_string(), digest);
    safetensors::serialize(views, &Some(meta)).map_err(|e| Error::checkpoint(path, e.to_string()))
}

/// The metadata key of the SHA-256 over the tensors (names, shapes, bytes, in name order) and
/// the metadata beside it; checked on every load (checkpoints written before it have none).
const HASH: &str = "sha256";

/// The hash of tensors (name, shape, bytes), taken in name order whatever order they come in.
fn hash_tensors(mut tensors: Vec<(&str, Vec<i64>, &[u8])>) -> Sha256 {
    tensors.sort_by(|a, b| a.0.cmp(b.0));
    let mut h = Sha256::new();
    for (name, shape, bytes) in tensors {
        h.update((name.len() as u64).to_le_bytes());
        h.update(name.as_bytes());
        h.update((shape.len() as u64).to_le_bytes());
        for d in shape {
            h.update(d.to_le_bytes());
        }
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    }
    h
}

/// The digest, in hex, of the tensors hashed into `h` and the metadata other than the hash.
fn hash_meta(mut h: Sha256, meta: &HashMap<String, String>) -> String {
    let mut keys: Vec<&String> = meta.keys().filter(|k| *k != HASH).collect();
    keys.sort();
    for k in keys {
        for part in [k, &meta[k]] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part.as_bytes());
        }
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether the tensors and metadata hash to the SHA-256 stored with them (true for a
/// checkpoint written before there was one).
fn hash_matches(st: &SafeTensors, meta: &HashMap<String, String>) -> bool {
    let Some(want) = meta.get(HASH) else {
        return true;
    };
    let views = st.tensors();
    let h = hash_tensors(
        views
            .iter()
            .map(|(name, v)| {
                let shape = v.shape().iter().map(|&d| d as i64).collect();
                (name.as_str(), shape, v.data())
            })
            .collect(),
    );
    hash_meta(h, meta) == *want
}

/// Reads and checks a checkpoint.
pub fn load(path: &Path) -> Result<Checkpoint> {
    let bytes = std::fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            Error::checkpoint(path, "not found (has this run saved a checkpoint yet?)")
        }
        _ => Error::io(path, e),
    })?;
    let bad = |why: String| Error::checkpoint(path, why);
    let (_, header) = SafeTensors::read_metadata(&bytes).map_err(|e| {
        bad(format!(
            "not a safetensors file, or truncated or corrupt ({e:?})"
        ))
    })?;
    let meta = header.metadata().clone().unwrap_or_default();
    if meta.get("format").map(String::as_str) != Some(FORMAT) {
        return Err(bad(
            "a safetensors file, but not a textgan checkpoint".into()
        ));
    }
    let format = match meta.get("version").map(String::as_str) {
        Some("1") => 1,
        Some("2") => 2,
        other => {
            return Err(bad(format!(
                "checkpoint version {other:?} is not supported (this textgan reads 1 to {VERSION})"
            )))
        }
    };
    let st = SafeTensors::deserialize(&bytes)
        .map_err(|e| bad(format!("truncated or corrupt ({e:?})")))?;
    if !hash_matches(&st, &meta) {
        return Err(bad(
            "corrupt: its contents do not match the SHA-256 stored in it (a changed or damaged file; restore it from a copy)".into(),
        ));
    }
    let field = |k: &str| {
        meta.get(k)
            .ok_or_else(|| bad(format!("metadata lacks `{k}`")))
    };
    let config = match format {
        1 => RunConfig::from_format_1(field("config")?),
        _ => RunConfig::from_toml_str(field("config")?),
    }
    .map_err(|e| bad(format!("stored config: {e}")))?;
    let mut vocab: Vocab = serde_json::from_str(field("vocab")?)
        .map_err(|e| bad(format!("stored vocabulary: {e}")))?;
    vocab.reindex();
    vocab
        .validate()
        .map_err(|e| bad(format!("stored vocabulary: {e}")))?;
    let progress: Progress =
        serde_json::from_str(field("state")?).map_err(|e| bad(format!("stored progress: {e}")))?;
    if progress.max_len < 1 {
        return Err(bad("stored progress has max_len 0".into()));
    }
    let mut tensors = HashMap::new();
    for (name, view) in st.tensors() {
        if view.dtype() != Dtype::F32 {
            return Err(bad(format!(
                "tensor {name} is {:?}, expected F32",
                view.dtype()
            )));
        }
        let shape: Vec<i64> = view.shape().iter().map(|&d| d as i64).collect();
        let t = Tensor::f_from_data_size(view.data(), &shape, Kind::Float)?;
        if t.isfinite().logical_not().any().int64_value(&[]) != 0 {
            return Err(bad(format!("tensor {name} holds NaN or infinite values")));
        }
        tensors.insert(name, t);
    }
    Ok(Checkpoint {
        config,
        vocab,
        progress,
        format,
        tensors,
    })
}

pub use crate::models::vars::{named_vars, restore_vars};

/// A generator rebuilt from a checkpoint alone, for sampling and evaluation.
pub struct LoadedGenerator {
    pub config: RunConfig,
    pub vocab: Vocab,
    pub model: crate::models::GeneratorModel,
    /// Longest sequence the model was trained for (tokens, `<eos>` included).
    pub max_len: usize,
    /// MLE steps taken.
    pub step: usize,
    /// Adversarial steps taken.
    pub adv_step: usize,
}

impl LoadedGenerator {
    /// Loads the checkpoint of a run directory (or a checkpoint file) onto `device`.
    pub fn load(run: &Path, device: Device) -> Result<Self> {
        let path = locate(run);
        if !path.exists() {
            return Err(Error::checkpoint(
                &path,
                "not found (is this a run directory, and has the run saved a checkpoint?)",
            ));
        }
        let ck = load(&path)?;
        let (max_len, step, adv_step) =
            (ck.progress.max_len, ck.progress.step, ck.progress.adv_step);
        let mut model = crate::models::GeneratorModel::conditional(
            &ck.config.generator,
            ck.vocab.len() as i64,
            max_len as i64,
            ck.config.cond_spec(&ck.vocab),
            device,
        );
        restore_vars(&mut model.vs, &ck.tensors, "model.", &path)?;
        Ok(LoadedGenerator {
            config: ck.config,
            vocab: ck.vocab,
            model,
            max_len,
            step,
            adv_step,
        })
    }
}
