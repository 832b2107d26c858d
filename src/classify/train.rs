//! Training a classifier: a linear head on a frozen trunk (logistic regression), supervised
//! fine-tuning, or GAN-BERT (Croce et al., ACL 2020) as crux82/ganbert-pytorch trains it.
//!
//! GAN-BERT, step by step as the notebook has it: a batch of real rows (labelled and
//! unlabelled) goes through the trunk; as many fake vectors come from the generator (uniform
//! noise); the discriminator sees both. Its loss is the supervised cross-entropy over the real
//! classes on the labelled rows plus `-log(1 - p_fake)` on real rows plus `-log p_fake` on fake
//! ones; the generator's is `-log(1 - p_fake)` on its vectors plus feature matching (the squared
//! difference of the discriminator's mean hidden features on real and fake rows). `epsilon`
//! (1e-8) sits inside every log. Both losses are backpropagated before either optimizer steps,
//! so each network moves along the gradient of their *sum* (the notebook calls `g_loss.backward`
//! then `d_loss.backward` without detaching): kept. AdamW (weight decay 0.01, torch's default)
//! at 5e-5 for the trunk and discriminator and 5e-5 for the generator, batches of 64, 10 epochs,
//! and labelled rows repeated `floor(log2(1 / labelled share))` times per epoch ("balance").
use super::head::{Discriminator, VectorGenerator};
use super::trunk::TrunkKind;
use crate::data::Lines;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use tch::{nn, nn::OptimizerConfig, Kind, Tensor};

/// How the classifier learns.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    /// A linear head on the frozen trunk's vectors of the labelled rows: multinomial logistic
    /// regression with scikit-learn's objective (`C` times the summed cross-entropy plus half
    /// the squared weights), solved by full-batch Adam.
    Linear,
    /// GAN-BERT's discriminator and schedule with the supervised loss alone (no generator):
    /// the baseline GAN-BERT is measured against.
    Supervised,
    /// GAN-BERT: the semi-supervised GAN over trunk vectors.
    GanBert,
}

impl std::str::FromStr for Method {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "linear" => Ok(Method::Linear),
            "supervised" => Ok(Method::Supervised),
            "ganbert" | "gan-bert" => Ok(Method::GanBert),
            _ => Err(format!(
                "`{s}` is not a method (linear, supervised or ganbert)"
            )),
        }
    }
}

/// Everything that decides training, recorded with the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    pub method: Method,
    /// Keep the trunk's weights fixed (its vectors are computed once).
    pub freeze: bool,
    pub epochs: usize,
    pub batch_size: usize,
    /// Learning rate of the trunk and discriminator.
    pub lr_d: f64,
    /// Learning rate of the generator.
    pub lr_g: f64,
    /// AdamW's weight decay (torch's default 0.01).
    pub weight_decay: f64,
    /// GAN-BERT's epsilon inside the logs.
    pub epsilon: f64,
    /// Dropout of the discriminator and generator ("out_dropout_rate").
    pub dropout: f64,
    pub noise: i64,
    pub hidden_layers_d: usize,
    pub hidden_layers_g: usize,
    /// Repeat labelled rows floor(log2(1 / share)) times per epoch.
    pub balance: bool,
    /// Tokens per text, [CLS] and [SEP] included.
    pub max_len: usize,
    /// The linear method's inverse regularisation strength.
    pub c: f64,
    pub seed: i64,
    /// How much an augmented row's loss counts against a real labelled row's (1: alike).
    #[serde(default = "one")]
    pub augment_weight: f64,
}

fn one() -> f64 {
    1.0
}

impl Default for Settings {
    /// GAN-BERT's notebook's values.
    fn default() -> Self {
        Settings {
            method: Method::GanBert,
            freeze: false,
            epochs: 10,
            batch_size: 64,
            lr_d: 5e-5,
            lr_g: 5e-5,
            weight_decay: 0.01,
            epsilon: 1e-8,
            dropout: 0.2,
            noise: 100,
            hidden_layers_d: 1,
            hidden_layers_g: 1,
            balance: true,
            max_len: 64,
            c: 10.0,
            seed: 42,
            augment_weight: 1.0,
        }
    }
}

impl Settings {
    /// Refuses settings no training can use.
    pub fn validate(&self) -> Result<()> {
        let bad = |what: &str| Err(Error::Config(what.to_string()));
        if self.epochs == 0 || self.batch_size == 0 {
            return bad("epochs and batch_size must be at least 1");
        }
        for (name, x) in [
            ("lr_d", self.lr_d),
            ("lr_g", self.lr_g),
            ("c", self.c),
            ("augment_weight", self.augment_weight),
        ] {
            if !(x.is_finite() && x > 0.0) {
                return bad(&format!("{name} must be a positive number"));
            }
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return bad("dropout must be in [0, 1)");
        }
        if self.max_len < 3 {
            return bad("max_len must be at least 3 ([CLS], a token, [SEP])");
        }
        if self.method == Method::Linear && !self.freeze {
            return bad("the linear method keeps the trunk frozen");
        }
        Ok(())
    }

    /// How many times each labelled row is repeated per epoch: GAN-BERT's
    /// `int(log2(int(1 / share)))`, at least 1.
    pub fn repeats(&self, labelled: usize, total: usize) -> usize {
        if !self.balance || labelled == 0 || labelled >= total {
            return 1;
        }
        let inverse = (total as f64 / labelled as f64).floor();
        (inverse.log2().floor() as usize).max(1)
    }
}

/// One row of the training set: its index into the texts, and its label (None: unlabelled).
#[derive(Debug, Clone, Copy)]
pub struct Row {
    pub text: usize,
    pub label: Option<i64>,
}

/// The rows of an epoch: the labelled ones repeated, the unlabelled once; in the order of
/// a seeded shuffle.
pub fn epoch_rows(labels: &[Option<i64>], repeats: usize, rng: &mut impl rand::Rng) -> Vec<Row> {
    use rand::seq::SliceRandom;
    let mut rows = Vec::new();
    for (i, &label) in labels.iter().enumerate() {
        let times = if label.is_some() { repeats } else { 1 };
        rows.extend(std::iter::repeat_n(Row { text: i, label }, times));
    }
    rows.shuffle(rng);
    rows
}

/// The losses of one GAN-BERT step.
pub struct GanLosses {
    pub d: Tensor,
    pub g: Tensor,
    /// The supervised part of `d` (zero when the batch has no labelled row).
    pub supervised: Tensor,
}

/// GAN-BERT's losses for real vectors `real` [B, H] whose labels are `labels` [B] (-1 for
/// unlabelled) and fake vectors `fake` [F, H], under discriminator `d` in training mode.
pub fn ganbert_losses(
    d: &Discriminator,
    real: &Tensor,
    fake: &Tensor,
    (labels, weights): (&Tensor, Option<&Tensor>),
    epsilon: f64,
) -> GanLosses {
    let b = real.size()[0];
    let (features, logits) = d.forward(&Tensor::cat(&[real, fake], 0), true);
    let probs = logits.softmax(-1, Kind::Float);
    let last = probs.size()[1] - 1;
    let (real_feat, fake_feat) = (
        features.narrow(0, 0, b),
        features.narrow(0, b, fake.size()[0]),
    );
    let (real_fake_p, fake_fake_p) = (
        probs.narrow(0, 0, b).select(1, last),
        probs.narrow(0, b, fake.size()[0]).select(1, last),
    );
    // Generator: fool the discriminator, and match its mean features on real rows.
    let g_fool = -(fake_fake_p.ones_like() - &fake_fake_p + epsilon)
        .log()
        .mean(Kind::Float);
    let g_match = (real_feat.mean_dim([0i64].as_slice(), false, Kind::Float)
        - fake_feat.mean_dim([0i64].as_slice(), false, Kind::Float))
    .pow_tensor_scalar(2)
    .mean(Kind::Float);
    let supervised = supervised_loss(&d.class_logits(&logits.narrow(0, 0, b)), labels, weights);
    let d_real = -(real_fake_p.ones_like() - &real_fake_p + epsilon)
        .log()
        .mean(Kind::Float);
    let d_fake = -(fake_fake_p + epsilon).log().mean(Kind::Float);
    GanLosses {
        d: &supervised + d_real + d_fake,
        g: g_fool + g_match,
        supervised,
    }
}

/// The mean cross-entropy of class logits [B, k] over the rows whose label is not -1, weighted
/// by `weights` [B] where given (`sum w ce / sum w`: augmented rows count less than real ones);
/// zero when there is no labelled row.
pub fn supervised_loss(class_logits: &Tensor, labels: &Tensor, weights: Option<&Tensor>) -> Tensor {
    let keep = labels.ge(0);
    let count = keep.sum(Kind::Int64).int64_value(&[]);
    if count == 0 {
        return Tensor::zeros([], (Kind::Float, class_logits.device()));
    }
    let idx = keep.nonzero().squeeze_dim(1);
    let logits = class_logits.index_select(0, &idx);
    let y = labels.index_select(0, &idx);
    match weights {
        None => logits.log_softmax(-1, Kind::Float).nll_loss(&y),
        Some(w) => {
            let w = w.index_select(0, &idx);
            (cross_entropies(&logits, &y) * &w).sum(Kind::Float) / w.sum(Kind::Float)
        }
    }
}

/// The cross-entropy of each row of class logits [B, k] against its label [B]: a [B] tensor.
pub fn cross_entropies(class_logits: &Tensor, labels: &Tensor) -> Tensor {
    -class_logits
        .log_softmax(-1, Kind::Float)
        .gather(1, &labels.unsqueeze(1), false)
        .squeeze_dim(1)
}

/// The first label of augmented rows that no real labelled row has (`names`), if any.
pub fn unknown_augmented_label<'a>(names: &[String], augmented: &'a Lines) -> Option<&'a str> {
    augmented
        .labels
        .iter()
        .find(|l| !names.contains(l))
        .map(String::as_str)
}

/// AdamW with `settings`' decay and epsilon over `vs` at `lr`.
pub fn adamw(vs: &nn::VarStore, lr: f64, settings: &Settings) -> Result<nn::Optimizer> {
    nn::AdamW {
        wd: settings.weight_decay,
        eps: 1e-8,
        ..Default::default()
    }
    .build(vs, lr)
    .map_err(|e| Error::Config(format!("optimizer: {e}")))
}

/// One GAN-BERT (or, without `g`, supervised) update on real vectors: both losses
/// backpropagated, then both optimizers step. `targets` are the labels (-1: unlabelled) and,
/// where rows count differently, their weights. Returns (d loss, g loss, supervised loss).
pub fn gan_step(
    d: &Discriminator,
    g: Option<&VectorGenerator>,
    real: &Tensor,
    targets: (&Tensor, Option<&Tensor>),
    opts: (&mut nn::Optimizer, Option<&mut nn::Optimizer>),
    epsilon: f64,
) -> (f64, f64, f64) {
    let (d_opt, g_opt) = opts;
    d_opt.zero_grad();
    match (g, g_opt) {
        (Some(g), Some(g_opt)) => {
            g_opt.zero_grad();
            let fake = g.generate(real.size()[0], real.device(), true);
            let l = ganbert_losses(d, real, &fake, targets, epsilon);
            (&l.g + &l.d).backward();
            g_opt.step();
            d_opt.step();
            (
                l.d.double_value(&[]),
                l.g.double_value(&[]),
                l.supervised.double_value(&[]),
            )
        }
        _ => {
            let (_, logits) = d.forward(real, true);
            let loss = supervised_loss(&d.class_logits(&logits), targets.0, targets.1);
            if loss.requires_grad() {
                loss.backward();
                d_opt.step();
            }
            let v = loss.double_value(&[]);
            (v, 0.0, v)
        }
    }
}

/// Refuses `settings` no training can use, and a trunk they cannot train: an LSTM needs
/// positive sizes, and starts from random weights, so it cannot be frozen (the linear method
/// freezes the trunk).
pub fn check(kind: &TrunkKind, settings: &Settings) -> Result<()> {
    settings.validate()?;
    if let TrunkKind::Lstm { embedding, hidden } = kind {
        if *embedding < 1 || *hidden < 1 {
            return Err(Error::Config(
                "an LSTM trunk's sizes must be positive: --lstm-size must be at least 1".into(),
            ));
        }
    }
    if matches!(kind, TrunkKind::Lstm { .. }) && settings.freeze {
        return Err(Error::Config(
            "an LSTM trunk starts from random weights: --freeze and --method linear need a pretrained trunk (a BERT folder)".into(),
        ));
    }
    Ok(())
}

/// The sorted class names of labelled text; at least two are needed.
pub fn class_names(labelled: &Lines) -> Result<Vec<String>> {
    let mut labels = labelled.labels.clone();
    labels.sort();
    labels.dedup();
    match labels.len() {
        0 => Err(Error::Data("no labelled text to train on".into())),
        1 => Err(Error::Data(format!(
            "the labelled text has one class (`{}`): a classifier needs at least two",
            labels[0]
        ))),
        _ => Ok(labels),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn balance_repeats_labelled_rows_as_ganbert_does() {
        let s = Settings::default();
        // TREC 2%: 109 labelled of 5,452 -> int(1/share) = 50 -> int(log2 50) = 5.
        assert_eq!(s.repeats(109, 109 + 5343), 5);
        assert_eq!(s.repeats(10, 10), 1);
        assert_eq!(s.repeats(60, 100), 1);
        let off = Settings {
            balance: false,
            ..s
        };
        assert_eq!(off.repeats(109, 5452), 1);
    }

    #[test]
    fn ganbert_losses_equal_the_formulas() {
        tch::manual_seed(0);
        let vs = nn::VarStore::new(tch::Device::Cpu);
        let d = Discriminator::new(&vs.root(), 4, 1, 3, true, 0.0);
        let real = Tensor::randn([2, 4], (Kind::Float, tch::Device::Cpu));
        let fake = Tensor::randn([2, 4], (Kind::Float, tch::Device::Cpu));
        let labels = Tensor::from_slice(&[2i64, -1]);
        let l = ganbert_losses(&d, &real, &fake, (&labels, None), 1e-8);
        // The same numbers from the discriminator's outputs, one formula at a time.
        let (f, logits) = d.forward(&Tensor::cat(&[&real, &fake], 0), false);
        let p: Vec<Vec<f64>> = (0..4)
            .map(|i| Vec::<f64>::try_from(logits.get(i).softmax(-1, Kind::Double)).unwrap())
            .collect();
        let sup = {
            let z: Vec<f64> =
                Vec::try_from(logits.get(0).narrow(0, 0, 3).to_kind(Kind::Double)).unwrap();
            let lse = z.iter().map(|x| x.exp()).sum::<f64>().ln();
            lse - z[2]
        };
        let d_real = -((1.0 - p[0][3] + 1e-8).ln() + (1.0 - p[1][3] + 1e-8).ln()) / 2.0;
        let d_fake = -((p[2][3] + 1e-8).ln() + (p[3][3] + 1e-8).ln()) / 2.0;
        let fv: Vec<Vec<f64>> = (0..4)
            .map(|i| Vec::<f64>::try_from(f.get(i).to_kind(Kind::Double)).unwrap())
            .collect();
        let matching = (0..4)
            .map(|j| ((fv[0][j] + fv[1][j]) / 2.0 - (fv[2][j] + fv[3][j]) / 2.0).powi(2))
            .sum::<f64>()
            / 4.0;
        let g = -((1.0 - p[2][3] + 1e-8).ln() + (1.0 - p[3][3] + 1e-8).ln()) / 2.0 + matching;
        let close = |a: &Tensor, b: f64| (a.double_value(&[]) - b).abs() < 1e-5;
        assert!(close(&l.supervised, sup));
        assert!(close(&l.d, sup + d_real + d_fake));
        assert!(close(&l.g, g));
        // No labelled row: no supervised term.
        let none = Tensor::from_slice(&[-1i64, -1]);
        let l = ganbert_losses(&d, &real, &fake, (&none, None), 1e-8);
        assert_eq!(l.supervised.double_value(&[]), 0.0);
        // Weights: sum w ce / sum w over the labelled rows; all ones is the plain mean.
        let z = Tensor::randn([3, 3], (Kind::Float, tch::Device::Cpu));
        let y = Tensor::from_slice(&[0i64, 2, -1]);
        let ce: Vec<f64> = (0..2)
            .map(|i| {
                let r: Vec<f64> = Vec::try_from(z.get(i).to_kind(Kind::Double)).unwrap();
                let lse = r.iter().map(|x| x.exp()).sum::<f64>().ln();
                lse - r[[0, 2][i as usize]]
            })
            .collect();
        let w = Tensor::from_slice(&[1.0f32, 0.25, 7.0]);
        let weighted = supervised_loss(&z, &y, Some(&w)).double_value(&[]);
        assert!((weighted - (ce[0] + 0.25 * ce[1]) / 1.25).abs() < 1e-5);
        let ones = Tensor::ones([3], (Kind::Float, tch::Device::Cpu));
        let plain = supervised_loss(&z, &y, None).double_value(&[]);
        assert!((supervised_loss(&z, &y, Some(&ones)).double_value(&[]) - plain).abs() < 1e-6);
    }
}
