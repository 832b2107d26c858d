//! Plain sampling of a large draw, chunk by chunk: `textgan sample` writes as it goes, so its
//! count is bounded by the disk, not by memory.
use super::{Engine, Prepared, RowCond};
use crate::models::{generate, GenerateSpec};

/// Batches generated and handed over at a time. A multiple of any batch size that divides it
/// keeps the draws the same as one call would make.
const CHUNK_BATCHES: usize = 64;

impl Engine {
    /// Samples a prepared draw's texts (no scores) in batches of `batch_size`, handing each
    /// chunk of token rows (without `<eos>`) and their conditions to `sink` as it is done. The
    /// draw's seed, if any, seeds the whole stream once.
    pub fn sample_stream<E>(
        &self,
        p: &Prepared,
        batch_size: usize,
        mut sink: impl FnMut(&[Vec<i64>], &[RowCond]) -> Result<(), E>,
    ) -> Result<(), E> {
        let v = &self.gen.vocab;
        if let Some(seed) = p.draw.seed {
            tch::manual_seed(seed);
        }
        let batch_size = batch_size.max(1);
        let sampling = p.draw.sampling();
        for conds in p.conds.chunks(batch_size.saturating_mul(CHUNK_BATCHES)) {
            let spec = GenerateSpec {
                count: conds.len(),
                max_len: p.max_len,
                batch_size,
                bos: v.bos,
                eos: v.eos,
                banned: v.never_generated(),
                prefix: p.prefix.clone(),
                cond: self.condition(conds),
            };
            let seqs = generate(self.gen.model.net.as_ref(), &spec, &sampling, self.device());
            sink(&seqs, conds)?;
        }
        Ok(())
    }
}
