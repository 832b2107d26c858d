//! Synonyms without WordNet: the nearest neighbours of a word among the whole-word entries of a
//! BERT-family vocabulary, each word embedded by the sentence encoder (all-MiniLM-L6-v2 by
//! default) as a one-word text.
//!
//! Why the encoder and not the input embedding table: on MiniLM the table puts antonyms next to
//! each other (`good` -> `bad`) where the encoder does not (`good` -> excellent, great, nice).
//! Neighbours that share the word's stem (`movie` -> `movies`, `kill` -> `killing`) are dropped,
//! as EDA's WordNet synonyms are other words, not other forms of the same one.
use crate::error::Result;
use crate::eval::encoder::SentenceEncoder;
use std::collections::HashMap;
use std::path::Path;
use tch::{Kind, Tensor};

/// How neighbours are chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NeighbourSettings {
    /// Neighbours kept per word at most.
    pub k: usize,
    /// Cosine similarity a neighbour needs at least.
    pub min_similarity: f64,
}

impl Default for NeighbourSettings {
    fn default() -> Self {
        NeighbourSettings {
            k: 5,
            min_similarity: 0.5,
        }
    }
}

/// Synonyms of lower-cased words; a word without any maps to nothing.
#[derive(Debug, Clone, Default)]
pub struct Synonyms {
    map: HashMap<String, Vec<String>>,
}

impl Synonyms {
    /// A table given word by word (tests, or synonyms from elsewhere).
    pub fn from_map(map: HashMap<String, Vec<String>>) -> Synonyms {
        Synonyms { map }
    }

    /// The synonyms of `word` (compared lower-cased), nearest first.
    pub fn of(&self, word: &str) -> &[String] {
        self.map
            .get(&word.to_lowercase())
            .map_or(&[], |v| v.as_slice())
    }

    /// `word<TAB>synonym synonym ...` per word that has any, words sorted.
    pub fn to_tsv(&self) -> String {
        let mut words: Vec<(&String, &Vec<String>)> =
            self.map.iter().filter(|(_, v)| !v.is_empty()).collect();
        words.sort();
        words
            .into_iter()
            .map(|(w, v)| format!("{w}\t{}\n", v.join(" ")))
            .collect()
    }

    /// Words that have at least one synonym.
    pub fn len(&self) -> usize {
        self.map.values().filter(|v| !v.is_empty()).count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The neighbours of each of `words` (lower-cased, alphabetic) among `candidates`, the
    /// encoder's whole-word vocabulary entries. `progress` hears how many texts were encoded.
    pub fn from_encoder(
        encoder: &SentenceEncoder,
        candidates: &Candidates,
        words: &[String],
        settings: &NeighbourSettings,
        progress: &mut dyn FnMut(usize),
    ) -> Result<Synonyms> {
        let (candidates, cand) = (&candidates.words, &candidates.vectors);
        let index: HashMap<&str, usize> = candidates
            .iter()
            .enumerate()
            .map(|(i, w)| (w.as_str(), i))
            .collect();
        let unknown: Vec<String> = words
            .iter()
            .filter(|w| !index.contains_key(w.as_str()))
            .cloned()
            .collect();
        let extra = encoder.encode(&unknown, progress)?;
        let mut map = HashMap::new();
        let rows: Vec<Tensor> = words
            .iter()
            .map(|w| match index.get(w.as_str()) {
                Some(&i) => cand.get(i as i64),
                None => extra.get(unknown.iter().position(|u| u == w).expect("listed") as i64),
            })
            .collect();
        // Features are unit vectors: the product is the cosine.
        let want = (settings.k * 4 + 8).min(candidates.len());
        for (chunk_words, chunk_rows) in words.chunks(512).zip(rows.chunks(512)) {
            if chunk_rows.is_empty() {
                continue;
            }
            let q = Tensor::stack(chunk_rows, 0);
            let sims = q.matmul(&cand.transpose(0, 1));
            let (values, idx) = sims.topk(want as i64, 1, true, true);
            for (j, word) in chunk_words.iter().enumerate() {
                let v: Vec<f64> = Vec::try_from(values.get(j as i64).to_kind(Kind::Double))
                    .expect("a row of similarities");
                let ix: Vec<i64> = Vec::try_from(idx.get(j as i64)).expect("a row of indices");
                let near: Vec<String> = ix
                    .iter()
                    .zip(&v)
                    .filter(|(_, &s)| s >= settings.min_similarity)
                    .map(|(&i, _)| candidates[i as usize].clone())
                    .filter(|c| !same_stem(word, c))
                    .take(settings.k)
                    .collect();
                map.insert(word.clone(), near);
            }
        }
        Ok(Synonyms { map })
    }
}

/// The words synonyms are chosen from, and their features.
pub struct Candidates {
    pub words: Vec<String>,
    /// [words, hidden], unit rows.
    pub vectors: Tensor,
}

impl Candidates {
    /// The encoder's whole-word vocabulary entries, each encoded as a one-word text.
    pub fn encode(encoder: &SentenceEncoder, progress: &mut dyn FnMut(usize)) -> Result<Self> {
        let words = vocabulary_words(encoder);
        let vectors = encoder.encode(&words, progress)?;
        Ok(Candidates { words, vectors })
    }

    /// Where [`Candidates::cached`] keeps the candidates of the encoder in `folder`.
    pub fn cache_path(folder: &Path, cache: &Path) -> std::path::PathBuf {
        cache.join(format!("{}.safetensors", cache_key(folder)))
    }

    /// [`Candidates::encode`], kept in `cache` (a folder) under a name that hashes the
    /// encoder's `config.json`, `tokenizer.json` and weight file size, and read from there
    /// next time. A cache that cannot be written is skipped; one that cannot be read is
    /// remade.
    pub fn cached(
        encoder: &SentenceEncoder,
        cache: &Path,
        progress: &mut dyn FnMut(usize),
    ) -> Result<Self> {
        let path = Candidates::cache_path(&encoder.folder, cache);
        let words_path = path.with_extension("words");
        if let (Ok(t), Ok(w)) = (
            Tensor::read_safetensors(&path),
            std::fs::read_to_string(&words_path),
        ) {
            let words: Vec<String> = w.lines().map(String::from).collect();
            if let Some((_, vectors)) = t.into_iter().find(|(k, _)| k == "vectors") {
                if vectors.size().first() == Some(&(words.len() as i64)) {
                    return Ok(Candidates { words, vectors });
                }
            }
        }
        let c = Candidates::encode(encoder, progress)?;
        let saved = std::fs::create_dir_all(cache).is_ok()
            && crate::fsutil::write_atomic(&words_path, (c.words.join("\n") + "\n").as_bytes())
                .is_ok();
        if saved {
            let tmp = crate::fsutil::temp_path(&path);
            if Tensor::write_safetensors(&[("vectors", &c.vectors)], &tmp).is_ok() {
                let _ = std::fs::rename(&tmp, &path);
            }
        }
        Ok(c)
    }
}

/// A short hash naming an encoder folder's candidates in a cache.
fn cache_key(folder: &Path) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for f in ["config.json", "tokenizer.json"] {
        h.update(std::fs::read(folder.join(f)).unwrap_or_default());
    }
    let size = std::fs::metadata(folder.join("model.safetensors")).map_or(0, |m| m.len());
    h.update(size.to_le_bytes());
    let hex: String = h
        .finalize()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("words-{hex}")
}

/// Lower-case alphabetic entries of two or more letters in the encoder's vocabulary (no `##`
/// pieces, no `[CLS]`).
fn vocabulary_words(encoder: &SentenceEncoder) -> Vec<String> {
    let mut words: Vec<String> = encoder
        .vocabulary()
        .into_iter()
        .filter(|w| w.len() >= 2 && w.chars().all(|c| c.is_ascii_lowercase()))
        .collect();
    words.sort();
    words
}

/// Whether `a` and `b` read as forms of one word: their common prefix covers the shorter one
/// but its last letter, or four letters (`city`/`cities`, `man`/`mans`, `movie`/`movies`).
pub fn same_stem(a: &str, b: &str) -> bool {
    let common = a.chars().zip(b.chars()).take_while(|(x, y)| x == y).count();
    let shorter = a.chars().count().min(b.chars().count());
    common >= 4 || common + 1 >= shorter
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stems_are_told_apart_from_synonyms() {
        for (a, b) in [
            ("city", "cities"),
            ("man", "mans"),
            ("movie", "movies"),
            ("kill", "killing"),
            ("bad", "badly"),
            ("largest", "large"),
            ("good", "good"),
        ] {
            assert!(same_stem(a, b), "{a} {b}");
        }
        for (a, b) in [("good", "great"), ("largest", "biggest"), ("film", "movie")] {
            assert!(!same_stem(a, b), "{a} {b}");
        }
    }
}
