//! SeqGAN (Yu et al. 2017): REINFORCE, the reward of token t being the mean discriminator
//! probability of `rollouts` Monte Carlo completions of the prefix up to t, drawn from a delayed
//! copy of the generator (updated as rollout = r * rollout + (1 - r) * G).
//!
//! The rollouts of all prefixes and all samples run as one growing batch on the device: at
//! position p every completion in flight (prefixes 1..p) samples its next token in one step,
//! and the completions of prefix p join from the teacher-forced state. The Python toolkits loop
//! over prefixes and rollouts one batch at a time.
use super::batches::{
    self, fresh_samples, reinforce_loss, sample_tensor, token_log_probs, Shapes, Slice,
};
use super::disc_side::DiscSide;
use super::{any_networks, g_update, AdvConfig, Algorithm, Ctx, Parts, Settings, Spec, StepStats};
use crate::data::Condition;
use crate::error::{ensure, Result};
use crate::models::disc::score_given_in_chunks;
use crate::models::{Generator, GeneratorModel, Sampling, State};
use crate::optim::Adam;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::marker::PhantomData;
use std::path::Path;
use tch::{nn::VarStore, Kind, Tensor};

pub static SPEC: Spec<SeqganConfig> = Spec {
    name: "seqgan",
    about: "REINFORCE with Monte Carlo rollout rewards (Yu et al. 2017)",
    build: |c, p| Box::new(SeqGan::new(c, p)),
    check: any_networks,
    settings: PhantomData,
};

/// SeqGAN's own `[gan]` keys.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SeqganConfig {
    /// Monte Carlo completions per prefix.
    pub rollouts: i64,
    /// The rollout policy's update rate: rollout = r * rollout + (1 - r) * G.
    pub rollout_update: f64,
    /// SeqGAN's discriminator schedule ([`DRounds`]).
    pub d_epochs: usize,
    pub d_samples: usize,
}

impl Default for SeqganConfig {
    fn default() -> Self {
        SeqganConfig {
            rollouts: 16,
            rollout_update: 0.8,
            d_epochs: DRounds::default().d_epochs,
            d_samples: DRounds::default().d_samples,
        }
    }
}

impl Settings for SeqganConfig {
    fn validate(&self) -> Result<()> {
        ensure((1..=1024).contains(&self.rollouts), || {
            format!("gan.rollouts must be in 1..=1024, got {}", self.rollouts)
        })?;
        ensure((0.0..=1.0).contains(&self.rollout_update), || {
            "gan.rollout_update must be in [0, 1]".into()
        })?;
        self.d_rounds().validate()
    }
}

impl SeqganConfig {
    pub fn d_rounds(&self) -> DRounds {
        DRounds {
            d_epochs: self.d_epochs,
            d_samples: self.d_samples,
        }
    }
}

/// SeqGAN's own discriminator schedule (used by SeqGAN and MaliGAN): when `d_epochs` is
/// positive, each of `gan.d_steps` (and `gan.d_pretrain_steps`) becomes a round of `d_epochs`
/// passes over `d_samples` freshly generated sequences against as many training lines, in
/// batches of `gan.batch_size` of each. SeqGAN's code: 5 rounds of 3 epochs on 10,000 (50 to
/// pretrain). 0 (default): each is one batch update.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DRounds {
    pub d_epochs: usize,
    pub d_samples: usize,
}

impl Default for DRounds {
    fn default() -> Self {
        DRounds {
            d_epochs: 0,
            d_samples: 10_000,
        }
    }
}

/// Generated sequences are drawn in pieces of at most this many rows.
const SAMPLE_CHUNK: usize = 4096;

impl DRounds {
    pub fn validate(&self) -> Result<()> {
        ensure(
            self.d_epochs == 0 || (1..=1 << 22).contains(&self.d_samples),
            || {
                format!(
                    "gan.d_samples must be in 1..=4194304 when gan.d_epochs is set, got {}",
                    self.d_samples
                )
            },
        )
    }

    /// What one discriminator step is, for the log.
    pub fn unit(&self) -> String {
        match self.d_epochs {
            0 => "updates".to_string(),
            e => format!("rounds of {e} epochs over {} fresh samples", self.d_samples),
        }
    }

    /// One discriminator update on a real and a generated batch of ids, or with `d_epochs`
    /// set, one round of SeqGAN's epoch schedule ([`DRounds::round`]).
    pub fn step(
        &self,
        disc: &mut DiscSide,
        shapes: &Shapes,
        adv: &AdvConfig,
        ctx: &mut Ctx,
    ) -> StepStats {
        if self.d_epochs > 0 {
            return self.round(disc, shapes, adv, ctx);
        }
        StepStats::from_d(disc.update_on_fresh(ctx, shapes, adv))
    }

    /// SeqGAN's discriminator training (its `train_discriminator`): `d_samples` fresh sequences
    /// from G against as many training lines drawn without replacement, then `d_epochs` passes
    /// over both in shuffled batches of `batch_size` real and `batch_size` generated rows.
    /// (SeqGAN's loader mixes the two files into batches of 64 rows in all; here each update
    /// sees both sides equally, the loss the other algorithms use.) Returns the means over the
    /// last pass.
    pub fn round(
        &self,
        disc: &mut DiscSide,
        shapes: &Shapes,
        adv: &AdvConfig,
        ctx: &mut Ctx,
    ) -> StepStats {
        let n = self.d_samples;
        // The real rows first: the fakes are drawn under their labels. (Picking uses the
        // algorithm's random stream, sampling torch's: the order changes neither.)
        let picks = batches::draw_without_replacement(n, ctx.real.len(), ctx.rng);
        let real = batches::real_rows(ctx.real, &picks, shapes, ctx.device);
        let cond = ctx.cond_of(&picks);
        let mut pieces = Vec::new();
        let mut left = n;
        while left > 0 {
            let m = left.min(SAMPLE_CHUNK);
            let c = cond.narrow((n - left) as i64, m as i64);
            let ids = sample_tensor(ctx.gen, m as i64, &c, shapes, ctx.device);
            pieces.push(shapes.to_d_len(&ids));
            left -= m;
        }
        let fake = Tensor::cat(&pieces, 0);
        let batch = adv.batch_size as usize;
        let mut sums = StepStats::default();
        let mut count = 0.0;
        let device = ctx.device;
        let rows = |ids: &[usize]| {
            let v: Vec<i64> = ids.iter().map(|&i| i as i64).collect();
            Tensor::from_slice(&v).to_device(device)
        };
        for epoch in 0..self.d_epochs {
            let order_r = batches::draw_without_replacement(n, n, ctx.rng);
            let order_f = batches::draw_without_replacement(n, n, ctx.rng);
            for (r, f) in order_r.chunks(batch).zip(order_f.chunks(batch)) {
                let (r, f) = (rows(r), rows(f));
                let s = disc.update_ids(
                    &real.index_select(0, &r),
                    &fake.index_select(0, &f),
                    (&cond.index_select(&r), &cond.index_select(&f)),
                    adv.d_lr,
                );
                if epoch + 1 == self.d_epochs {
                    sums.add(&StepStats::from_d(s));
                    count += 1.0;
                }
            }
        }
        sums.scale(1.0 / count);
        sums
    }
}

pub struct SeqGan {
    adv: AdvConfig,
    cfg: SeqganConfig,
    shapes: Shapes,
    disc: DiscSide,
    g_opt: Adam,
    rollout: GeneratorModel,
}

impl SeqGan {
    pub fn new(cfg: SeqganConfig, p: Parts) -> Self {
        let rollout = p.generator_copy();
        let shapes = p.shapes;
        SeqGan {
            adv: p.adv.clone(),
            cfg,
            shapes,
            disc: p.disc,
            g_opt: p.g_opt,
            rollout,
        }
    }

    fn update_rollout(&mut self, gen: &VarStore) {
        follow(&self.rollout.vs, gen, self.cfg.rollout_update);
    }

    fn d_update(&mut self, ctx: &mut Ctx) -> StepStats {
        self.cfg
            .d_rounds()
            .step(&mut self.disc, &self.shapes, &self.adv, ctx)
    }
}

/// Moves a delayed copy toward the generator: `copy = rate * copy + (1 - rate) * gen`.
pub fn follow(copy: &VarStore, gen: &VarStore, rate: f64) {
    let _guard = tch::no_grad_guard();
    let src = gen.variables();
    for (name, mut dst) in copy.variables() {
        let s = &src[&name];
        assert_eq!(
            s.size(),
            dst.size(),
            "{name}: the copy has the generator's shapes"
        );
        let _ = dst.g_mul_scalar_(rate);
        let _ = dst.g_add_(&(s * (1.0 - rate)));
    }
}

/// Per-token rewards [B, T] for `samples` [B, T]: for t < T-1 the mean over `n` completions by
/// `policy` of the discriminator's probability of "real"; for the last token, that of the sample.
pub fn rollout_rewards(
    policy: &dyn Generator,
    disc: &DiscSide,
    (samples, cond): (&Tensor, &Condition),
    n: i64,
    shapes: &Shapes,
) -> Tensor {
    let rows = (0, samples.size()[0]);
    rollout_rewards_of_rows(policy, disc, (samples, cond), n, shapes, rows)
}

/// The rows `lo..lo + len` of [`rollout_rewards`] [len, T], computed for those rows alone but
/// drawn as for the whole batch `samples` (see [`rollout_scores_of_rows`]).
pub fn rollout_rewards_of_rows(
    policy: &dyn Generator,
    disc: &DiscSide,
    (samples, cond): (&Tensor, &Condition),
    n: i64,
    shapes: &Shapes,
    (lo, len): (i64, i64),
) -> Tensor {
    let d = disc.model.net.as_ref();
    let mine = cond.narrow(lo, len);
    // [N] probabilities of "real", mean over representations.
    let prob = |scores: Tensor| {
        scores
            .sigmoid()
            .mean_dim([1i64].as_slice(), false, Kind::Float)
    };
    let score = |base: &Tensor, rows: &Tensor, rows_cond: &Condition| match rows_cond {
        // Unconditional: the discriminator may share the work on the common prefixes.
        Condition::None => prob(d.score_completions(base, rows, n)),
        c => prob(score_given_in_chunks(d, rows, c)),
    };
    let last = |base: &Tensor| prob(d.score_given(base, &mine, false));
    let rows = (lo, len);
    rollout_scores_of_rows(policy, (samples, cond), n, shapes, &score, &last, rows)
}

/// The per-token rewards [B, T] of `rollout_rewards` with the scoring given: `score(base,
/// rows, rows_cond)` gives a reward [N] for each completion, `last(base)` one for each whole
/// sample (the base at the discriminator's length).
pub fn rollout_scores(
    policy: &dyn Generator,
    (samples, cond): (&Tensor, &Condition),
    n: i64,
    shapes: &Shapes,
    score: &dyn Fn(&Tensor, &Tensor, &Condition) -> Tensor,
    last: &dyn Fn(&Tensor) -> Tensor,
) -> Tensor {
    let rows = (0, samples.size()[0]);
    rollout_scores_of_rows(policy, (samples, cond), n, shapes, score, last, rows)
}

/// The rows `lo..lo + len` of [`rollout_scores`] [len, T]: the completions of those samples
/// alone, their tokens drawn with the uniform numbers one process draws for the whole batch
/// (sliced to these rows), so that processes that split a batch between them get, together,
/// the rewards one process gets for all of it. The scorers see these rows only.
pub fn rollout_scores_of_rows(
    policy: &dyn Generator,
    (all, cond): (&Tensor, &Condition),
    n: i64,
    shapes: &Shapes,
    score: &dyn Fn(&Tensor, &Tensor, &Condition) -> Tensor,
    last: &dyn Fn(&Tensor) -> Tensor,
    (lo, len): (i64, i64),
) -> Tensor {
    let _guard = tch::no_grad_guard();
    let (whole, t) = all.size2().expect("[B, T]");
    let device = all.device();
    let samples = &all.narrow(0, lo, len);
    let cond = &cond.narrow(lo, len);
    let b = len;
    let ban = shapes.ban_mask(device);
    let sampling = Sampling::default();
    let d_ids = |ids: &Tensor| shapes.to_d_len(&shapes.pad_after_eos(ids));
    // Teacher-forced pass of the base samples: state after <bos>, y_0 .. y_{p-1}.
    let mut base = policy.initial_state_given(b, cond);
    let _ = policy.step(
        &Tensor::full([b], shapes.bos, (Kind::Int64, device)),
        &mut base,
    );
    let mut rows = Tensor::zeros([0, t], (Kind::Int64, device));
    let mut state: Option<State> = None;
    // Next-token logits of the completions in flight (those of prefixes 1..p-1).
    let mut logits: Option<Tensor> = None;
    let with_ban = |mut l: Tensor| {
        if let Some(m) = &ban {
            l += m;
        }
        l
    };
    for p in 1..t {
        // Predicts position p after the prefix of length p.
        let base_logits = with_ban(policy.step(&samples.select(1, p - 1), &mut base));
        // The completions of prefix length p: n per sample, sample-major, drawn from the
        // base's distribution without copying it n times.
        rows = Tensor::cat(&[rows, samples.repeat_interleave_self_int(n, 0, None)], 0);
        let fresh = base.repeat_interleave(n);
        state = Some(match state.take() {
            None => fresh,
            Some(s) => cat_states(&s, &fresh),
        });
        let u = crate::models::uniform_rows((whole, n), (lo, b), (Kind::Float, device));
        let first = sampling.pick_n_given(&base_logits, n, Some(&u)).view([-1]);
        let next = match logits.take() {
            Some(l) => {
                // In flight: p - 1 prefix blocks of [whole * n] rows; ours in each block.
                let u = Tensor::rand([(p - 1) * whole * n, 1], (Kind::Float, device))
                    .view([p - 1, whole * n])
                    .narrow(1, lo * n, b * n)
                    .reshape([-1, 1]);
                let picked = sampling.pick_n_given(&with_ban(l), 1, Some(&u));
                Tensor::cat(&[picked.squeeze_dim(1), first], 0)
            }
            None => first,
        }; // [A]: every row in flight writes position p
        rows.select(1, p).copy_(&next);
        if p + 1 < t {
            logits = Some(policy.step(&next, state.as_mut().expect("set above")));
        }
    }
    // rows: prefix-major blocks of [B * n]; mean over the n completions of each (prefix, sample).
    // Padding after <eos> keeps each completion's prefix equal to its base's.
    let base = d_ids(samples);
    // The completions' condition: each sample's n times, in every prefix block.
    let rows_cond = cond.repeat_interleave(n).tile(t - 1);
    let rewards = score(&base, &d_ids(&rows), &rows_cond)
        .view([t - 1, b, n])
        .mean_dim([2i64].as_slice(), false, Kind::Float)
        .transpose(0, 1); // [B, T-1]
    Tensor::cat(&[rewards, last(&base).unsqueeze(1)], 1)
}

fn cat_states(a: &State, b: &State) -> State {
    let tensors = a
        .tensors
        .iter()
        .zip(&b.tensors)
        .map(|((x, d), (y, _))| (Tensor::cat(&[x, y], *d), *d))
        .collect();
    State {
        tensors,
        pos: a.pos,
        fixed: a.fixed,
    }
}

impl Algorithm for SeqGan {
    super::algorithm_sides!();

    /// Several processes draw the same batch, and each rolls out, scores and takes the policy
    /// gradient of its slice of the rows (the rollouts are nearly all of the step's work);
    /// the slice's loss is weighted by its share of the batch's tokens, so the averaged
    /// gradient is the whole batch's.
    fn g_step(&mut self, ctx: &mut Ctx) -> StepStats {
        let (samples, cond) = fresh_samples(ctx, self.adv.batch_size, &self.shapes);
        let slice = Slice::of(&samples, &self.shapes);
        let rewards = rollout_rewards_of_rows(
            self.rollout.net.as_ref(),
            &self.disc,
            (&samples, &cond),
            self.cfg.rollouts,
            &self.shapes,
            slice.rows,
        );
        let (samples, cond) = slice.take(&samples, &cond);
        let mask = self.shapes.mask(&samples);
        let logp = token_log_probs(ctx.gen, &samples, &cond, &self.shapes);
        let loss = reinforce_loss(&logp, &rewards, &mask) * slice.weight(&mask);
        let g_loss = g_update(&mut self.g_opt, &loss, self.adv.grad_clip, self.adv.g_lr);
        let mut out = StepStats::g(g_loss);
        let sums = [(rewards * &mask).sum(Kind::Float), mask.sum(Kind::Float)];
        let [reward, tokens] = slice.sum(sums.map(|t| t.double_value(&[])));
        out.extra.insert("reward".into(), reward / tokens);
        out
    }

    fn after_g_steps(&mut self, ctx: &mut Ctx) {
        self.update_rollout(ctx.gen_vars);
    }

    fn d_step(&mut self, ctx: &mut Ctx) -> StepStats {
        self.d_update(ctx)
    }

    fn d_unit(&self) -> String {
        self.cfg.d_rounds().unit()
    }

    fn extra_tensors(&self) -> Vec<(String, Tensor)> {
        crate::models::vars::named_vars(&self.rollout.vs, "rollout.")
    }

    fn load_extra(&mut self, tensors: &HashMap<String, Tensor>, path: &Path) -> Result<()> {
        crate::models::vars::restore_vars(&mut self.rollout.vs, tensors, "rollout.", path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Tokenizer, Vocab};
    use crate::models::disc::{Discriminator, DiscriminatorModel};
    use crate::models::{GeneratorConfig, LstmConfig};
    use tch::Device;

    /// Scores a sequence by its first token alone: logit +5 if it is `target`, else -5.
    struct FirstToken {
        vocab: i64,
        target: i64,
    }

    impl Discriminator for FirstToken {
        fn embed(&self, tokens: &Tensor) -> Tensor {
            tokens.one_hot(self.vocab).to_kind(Kind::Float)
        }
        fn embed_soft(&self, probs: &Tensor) -> Tensor {
            probs.shallow_clone()
        }
        fn forward_embedded(&self, emb: &Tensor, _train: bool) -> Tensor {
            (emb.select(1, 0).select(1, self.target) * 10.0 - 5.0).unsqueeze(1) // [B, 1]
        }
    }

    /// Every completion keeps its prefix, so with a discriminator that reads only the first
    /// token, all rewards of a sample equal sigmoid(+-5) exactly, whatever the rollouts drew.
    #[test]
    fn rollouts_keep_their_prefixes_and_average_per_prefix() {
        tch::manual_seed(5);
        let vocab = Vocab::build(["a b c d e f g"].iter().copied(), Tokenizer::Word, 0, 1);
        let v = vocab.len() as i64;
        let target = vocab.id("c").unwrap();
        let shapes = Shapes::new(&vocab, 6, 1);
        let cfg = AdvConfig::default();
        let model = DiscriminatorModel {
            vs: tch::nn::VarStore::new(Device::Cpu),
            net: Box::new(FirstToken { vocab: v, target }),
        };
        let disc = DiscSide::new(model, &cfg);
        let gcfg = GeneratorConfig::Lstm(LstmConfig {
            embed_dim: 4,
            hidden_dim: 8,
            num_layers: 1,
            dropout: 0.0,
        });
        let policy = GeneratorModel::new(&gcfg, v, 7, Device::Cpu);
        let mut ids = vec![vocab.id("a").unwrap(); 18];
        ids[0] = target; // sample 0 starts with the target, sample 1 and 2 do not
        ids[6] = vocab.id("b").unwrap();
        let samples = Tensor::from_slice(&ids).view([3, 6]);
        let r = rollout_rewards(
            policy.net.as_ref(),
            &disc,
            (&samples, &Condition::None),
            4,
            &shapes,
        );
        assert_eq!(r.size(), vec![3, 6]);
        let hi = 1.0 / (1.0 + (-5.0f64).exp());
        let got: Vec<f32> = Vec::try_from(r.view([-1])).unwrap();
        for (i, g) in got.iter().enumerate() {
            let want = if i < 6 { hi } else { 1.0 - hi };
            assert!((*g as f64 - want).abs() < 1e-6, "reward {i}: {g} vs {want}");
        }
    }

    /// The discriminator can tell the completions apart when it reads the last token: then the
    /// rewards of early prefixes are averages strictly between the two extremes.
    #[test]
    fn rollout_rewards_average_over_completions() {
        tch::manual_seed(6);
        struct LastToken {
            vocab: i64,
            target: i64,
        }
        impl Discriminator for LastToken {
            fn embed(&self, tokens: &Tensor) -> Tensor {
                tokens.one_hot(self.vocab).to_kind(Kind::Float)
            }
            fn embed_soft(&self, probs: &Tensor) -> Tensor {
                probs.shallow_clone()
            }
            fn forward_embedded(&self, emb: &Tensor, _train: bool) -> Tensor {
                let t = emb.size()[1];
                (emb.select(1, t - 1).select(1, self.target) * 10.0 - 5.0).unsqueeze(1)
            }
        }
        let vocab = Vocab::numeric(4);
        let shapes = Shapes::new(&vocab, 5, 1);
        let model = DiscriminatorModel {
            vs: tch::nn::VarStore::new(Device::Cpu),
            net: Box::new(LastToken {
                vocab: 4,
                target: 2,
            }),
        };
        let disc = DiscSide::new(model, &AdvConfig::default());
        let gcfg = GeneratorConfig::Lstm(LstmConfig {
            embed_dim: 4,
            hidden_dim: 8,
            num_layers: 1,
            dropout: 0.0,
        });
        let policy = GeneratorModel::new(&gcfg, 4, 6, Device::Cpu);
        let samples = Tensor::from_slice(&[0i64, 1, 3, 1, 2]).view([1, 5]);
        let r: Vec<f32> = Vec::try_from(
            rollout_rewards(
                policy.net.as_ref(),
                &disc,
                (&samples, &Condition::None),
                256,
                &shapes,
            )
            .view([-1]),
        )
        .unwrap();
        let hi = (1.0 / (1.0 + (-5.0f64).exp())) as f32;
        assert!(
            (r[4] - hi).abs() < 1e-6,
            "the full sample ends in the target: {r:?}"
        );
        // A near-uniform policy draws the target last about a quarter of the time.
        let p = (r[0] - (1.0 - hi)) / (2.0 * hi - 1.0);
        assert!(p > 0.1 && p < 0.45, "{r:?}");
    }

    /// `gan.d_epochs`: one discriminator step is a round of d_epochs passes over d_samples
    /// rows in batches (here 3 batches of at most 4, twice); without it, one update.
    #[test]
    fn seqgans_discriminator_schedule_runs_epochs_over_fresh_samples() {
        use rand::SeedableRng;
        tch::manual_seed(2);
        let (vocab, shapes, gen) = crate::algorithms::testing::tiny_setup();
        let real: Vec<Vec<i64>> = (0..6)
            .map(|i| vec![vocab.id(["a", "b", "c"][i % 3]).unwrap(); 1 + i % 4])
            .collect();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        for (epochs, updates) in [(0, 1), (2, 6)] {
            let adv = AdvConfig {
                batch_size: 4,
                ..AdvConfig::default()
            };
            let rounds = DRounds {
                d_epochs: epochs,
                d_samples: 10,
            };
            let model = DiscriminatorModel::new(
                &crate::algorithms::testing::tiny_cnn(),
                vocab.len() as i64,
                6,
                Device::Cpu,
            );
            let mut side = DiscSide::new(model, &adv);
            let mut ctx = crate::algorithms::Ctx {
                gen: gen.net.as_ref(),
                gen_vars: &gen.vs,
                real: &real,
                conds: Default::default(),
                device: Device::Cpu,
                step: 0,
                total: 1,
                rng: &mut rng,
            };
            let stats = rounds.step(&mut side, &shapes, &adv, &mut ctx);
            assert_eq!(side.opt.t, updates, "d_epochs = {epochs}");
            for x in [stats.d_real_acc, stats.d_fake_acc] {
                assert!((0.0..=1.0).contains(&x.unwrap()), "{stats:?}");
            }
            let loss = stats.d_loss.unwrap();
            assert!(loss.is_finite() && loss > 0.0);
        }
    }
}
