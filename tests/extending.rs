//! The code of docs/EXTENDING.md, compiled and run: a new adversarial algorithm and a new
//! discriminator, written outside the library against its public API. The guide quotes the
//! `[doc:NAME]` sections of this file verbatim (the last test checks it).
use std::marker::PhantomData;
use tch::{nn, nn::Module, Device, Kind, Tensor};
use textgan::algorithms::batches::{fresh_samples, token_log_probs, Shapes};
use textgan::algorithms::disc_side::DiscSide;
use textgan::algorithms::{
    any_networks, register, AdvConfig, Algorithm, Ctx, Parts, Settings, Spec, StepStats,
};
use textgan::data::Condition;
use textgan::models::disc::{Discriminator, DiscriminatorModel};
use textgan::optim::{minimize, Adam};
use textgan::Result;

// [doc:settings]
/// The algorithm's own `[gan]` keys, with their defaults.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct VanillaPgConfig {
    /// Subtract the batch's mean reward from each sequence's (variance reduction).
    pub mean_baseline: bool,
    /// Weight of the reward in the loss.
    pub reward_scale: f64,
}

impl Default for VanillaPgConfig {
    fn default() -> Self {
        VanillaPgConfig {
            mean_baseline: true,
            reward_scale: 1.0,
        }
    }
}

impl Settings for VanillaPgConfig {
    fn validate(&self) -> Result<()> {
        textgan::error::ensure(self.reward_scale > 0.0, || {
            format!(
                "gan.reward_scale must be positive, got {}",
                self.reward_scale
            )
        })
    }
}
// [/doc:settings]

// [doc:algorithm]
/// REINFORCE with one reward per sequence, D's probability that it is real: SeqGAN without
/// the rollouts.
pub struct VanillaPg {
    adv: AdvConfig,
    cfg: VanillaPgConfig,
    shapes: Shapes,
    disc: DiscSide,
    g_opt: Adam,
}

impl Algorithm for VanillaPg {
    // `adv`, `sides` and `sides_mut` from the fields `adv`, `disc` and `g_opt`.
    textgan::algorithm_sides!();

    fn g_step(&mut self, ctx: &mut Ctx) -> StepStats {
        // Samples under conditions drawn like the training data's (labels, sources; none for
        // plain text): the same step then trains a conditional generator against a
        // conditional D.
        let (samples, cond) = fresh_samples(ctx, self.adv.batch_size, &self.shapes);
        let reward = tch::no_grad(|| {
            let d_in = self.shapes.to_d_len(&samples);
            let score = self.disc.model.net.score_given(&d_in, &cond, false); // [B, K]
            score
                .sigmoid()
                .mean_dim([1i64].as_slice(), false, Kind::Float) // [B]
        });
        let reward = match self.cfg.mean_baseline {
            true => &reward - reward.mean(Kind::Float),
            false => reward,
        } * self.cfg.reward_scale;
        let mask = self.shapes.mask(&samples);
        let seq_logp = (token_log_probs(ctx.gen, &samples, &cond, &self.shapes) * &mask)
            .sum_dim_intlist([1i64].as_slice(), false, Kind::Float);
        let loss = -(seq_logp * reward).mean(Kind::Float);
        minimize(&mut self.g_opt, &loss, self.adv.grad_clip, self.adv.g_lr);
        StepStats::g(loss.double_value(&[]))
    }

    fn d_step(&mut self, ctx: &mut Ctx) -> StepStats {
        let s = self.disc.update_on_fresh(ctx, &self.shapes, &self.adv);
        StepStats::from_d(s)
    }
}
// [/doc:algorithm]

// [doc:spec]
pub static VANILLA_PG: Spec<VanillaPgConfig> = Spec {
    name: "vanilla-pg",
    about: "REINFORCE with one discriminator reward per sequence",
    build: |cfg, p: Parts| {
        Box::new(VanillaPg {
            adv: p.adv.clone(),
            cfg,
            shapes: p.shapes,
            disc: p.disc,
            g_opt: p.g_opt,
        })
    },
    check: any_networks,
    settings: PhantomData,
};
// [/doc:spec]

/// The algorithm trains through the library's run loop, set up by name like a built-in.
#[test]
fn a_registered_algorithm_trains_like_a_built_in() {
    // [doc:register]
    register(&VANILLA_PG).unwrap();
    // [/doc:register]
    assert!(register(&VANILLA_PG).is_err(), "a name is registered once");
    let dir = tempfile::tempdir().unwrap();
    let corpus = "the cat sat on the mat\na dog ran in the park\nbirds fly over the sea\n";
    std::fs::write(dir.path().join("train.txt"), corpus.repeat(4)).unwrap();
    let train = format!("data.train=\"{}\"", dir.path().join("train.txt").display());
    let sets = [
        "data.source=\"text\"",
        &train,
        "generator.embed_dim=8",
        "generator.hidden_dim=16",
        "train.batch_size=4",
        "train.epochs=1",
        "train.eval_samples=5",
        "train.device=\"cpu\"",
        // [doc:config]
        "gan.algorithm=\"vanilla-pg\"",
        "gan.reward_scale=2.0",
        // [/doc:config]
        "gan.steps=4",
        "gan.eval_every=2",
        "gan.batch_size=8",
        "gan.d_steps=1",
        "gan.d_pretrain_steps=2",
        "discriminator.kind=\"cnn\"",
        "discriminator.embed_dim=8",
        "discriminator.filter_sizes=[2, 3]",
        "discriminator.num_filters=[4, 4]",
    ]
    .map(String::from);
    let cfg = textgan::config::RunConfig::load(None, &sets).unwrap();
    let own: VanillaPgConfig = cfg.gan.own();
    assert_eq!(own.reward_scale, 2.0);
    let mut trainer = textgan::train::Trainer::create(&dir.path().join("run"), cfg).unwrap();
    let outcome = trainer.run(&mut textgan::train::NoHooks).unwrap();
    let textgan::train::Outcome::Finished(Some(last)) = outcome else {
        panic!("the run finishes: {outcome:?}")
    };
    assert_eq!(last.adv_step, Some(4));
    assert!(last.adv.g_loss.is_some_and(f64::is_finite));
    assert!(last.adv.d_loss.is_some_and(f64::is_finite));
    // Its keys are its own: another algorithm refuses them, and it refuses theirs.
    let bad = textgan::config::RunConfig::load(
        None,
        &[
            "gan.algorithm=seqgan",
            "gan.steps=1",
            "gan.reward_scale=2.0",
        ]
        .map(String::from),
    );
    assert!(bad.unwrap_err().to_string().contains("vanilla-pg"));
}

// [doc:discriminator]
/// The mean of the embedded tokens through a linear layer: a bag-of-words discriminator.
pub struct MeanPool {
    table: Tensor,
    out: nn::Linear,
}

impl MeanPool {
    pub fn new(p: &nn::Path, vocab: i64, dim: i64) -> Self {
        MeanPool {
            table: p.randn("embed", &[vocab, dim], 0.0, 0.1),
            out: nn::linear(p / "out", dim, 1, Default::default()),
        }
    }
}

impl Discriminator for MeanPool {
    fn embed(&self, tokens: &Tensor) -> Tensor {
        Tensor::embedding(&self.table, tokens, -1, false, false) // [B, T, E]
    }

    fn embed_soft(&self, probs: &Tensor) -> Tensor {
        probs.matmul(&self.table) // soft one-hot rows take the same path
    }

    fn forward_embedded(&self, emb: &Tensor, _train: bool) -> Tensor {
        let pooled = emb.mean_dim([1i64].as_slice(), false, Kind::Float); // [B, E]
        self.out.forward(&pooled) // [B, 1]
    }
}
// [/doc:discriminator]

/// The new discriminator plugs into the shared discriminator side and learns to tell two
/// vocabularies apart.
#[test]
fn a_new_discriminator_learns_through_the_shared_side() {
    tch::manual_seed(3);
    // [doc:disc-side]
    let vs = nn::VarStore::new(Device::Cpu);
    let net = MeanPool::new(&vs.root(), 10, 8);
    let model = DiscriminatorModel {
        vs,
        net: Box::new(net),
    };
    let mut side = DiscSide::new(model, &AdvConfig::default());
    // [/doc:disc-side]
    let real = Tensor::randint_low(1, 5, [16, 6], (Kind::Int64, Device::Cpu));
    let fake = Tensor::randint_low(5, 10, [16, 6], (Kind::Int64, Device::Cpu));
    let first = side.update_ids(&real, &fake, (&Condition::None, &Condition::None), 0.05);
    let mut last = first;
    for _ in 0..60 {
        last = side.update_ids(&real, &fake, (&Condition::None, &Condition::None), 0.05);
    }
    assert!(
        last.loss < first.loss * 0.5,
        "{} -> {}",
        first.loss,
        last.loss
    );
    assert_eq!((last.real_acc, last.fake_acc), (1.0, 1.0));
}

/// Every code block of docs/EXTENDING.md tagged `<!-- code: NAME -->` is the `[doc:NAME]`
/// section of this file, verbatim.
#[test]
fn the_guide_quotes_this_file() {
    let root = env!("CARGO_MANIFEST_DIR");
    let guide = std::fs::read_to_string(format!("{root}/docs/EXTENDING.md")).unwrap();
    let me = std::fs::read_to_string(format!("{root}/tests/extending.rs")).unwrap();
    let mut quoted = 0;
    for (i, _) in guide.match_indices("<!-- code: ") {
        let rest = &guide[i + 11..];
        let name = &rest[..rest.find(" -->").unwrap()];
        let block = rest.split("```rust\n").nth(1).unwrap();
        let block = &block[..block.find("```").unwrap()];
        let (open, close) = (format!("// [doc:{name}]\n"), format!("// [/doc:{name}]"));
        let start = me
            .find(&open)
            .unwrap_or_else(|| panic!("no section {name}"))
            + open.len();
        let end = me[start..].find(&close).unwrap() + start;
        // Sections inside a function are quoted without their indentation.
        let lines: Vec<&str> = me[start..end].trim_end().lines().collect();
        let indent = lines
            .iter()
            .filter(|l| !l.trim().is_empty())
            .map(|l| l.len() - l.trim_start().len())
            .min()
            .unwrap_or(0);
        let section: String = lines
            .iter()
            .map(|l| format!("{}\n", l.get(indent..).unwrap_or("")))
            .collect();
        assert_eq!(block, section, "docs/EXTENDING.md block `{name}`");
        quoted += 1;
    }
    assert!(quoted >= 6, "the guide quotes its code ({quoted} blocks)");
}
