//! File-system helpers: atomic writes (temporary file, fsync, rename) and the clean-up of the
//! temporary files a killed process leaves behind.
use crate::error::{Error, Result};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Whether `dir` holds anything: false for an empty folder or none at all (the rule of every
/// `--out` folder a command makes); an error for a path that is not a readable folder.
pub fn holds_files(dir: &Path) -> std::io::Result<bool> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => Ok(entries.next().is_some()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// The hidden temporary file an atomic write of `path` goes through: `.NAME.tmp` beside it.
pub fn temp_path(path: &Path) -> PathBuf {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    dir.join(format!(
        ".{}.tmp",
        path.file_name().and_then(|s| s.to_str()).unwrap_or("file")
    ))
}

/// Writes `bytes` to a temporary file beside `path`, syncs it, then renames it over `path`.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |f| f.write_all(bytes))
}

/// [`write_atomic`] for output written piece by piece: `write` fills a buffered temporary file,
/// which replaces `path` only when all of it is written. On an error nothing is left behind.
pub fn write_atomic_with(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<()> {
    let tmp = temp_path(path);
    let result = (|| {
        let mut f = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
        write(&mut f)?;
        let f = f.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(path, e)
    })
}

/// Removes the `.NAME.tmp` files of interrupted atomic writes directly inside `dir`; returns
/// how many. A missing directory has none.
pub fn remove_stale_temps(dir: &Path) -> Result<usize> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(Error::io(dir, e)),
    };
    let mut n = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') && name.ends_with(".tmp") && entry.path().is_file() {
            std::fs::remove_file(entry.path()).map_err(|e| Error::io(entry.path(), e))?;
            n += 1;
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_writes_leave_no_temp_and_stale_temps_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("a.txt");
        write_atomic(&target, b"one").unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"one");
        assert!(!temp_path(&target).exists());
        std::fs::write(temp_path(&target), b"half").unwrap();
        std::fs::write(dir.path().join("keep.tmp"), b"not ours").unwrap();
        assert_eq!(remove_stale_temps(dir.path()).unwrap(), 1);
        assert!(dir.path().join("keep.tmp").exists());
        assert_eq!(remove_stale_temps(&dir.path().join("none")).unwrap(), 0);
    }
}
