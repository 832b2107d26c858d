//! Teacher-forcing batches: `<bos>`-shifted inputs, `<eos>`-terminated targets, padding masked.
use super::condition::Condition;
use super::vocab::Vocab;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use tch::{Device, Tensor};

/// Target id that the loss ignores (PyTorch's default `ignore_index`).
pub const IGNORE_INDEX: i64 = -100;

/// One batch: `input[b, t]` is the token before `target[b, t]`.
#[derive(Debug)]
pub struct Batch {
    /// [B, T] token ids, starting with `<bos>`.
    pub input: Tensor,
    /// [B, T] next-token ids, padded with [`IGNORE_INDEX`].
    pub target: Tensor,
    /// Number of target tokens that count (not padding).
    pub tokens: i64,
    /// What the rows are conditioned on (none for unconditional data).
    pub cond: Condition,
}

impl Batch {
    /// Builds a batch padded to its own longest sequence.
    pub fn new(seqs: &[&[i64]], vocab: &Vocab, device: Device) -> Batch {
        let eos = vocab.eos.map_or(0, |_| 1);
        let t = seqs.iter().map(|s| s.len() + eos).max().unwrap_or(1).max(1);
        let b = seqs.len();
        let pad_in = vocab.pad.unwrap_or(0);
        let mut input = vec![pad_in; b * t];
        let mut target = vec![IGNORE_INDEX; b * t];
        let mut tokens = 0;
        for (i, s) in seqs.iter().enumerate() {
            let row = i * t;
            input[row] = vocab.bos;
            let tgt: Vec<i64> = s.iter().copied().chain(vocab.eos).collect();
            for (j, &tok) in tgt.iter().enumerate() {
                target[row + j] = tok;
                if j + 1 < tgt.len() {
                    input[row + j + 1] = tok;
                }
            }
            tokens += tgt.len() as i64;
        }
        let shape = [b as i64, t as i64];
        Batch {
            input: Tensor::from_slice(&input).view(shape).to_device(device),
            target: Tensor::from_slice(&target).view(shape).to_device(device),
            tokens,
            cond: Condition::None,
        }
    }

    /// The batch with its rows conditioned on `cond` (one condition row per sequence).
    pub fn given(self, cond: Condition) -> Batch {
        debug_assert!(cond.rows().is_none_or(|r| r == self.input.size()[0]));
        Batch { cond, ..self }
    }
}

/// Seeded shuffling into batches; epoch `e` always gives the same order, so a resumed run
/// sees the batches the uninterrupted run would have.
#[derive(Debug, Clone)]
pub struct Batcher {
    pub batch_size: usize,
    pub seed: u64,
}

impl Batcher {
    /// Index lists of the batches of one epoch (the last one may be short).
    pub fn epoch(&self, n: usize, epoch: usize) -> Vec<Vec<usize>> {
        let mut idx: Vec<usize> = (0..n).collect();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(
            self.seed
                .wrapping_mul(0x9E37_79B9)
                .wrapping_add(epoch as u64),
        );
        idx.shuffle(&mut rng);
        idx.chunks(self.batch_size.max(1))
            .map(<[usize]>::to_vec)
            .collect()
    }

    pub fn batches_per_epoch(&self, n: usize) -> usize {
        n.div_ceil(self.batch_size.max(1))
    }
}

/// Fixed-order batches for evaluation.
pub fn in_order(n: usize, batch_size: usize) -> impl Iterator<Item = std::ops::Range<usize>> {
    (0..n)
        .step_by(batch_size.max(1))
        .map(move |s| s..(s + batch_size).min(n))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Tokenizer;

    #[test]
    fn shifts_and_pads() {
        let v = Vocab::build(["a b c"].iter().copied(), Tokenizer::Word, 0, 1);
        let (a, b, c) = (v.id("a").unwrap(), v.id("b").unwrap(), v.id("c").unwrap());
        let s1 = vec![a, b, c];
        let s2 = vec![c];
        let batch = Batch::new(&[&s1, &s2], &v, Device::Cpu);
        assert_eq!(batch.input.size(), vec![2, 4]);
        let input: Vec<i64> = Vec::try_from(batch.input.view(-1)).unwrap();
        let target: Vec<i64> = Vec::try_from(batch.target.view(-1)).unwrap();
        assert_eq!(input, vec![1, a, b, c, 1, c, 0, 0]);
        assert_eq!(target, vec![a, b, c, 2, c, 2, IGNORE_INDEX, IGNORE_INDEX]);
        assert_eq!(batch.tokens, 6);
    }

    #[test]
    fn oracle_batches_have_no_eos() {
        let v = Vocab::numeric(10);
        let s = vec![3, 0, 7];
        let batch = Batch::new(&[&s], &v, Device::Cpu);
        assert_eq!(
            Vec::<i64>::try_from(batch.input.view(-1)).unwrap(),
            vec![0, 3, 0]
        );
        assert_eq!(
            Vec::<i64>::try_from(batch.target.view(-1)).unwrap(),
            vec![3, 0, 7]
        );
    }

    #[test]
    fn epochs_are_seeded_permutations() {
        let b = Batcher {
            batch_size: 4,
            seed: 1,
        };
        let e0 = b.epoch(10, 0);
        assert_eq!(e0.len(), 3);
        assert_eq!(e0, b.epoch(10, 0));
        assert_ne!(e0, b.epoch(10, 1));
        let mut all: Vec<usize> = e0.concat();
        all.sort();
        assert_eq!(all, (0..10).collect::<Vec<_>>());
    }
}
