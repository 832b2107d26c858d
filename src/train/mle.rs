//! The MLE phase: teacher-forced steps over the training data in seeded epochs, evaluated
//! every `train.eval_every` steps or at each epoch's end; and the MLE step captured as a CUDA
//! graph (the eager step is [`crate::optim::mle_step`]).
use super::metrics::{Metrics, MleWindow};
use super::phase::{Opening, Phase, Report};
use super::state::{train_batch, RunState};
use crate::data::{Batch, Batcher};
use crate::models::{lm_loss, Generator};
use crate::optim::{mle_step_accumulated, mle_step_weighted, Adam};
use crate::Result;
use std::time::Instant;
use tch::Tensor;

/// The MLE phase's state within one call of the run loop.
#[derive(Default)]
pub(crate) struct MlePhase {
    window: MleWindow,
    graphed: Option<GraphedMleStep>,
    /// The current epoch's batch order: (epoch, batches).
    order: Option<(usize, Vec<Vec<usize>>)>,
}

impl MlePhase {
    /// The batches of `epoch`, in its seeded order.
    fn batches(&mut self, t: &RunState) -> &Vec<Vec<usize>> {
        let epoch = t.progress.epoch;
        if self.order.as_ref().is_none_or(|(e, _)| *e != epoch) {
            let batcher = Batcher {
                batch_size: t.cfg.train.batch_size as usize,
                seed: t.cfg.train.seed,
            };
            self.order = Some((epoch, batcher.epoch(t.data.corpus.train.len(), epoch)));
        }
        &self.order.as_ref().expect("set above").1
    }

    /// Moves to the next epoch once the current one's batches are all used.
    fn roll_over(&mut self, t: &mut RunState) -> bool {
        let n = self.batches(t).len();
        if t.progress.batch_in_epoch >= n {
            t.progress.epoch += 1;
            t.progress.batch_in_epoch = 0;
            return true;
        }
        false
    }
}

impl Phase for MlePhase {
    fn total(&self, t: &RunState) -> usize {
        t.plan.mle
    }

    fn done(&self, t: &RunState) -> usize {
        t.progress.step
    }

    fn begin(&mut self, t: &mut RunState, out: &mut Report) -> Result<()> {
        if t.progress.step > 0 {
            let m = format!(
                "resuming at step {} (epoch {})",
                t.progress.step, t.progress.epoch
            );
            out.say(&m);
        }
        out.hooks.on_start(t.progress.step, t.plan.mle);
        Ok(())
    }

    fn step(&mut self, t: &mut RunState, out: &mut Report) -> Result<bool> {
        // An epoch finished at the previous step's evaluation (`eval_every` > 0) ends now.
        self.roll_over(t);
        let t0 = Instant::now();
        let cfg = &t.cfg.train;
        // Seeding by step makes dropout depend on the step alone, so a resumed run matches.
        tch::manual_seed(
            (cfg.seed as i64)
                .wrapping_mul(1_000_003)
                .wrapping_add(t.progress.step as i64),
        );
        let from = t.progress.batch_in_epoch;
        let picks = {
            let all = self.batches(t);
            all[from..(from + cfg.grad_accum.max(1)).min(all.len())].to_vec()
        };
        let corpus = &t.data.corpus;
        let parts: Vec<Batch> = picks
            .iter()
            .map(|idx| train_batch(corpus, idx, t.device))
            .collect();
        let lr = t.schedule.lr(t.progress.step) * t.progress.lr_scale;
        if cfg.cuda_graph && self.graphed.is_none() {
            let shape = [cfg.batch_size, corpus.max_len as i64];
            self.graphed = Some(GraphedMleStep::new(
                t.gen.net.as_ref(),
                &mut t.opt,
                shape,
                corpus.vocab.pad.unwrap_or(0),
                cfg.grad_clip,
                t.device,
            )?);
            out.say("MLE step captured as a CUDA graph; replaying it");
        }
        // A graph holds one batch: the config allows it with `grad_accum = 1` only.
        let replayed = match &mut self.graphed {
            Some(g) => g.step(&mut t.opt, &parts[0], lr)?,
            None => None,
        };
        let clip = t.cfg.train.grad_clip;
        let (_, world) = crate::dist::rank_and_world();
        let loss = match replayed {
            Some(loss) => loss,
            None if world > 1 => {
                let (shards, weights) = shard_parts(&t.data.corpus, &picks, &parts, t.device);
                mle_step_weighted(t.gen.net.as_ref(), &mut t.opt, &shards, &weights, clip, lr)
            }
            None => mle_step_accumulated(t.gen.net.as_ref(), &mut t.opt, &parts, clip, lr),
        };
        let tokens = parts.iter().map(|b| b.tokens).sum();
        t.progress.step += 1;
        t.progress.batch_in_epoch += parts.len();
        self.window.add(&loss, tokens, t0);
        let (step, total) = (t.progress.step, t.plan.mle);
        if step.is_multiple_of(10) || step == total {
            out.hooks.on_step(step, self.window.loss(), lr);
        }
        let every = t.cfg.train.eval_every;
        if every > 0 {
            return Ok(step.is_multiple_of(every));
        }
        // Evaluations at each epoch's end see the new epoch.
        Ok(self.roll_over(t))
    }

    fn reload(
        &mut self,
        _t: &mut RunState,
        _checkpoint: (&std::collections::HashMap<String, Tensor>, &std::path::Path),
        _out: &mut Report,
    ) -> Result<Opening> {
        self.window = MleWindow::default();
        self.graphed = None;
        Ok(Opening::Nothing)
    }

    fn finish(&mut self, t: &mut RunState) {
        self.roll_over(t);
    }

    fn close_window(&mut self, t: &mut RunState, m: &mut Metrics, out: &mut Report) -> Result<()> {
        let step = t.progress.step;
        m.train_loss = Some(self.window.loss());
        m.lr = Some(t.schedule.lr(step.saturating_sub(1)) * t.progress.lr_scale);
        m.tokens_per_s = Some(self.window.tokens_per_s());
        m.train_s = Some(self.window.seconds);
        if let Some(nll) = m.test_nll {
            if t.schedule.observe(nll) {
                let msg = format!(
                    "test NLL has not improved: learning rate now {:.3e}",
                    t.schedule.lr(step)
                );
                out.say(&msg);
            }
        }
        self.window = MleWindow::default();
        Ok(())
    }
}

/// This rank's share of the global batches `parts` (rows `picks`): contiguous runs of each
/// batch's rows, ranks in order, and the weight of each shard's mean token loss, the world size
/// times its share of the global batches' tokens. Averaged over the ranks, the weighted losses
/// and their gradients are exactly those of the global batches in one process.
fn shard_parts(
    corpus: &crate::data::Corpus,
    picks: &[Vec<usize>],
    parts: &[Batch],
    device: tch::Device,
) -> (Vec<Batch>, Vec<f64>) {
    let (rank, world) = crate::dist::rank_and_world();
    let tokens: i64 = parts.iter().map(|b| b.tokens).sum();
    let mut shards = Vec::new();
    let mut weights = Vec::new();
    for idx in picks {
        let (lo, hi) = crate::dist::shard_range(idx.len(), rank, world);
        if lo < hi {
            let b = train_batch(corpus, &idx[lo..hi], device);
            weights.push(world as f64 * b.tokens as f64 / tokens.max(1) as f64);
            shards.push(b);
        }
    }
    (shards, weights)
}

/// The MLE step captured once as a CUDA graph and replayed for every batch.
///
/// Small models on a GPU spend most of a step launching kernels; replaying the whole step
/// (forward, backward, clipping, Adam) as one graph removes that. Batches are copied into static
/// `[batch_size, max_len]` tensors (padded to `max_len`; padding is ignored by the loss, so the
/// loss equals the eager step's), the learning rate into a 0-d tensor, and Adam's step count
/// lives on the device ([`Adam::step_on_device`]). A batch of another size (the last of an
/// epoch) is not graphed: [`GraphedMleStep::step`] returns `None` and the caller runs
/// [`crate::optim::mle_step`], which keeps Adam's counts in step with the graph's.
pub struct GraphedMleStep {
    graph: crate::cuda_graph::CudaGraph,
    input: Tensor,
    target: Tensor,
    lr: Tensor,
    loss: Tensor,
    pad: i64,
}

impl GraphedMleStep {
    /// Captures the step for `gen` and `opt` on `device` (CUDA). The warm-up steps run before
    /// the capture change nothing in the end: parameters and Adam's state are restored after it.
    pub fn new(
        gen: &dyn Generator,
        opt: &mut Adam,
        shape: [i64; 2],
        pad: i64,
        grad_clip: f64,
        device: tch::Device,
    ) -> crate::Result<GraphedMleStep> {
        let ids = (tch::Kind::Int64, device);
        let input = Tensor::full(shape, pad, ids);
        let target = Tensor::zeros(shape, ids); // real tokens, so the warm-up loss is finite
        let lr = Tensor::zeros([], (tch::Kind::Float, device));
        let before = opt.snapshot();
        let mut loss = None;
        let batch = Batch {
            input: input.shallow_clone(),
            target: target.shallow_clone(),
            tokens: 0,
            cond: crate::data::Condition::None,
        };
        let graph = crate::cuda_graph::CudaGraph::capture(device, 3, || {
            let l = lm_loss(gen, &batch, true);
            opt.zero_grad();
            l.backward();
            if grad_clip > 0.0 {
                opt.clip_grad_norm_on_device(grad_clip);
            }
            opt.step_on_device(&lr);
            loss = Some(l.detach());
        });
        opt.restore(&before);
        let graph = graph?;
        Ok(GraphedMleStep {
            graph,
            input,
            target,
            lr,
            loss: loss.expect("the captured step ran"),
            pad,
        })
    }

    /// One replayed step on `batch` at learning rate `lr`; `None` (nothing done) when the batch
    /// does not fit the captured shape.
    pub fn step(
        &mut self,
        opt: &mut Adam,
        batch: &Batch,
        lr: f64,
    ) -> crate::Result<Option<Tensor>> {
        let (shape, size) = (self.input.size(), batch.input.size());
        if size[0] != shape[0] || size[1] > shape[1] {
            return Ok(None);
        }
        let _guard = tch::no_grad_guard();
        let _ = self.input.fill_(self.pad);
        let _ = self.target.fill_(crate::data::IGNORE_INDEX);
        self.input.narrow(1, 0, size[1]).copy_(&batch.input);
        self.target.narrow(1, 0, size[1]).copy_(&batch.target);
        let _ = self.lr.fill_(lr);
        self.graph.replay()?;
        opt.t += 1;
        Ok(Some(self.loss.copy()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Vocab;
    use crate::models::GeneratorModel;
    use crate::models::{GeneratorConfig, LstmConfig};
    use crate::optim::{mle_step, AdamConfig};
    use tch::Device;

    /// The replayed graph takes the same steps as the eager step: same losses, same weights
    /// after six updates (clipping active), including a short batch that falls back to eager.
    /// Needs a GPU; on a CPU-only machine it checks that asking for one is refused.
    #[test]
    fn graphed_step_matches_the_eager_step() {
        let vocab = Vocab::numeric(40);
        let rows: Vec<Vec<i64>> = (0..8)
            .map(|i| (0..3 + i % 5).map(|j| 4 + (i * 7 + j * 3) % 36).collect())
            .collect();
        let refs: Vec<&[i64]> = rows.iter().map(Vec::as_slice).collect();
        let cfg = GeneratorConfig::Lstm(LstmConfig {
            embed_dim: 8,
            hidden_dim: 16,
            num_layers: 1,
            dropout: 0.0,
        });
        let Some(device) = tch::Cuda::is_available().then_some(Device::Cuda(0)) else {
            tch::manual_seed(0);
            let m = GeneratorModel::new(&cfg, 40, 9, Device::Cpu);
            let mut opt = Adam::new(&m.vs, &AdamConfig::default());
            let e = GraphedMleStep::new(m.net.as_ref(), &mut opt, [8, 9], 0, 1.0, Device::Cpu);
            assert!(e.is_err());
            return;
        };
        let make = || {
            tch::manual_seed(0);
            let m = GeneratorModel::new(&cfg, 40, 9, device);
            let opt = Adam::new(&m.vs, &AdamConfig::default());
            (m, opt)
        };
        let (eager, mut eager_opt) = make();
        let (graphed, mut graphed_opt) = make();
        let mut g = GraphedMleStep::new(
            graphed.net.as_ref(),
            &mut graphed_opt,
            [8, 9],
            0,
            1.0,
            device,
        )
        .expect("capture");
        for step in 0..6 {
            let take = if step == 3 { &refs[..5] } else { &refs[..] };
            let batch = Batch::new(take, &vocab, device);
            let a = mle_step(eager.net.as_ref(), &mut eager_opt, &batch, 1.0, 0.01);
            let b = match g.step(&mut graphed_opt, &batch, 0.01).expect("replay") {
                Some(loss) => loss,
                None => mle_step(graphed.net.as_ref(), &mut graphed_opt, &batch, 1.0, 0.01),
            };
            let (a, b) = (a.double_value(&[]), b.double_value(&[]));
            assert!((a - b).abs() < 1e-4, "step {step}: loss {a} vs {b}");
        }
        assert_eq!(eager_opt.t, graphed_opt.t);
        let theirs = graphed.vs.variables();
        for (name, x) in eager.vs.variables() {
            let d = (&x - &theirs[&name]).abs().max().double_value(&[]);
            assert!(d < 1e-4, "{name} differs by {d}");
        }
    }
}
