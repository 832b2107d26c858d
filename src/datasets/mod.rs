//! Named data sets in a data directory: where they live, what their files must hash to, and
//! getting them (over HTTP from their public source or a mirror, or from a local folder) the
//! way the ecosystem does: download once into a cache, verify, reuse.
//!
//! The data directory is `$TEXTGAN_DATA`, else `$XDG_CACHE_HOME/textgan`, else
//! `~/.cache/textgan`; each set has a folder of its own there. Every file's SHA-256 is pinned
//! here and checked after download and on use. A download writes temporary files beside the
//! targets and renames them only when every file of the set arrived whole and hashed right, so
//! a failed or interrupted one leaves nothing behind (stale temporary files are removed on the
//! next try).
mod packed;
mod sets;

pub use sets::SETS;

pub use packed::Packed;

use crate::error::{Error, Result};
use crate::fsutil::{remove_stale_temps, temp_path};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// One file of a set.
#[derive(Debug, Clone, Copy)]
pub struct DataFile {
    /// Its name in the set's folder.
    pub name: &'static str,
    /// SHA-256 of its content (decompressed, for gzip sources), lower-case hex.
    pub sha256: &'static str,
    pub bytes: u64,
    /// Where it is published; a `.gz` address is decompressed on the way.
    pub url: &'static str,
}

impl DataFile {
    /// The last part of its address (what a mirror or a local folder holds it as).
    pub fn remote_name(&self) -> &'static str {
        self.url.rsplit('/').next().unwrap_or(self.name)
    }

    fn gzip(&self) -> bool {
        self.url.ends_with(".gz")
    }
}

/// A named data set.
#[derive(Debug, Clone, Copy)]
pub struct DataSet {
    /// What `textgan data get` and configs call it.
    pub name: &'static str,
    /// Its folder in the data directory.
    pub dir: &'static str,
    pub about: &'static str,
    /// Its public source and licence, in a few words.
    pub source: &'static str,
    pub files: &'static [DataFile],
    /// Where the files come packed, if they do (a model folder in a Python wheel).
    pub packed: Option<Packed>,
}

/// The data directory: `$TEXTGAN_DATA`, else the platform's cache folder.
pub fn data_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("TEXTGAN_DATA").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    platform_cache().join("textgan")
}

/// `$XDG_CACHE_HOME`, else `~/.cache`.
fn platform_cache() -> PathBuf {
    std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"))
}

/// Where textgan keeps what it can remake (word vectors for EDA's synonyms):
/// `$TEXTGAN_CACHE`, else `textgan-cache` in the platform's cache folder. Never the data
/// directory, which may be shared and read-only.
pub fn cache_dir() -> PathBuf {
    match std::env::var_os("TEXTGAN_CACHE").filter(|d| !d.is_empty()) {
        Some(d) => PathBuf::from(d),
        None => platform_cache().join("textgan-cache"),
    }
}

/// The set called `name`.
pub fn set(name: &str) -> Result<&'static DataSet> {
    SETS.iter().find(|s| s.name == name).ok_or_else(|| {
        let names: Vec<&str> = SETS.iter().map(|s| s.name).collect();
        Error::Data(format!(
            "unknown data set `{name}` (known: {})",
            names.join(", ")
        ))
    })
}

/// Whether a set's files are in the data directory, and whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Present,
    /// The files not there.
    Missing(Vec<&'static str>),
    /// A file whose content does not hash to its pinned SHA-256.
    Corrupt(&'static str),
}

/// SHA-256 of a file, hex.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h).map_err(|e| Error::io(path, e))?;
    Ok(hex(&h.finalize()))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl DataSet {
    /// Its folder in the data directory.
    pub fn path(&self) -> PathBuf {
        data_dir().join(self.dir)
    }

    /// Its state on disk (hashing every file present).
    pub fn status(&self) -> Result<Status> {
        let dir = self.path();
        let missing: Vec<&str> = self
            .files
            .iter()
            .filter(|f| !dir.join(f.name).is_file())
            .map(|f| f.name)
            .collect();
        if !missing.is_empty() {
            return Ok(Status::Missing(missing));
        }
        for f in self.files {
            if sha256_file(&dir.join(f.name))? != f.sha256 {
                return Ok(Status::Corrupt(f.name));
            }
        }
        Ok(Status::Present)
    }

    /// Its folder, once every file is there and whole; otherwise an error naming the command
    /// that gets it.
    pub fn locate(&self) -> Result<PathBuf> {
        let dir = self.path();
        match self.status()? {
            Status::Present => Ok(dir),
            Status::Missing(files) => Err(Error::Data(format!(
                "data set `{}` is not in the data directory {} (missing {}); get it with `textgan data get {}`",
                self.name,
                data_dir().display(),
                files.join(", "),
                self.name
            ))),
            Status::Corrupt(file) => Err(Error::Data(format!(
                "{}: does not match its checksum (a partial copy or another version); get it again with `textgan data get {}`",
                dir.join(file).display(),
                self.name
            ))),
        }
    }
}

/// Where `get` takes a set's files from.
#[derive(Debug, Clone)]
pub enum Origin {
    /// Their public addresses.
    Public,
    /// A mirror: `BASE/<set folder>/<file's remote name>`.
    Mirror(String),
    /// A local folder holding the files under their names (or their remote names).
    Folder(PathBuf),
}

/// Progress of a download: (file, bytes so far, bytes expected).
pub type OnProgress<'a> = &'a mut dyn FnMut(&str, u64, u64);

/// Gets `set` into the data directory from `origin`; returns the set's folder. Every file is
/// checked against its SHA-256 before any replaces what is there.
pub fn get(set: &DataSet, origin: &Origin, progress: OnProgress) -> Result<PathBuf> {
    let dir = set.path();
    std::fs::create_dir_all(&dir).map_err(|e| {
        Error::Data(format!(
            "cannot create {} ({e}); set TEXTGAN_DATA to a folder you can write",
            dir.display()
        ))
    })?;
    remove_stale_temps(&dir)?;
    let fetched = match &set.packed {
        Some(p) => packed::get(set, p, origin, progress),
        None => fetch_all(set.files, &dir, |f| source_of(set, f, origin), progress),
    };
    if fetched.is_err() {
        // A failed get leaves no empty set folder behind (remove_dir keeps a folder with
        // files: an earlier get's, or the user's).
        let _ = std::fs::remove_dir(&dir);
    }
    fetched.map(|()| dir)
}

/// Where one file comes from.
pub enum Source {
    Url(String),
    Path(PathBuf),
}

fn source_of(set: &DataSet, f: &DataFile, origin: &Origin) -> Source {
    match origin {
        Origin::Public => Source::Url(f.url.to_string()),
        Origin::Mirror(base) => Source::Url(format!(
            "{}/{}/{}",
            base.trim_end_matches('/'),
            set.dir,
            f.remote_name()
        )),
        Origin::Folder(d) => {
            // A folder laid out as a data directory (one folder a set), or the set's own.
            let candidates = [
                d.join(set.dir).join(f.name),
                d.join(set.dir).join(f.remote_name()),
                d.join(f.name),
                d.join(f.remote_name()),
            ];
            let found = candidates.iter().find(|p| p.is_file()).cloned();
            Source::Path(found.unwrap_or_else(|| d.join(f.name)))
        }
    }
}

/// Fetches every file into a temporary beside its target, checks each, then renames them all;
/// on any failure the temporaries are removed and nothing changes.
pub fn fetch_all<'a>(
    files: &'a [DataFile],
    dir: &Path,
    source: impl Fn(&'a DataFile) -> Source,
    progress: OnProgress,
) -> Result<()> {
    let temps: Vec<PathBuf> = files.iter().map(|f| temp_path(&dir.join(f.name))).collect();
    let result = files
        .iter()
        .zip(&temps)
        .try_for_each(|(f, tmp)| fetch_one(f, &source(f), tmp, &mut *progress));
    if let Err(e) = result {
        for t in &temps {
            let _ = std::fs::remove_file(t);
        }
        return Err(e);
    }
    for (f, tmp) in files.iter().zip(&temps) {
        let target = dir.join(f.name);
        std::fs::rename(tmp, &target).map_err(|e| Error::io(&target, e))?;
    }
    Ok(())
}

/// One file into `tmp`: streamed (decompressed where gzip), counted and hashed on the way.
fn fetch_one(f: &DataFile, source: &Source, tmp: &Path, progress: OnProgress) -> Result<()> {
    let (reader, origin, announced): (Box<dyn Read>, String, Option<u64>) = match source {
        Source::Url(url) => {
            let resp = match ureq::get(url)
                .timeout(std::time::Duration::from_secs(60))
                .call()
            {
                Ok(r) => r,
                Err(ureq::Error::Status(code, _)) => {
                    return Err(Error::Data(format!(
                        "{url}: the server answered HTTP {code}"
                    )))
                }
                Err(e) => return Err(Error::Data(format!("{url}: {e}"))),
            };
            let len = resp.header("Content-Length").and_then(|v| v.parse().ok());
            (Box::new(resp.into_reader()), url.clone(), len)
        }
        Source::Path(p) => {
            let file = std::fs::File::open(p).map_err(|e| Error::io(p, e))?;
            let len = file.metadata().ok().map(|m| m.len());
            (Box::new(file), p.display().to_string(), len)
        }
    };
    let gz_source = match source {
        Source::Url(u) => u.ends_with(".gz"),
        Source::Path(p) => p.extension().is_some_and(|e| e == "gz"),
    } && f.gzip();
    let mut counted = Counted {
        inner: reader,
        read: 0,
    };
    let out = std::fs::File::create(tmp).map_err(|e| Error::io(tmp, e))?;
    let mut out = std::io::BufWriter::new(out);
    let mut hasher = Sha256::new();
    let mut written = 0u64;
    let mut buf = vec![0u8; 1 << 16];
    let total = if gz_source {
        f.bytes
    } else {
        announced.unwrap_or(f.bytes)
    };
    let mut body: Box<dyn Read + '_> = if gz_source {
        Box::new(flate2::read::GzDecoder::new(&mut counted))
    } else {
        Box::new(&mut counted)
    };
    let fail = |e: std::io::Error| Error::Data(format!("{origin}: {e} (the transfer broke off)"));
    loop {
        let n = body.read(&mut buf).map_err(fail)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n]).map_err(|e| Error::io(tmp, e))?;
        written += n as u64;
        progress(f.name, written, total);
    }
    drop(body);
    if let Some(len) = announced.filter(|_| !gz_source) {
        if counted.read != len {
            return Err(Error::Data(format!(
                "{origin}: the body ended after {} of {len} bytes (the transfer broke off)",
                counted.read
            )));
        }
    }
    let out = out
        .into_inner()
        .map_err(|e| Error::io(tmp, e.into_error()))?;
    out.sync_all().map_err(|e| Error::io(tmp, e))?;
    let got = hex(&hasher.finalize());
    if got != f.sha256 {
        return Err(Error::Data(format!(
            "{origin}: checksum mismatch for {} (SHA-256 {got}, expected {}); nothing was written",
            f.name, f.sha256
        )));
    }
    Ok(())
}

/// A reader that counts what passes.
struct Counted<R> {
    inner: R,
    read: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::BufRead;
    use std::net::TcpListener;

    /// A file of `content` served as `name` (its SHA-256 pinned from `content`).
    fn file(name: &'static str, content: &[u8], url: &'static str) -> DataFile {
        DataFile {
            name,
            sha256: Box::leak(hex(&Sha256::digest(content)).into_boxed_str()),
            bytes: content.len() as u64,
            url,
        }
    }

    /// What the test server answers for a path: status, body, and the length it announces.
    struct Reply {
        status: u16,
        body: Vec<u8>,
        announce: usize,
    }

    /// A loopback HTTP server answering `n` requests from `routes`, then stopping.
    fn serve(routes: Vec<(&'static str, Reply)>, n: usize) -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for stream in listener.incoming().take(n) {
                let mut stream = stream.unwrap();
                let mut line = String::new();
                let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
                reader.read_line(&mut line).unwrap();
                let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).unwrap() <= 2 {
                        break;
                    }
                }
                let reply = routes.iter().find(|(p, _)| *p == path).map(|(_, r)| r);
                let (status, body, announce) = match reply {
                    Some(r) => (r.status, r.body.as_slice(), r.announce),
                    None => (404, b"not found".as_slice(), 9),
                };
                let head = format!(
                    "HTTP/1.1 {status} X\r\nContent-Length: {announce}\r\nConnection: close\r\n\r\n"
                );
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(body);
            }
        });
        port
    }

    fn ok(body: &[u8]) -> Reply {
        Reply {
            status: 200,
            body: body.to_vec(),
            announce: body.len(),
        }
    }

    fn nothing_left(dir: &Path) -> bool {
        std::fs::read_dir(dir).unwrap().next().is_none()
    }

    fn fetch(files: &[DataFile], dir: &Path, port: u16) -> Result<()> {
        fetch_all(
            files,
            dir,
            |f| Source::Url(format!("http://127.0.0.1:{port}/{}", f.remote_name())),
            &mut |_, _, _| {},
        )
    }

    #[test]
    fn downloads_verify_every_file_before_any_is_written() {
        let (a, b) = (b"the cat sat\n".as_slice(), b"a dog ran\n".as_slice());
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(b).unwrap();
        let files = [
            file("a.txt", a, "http://x/a.txt"),
            file("b.txt", b, "http://x/b.txt.gz"),
        ];
        let dir = tempfile::tempdir().unwrap();
        let port = serve(
            vec![("/a.txt", ok(a)), ("/b.txt.gz", ok(&gz.finish().unwrap()))],
            2,
        );
        fetch(&files, dir.path(), port).unwrap();
        assert_eq!(std::fs::read(dir.path().join("a.txt")).unwrap(), a);
        assert_eq!(
            std::fs::read(dir.path().join("b.txt")).unwrap(),
            b,
            "gunzipped"
        );
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            2,
            "no temporaries"
        );

        // The second file's body differs: neither file is written.
        let dir = tempfile::tempdir().unwrap();
        let port = serve(vec![("/a.txt", ok(a)), ("/b.txt", ok(b"a cat ran\n"))], 2);
        let plain = [files[0], file("b.txt", b, "http://x/b.txt")];
        let e = fetch(&plain, dir.path(), port).unwrap_err().to_string();
        assert!(e.contains("checksum mismatch for b.txt"), "{e}");
        assert!(
            nothing_left(dir.path()),
            "a.txt arrived whole but is not kept alone"
        );
    }

    #[test]
    fn failed_transfers_leave_nothing_behind() {
        let a = b"the cat sat on the mat\n".as_slice();
        let files = [file("a.txt", a, "http://x/a.txt")];
        // 404.
        let dir = tempfile::tempdir().unwrap();
        let port = serve(vec![], 1);
        let e = fetch(&files, dir.path(), port).unwrap_err().to_string();
        assert!(e.contains("HTTP 404"), "{e}");
        assert!(nothing_left(dir.path()));
        // A body cut short: 100 bytes announced, 23 sent, then the connection closes.
        let dir = tempfile::tempdir().unwrap();
        let cut = Reply {
            status: 200,
            body: a.to_vec(),
            announce: 100,
        };
        let port = serve(vec![("/a.txt", cut)], 1);
        let e = fetch(&files, dir.path(), port).unwrap_err().to_string();
        assert!(e.contains("broke off"), "{e}");
        assert!(nothing_left(dir.path()));
        // Connection refused: a port nobody listens on any more.
        let dir = tempfile::tempdir().unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let e = fetch(&files, dir.path(), port).unwrap_err().to_string();
        assert!(e.contains(&format!("127.0.0.1:{port}")), "{e}");
        assert!(nothing_left(dir.path()));
    }

    #[test]
    fn a_local_folder_serves_as_a_source() {
        let a = b"birds fly over the sea\n".as_slice();
        let src = tempfile::tempdir().unwrap();
        std::fs::write(src.path().join("a.txt"), a).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let files = [file("a.txt", a, "http://x/a.txt")];
        fetch_all(
            &files,
            dir.path(),
            |f| Source::Path(src.path().join(f.name)),
            &mut |_, _, _| {},
        )
        .unwrap();
        assert_eq!(std::fs::read(dir.path().join("a.txt")).unwrap(), a);
    }

    #[test]
    fn every_set_names_distinct_files_with_pinned_hashes() {
        for s in SETS {
            assert!(set(s.name).is_ok());
            for f in s.files {
                assert_eq!(f.sha256.len(), 64, "{}/{}", s.name, f.name);
                // A packed set's files come out of its archive.
                let url = s.packed.map_or(f.url, |p| p.archive.url);
                assert!(url.starts_with("https://"), "{url}");
            }
        }
        assert!(set("imagenet").unwrap_err().to_string().contains("coco"));
    }
}
