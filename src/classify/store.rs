//! Saving a classifier as a run directory and loading it back.
use super::trunk::TrunkKind;
use super::{Classifier, EpochRecord, Spec};
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};
use tch::{Device, Tensor};

impl Classifier {
    /// Writes the classifier into the empty or absent folder `dir`, all or nothing.
    pub fn save(&self, dir: &Path, records: &[EpochRecord]) -> Result<()> {
        let tmp = crate::fsutil::temp_path(dir);
        let _ = std::fs::remove_dir_all(&tmp);
        let io = |p: &Path, e| Error::io(p, e);
        std::fs::create_dir_all(tmp.join("trunk")).map_err(|e| io(&tmp, e))?;
        let write = || -> Result<()> {
            let spec = serde_json::to_string_pretty(&self.spec).expect("a spec serialises");
            std::fs::write(tmp.join("classifier.json"), spec).map_err(|e| io(&tmp, e))?;
            let mut jsonl = String::new();
            for r in records {
                jsonl.push_str(&serde_json::to_string(r).expect("a record serialises"));
                jsonl.push('\n');
            }
            std::fs::write(tmp.join("metrics.jsonl"), jsonl).map_err(|e| io(&tmp, e))?;
            let vars = self.vs.variables();
            let bert = matches!(self.spec.trunk, TrunkKind::Bert { .. });
            let mut head: Vec<(String, Tensor)> = Vec::new();
            let mut trunk: Vec<(String, Tensor)> = Vec::new();
            for (name, t) in vars {
                match name.strip_prefix("trunk.") {
                    Some(rest) if bert => trunk.push((rest.to_string(), t.to_device(Device::Cpu))),
                    _ => head.push((name, t.to_device(Device::Cpu))),
                }
            }
            let st = |list: &[(String, Tensor)], p: PathBuf| {
                Tensor::write_safetensors(list, &p)
                    .map_err(|e| Error::checkpoint(&p, e.to_string()))
            };
            st(&head, tmp.join("head.safetensors"))?;
            let files: &[&str] = match bert {
                true => {
                    st(&trunk, tmp.join("trunk/model.safetensors"))?;
                    &[
                        "config.json",
                        "tokenizer.json",
                        "tokenizer_config.json",
                        "special_tokens_map.json",
                        "vocab.txt",
                        "sentence_bert_config.json",
                    ]
                }
                false => &["tokenizer.json"],
            };
            for f in files {
                let from = self.trunk_folder.join(f);
                if from.exists() {
                    std::fs::copy(&from, tmp.join("trunk").join(f)).map_err(|e| io(&from, e))?;
                }
            }
            Ok(())
        };
        if let Err(e) = write() {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e);
        }
        // Into place: renamed where `dir` is absent, its files moved in where it is an empty
        // folder (`--out .`); on failure the temporary folder goes too.
        let place = || -> std::io::Result<()> {
            if !dir.exists() {
                return std::fs::rename(&tmp, dir);
            }
            for entry in std::fs::read_dir(&tmp)? {
                let entry = entry?;
                std::fs::rename(entry.path(), dir.join(entry.file_name()))?;
            }
            std::fs::remove_dir(&tmp)
        };
        place().map_err(|e| {
            let _ = std::fs::remove_dir_all(&tmp);
            io(dir, e)
        })
    }

    /// The classifier saved in `dir`.
    pub fn load(dir: &Path, device: Device) -> Result<Classifier> {
        let path = dir.join("classifier.json");
        if !path.exists() {
            return Err(Error::checkpoint(
                &path,
                "not found: this is not a classifier run (train one with `textgan classify train`)",
            ));
        }
        let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
        let spec: Spec = serde_json::from_str(&text)
            .map_err(|e| Error::checkpoint(&path, format!("not a classifier spec: {e}")))?;
        let mut c = Classifier::build(spec, &dir.join("trunk"), device)?;
        let head = dir.join("head.safetensors");
        let missing =
            c.vs.load_partial(&head)
                .map_err(|e| Error::checkpoint(&head, e.to_string()))?;
        let missing: Vec<String> = missing
            .into_iter()
            .filter(|n| !n.starts_with("trunk.") || matches!(c.spec.trunk, TrunkKind::Lstm { .. }))
            .collect();
        if !missing.is_empty() {
            return Err(Error::checkpoint(
                &head,
                format!("no tensor {}", missing.join(", ")),
            ));
        }
        c.trunk_folder = dir.join("trunk");
        Ok(c)
    }
}
