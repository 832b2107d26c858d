//! GAN-BERT's two small networks, as crux82/ganbert-pytorch builds them: the discriminator, an
//! MLP over the trunk's vector (input dropout, then hidden layers of Linear, LeakyReLU(0.2),
//! dropout) with k+1 logits, the last for "fake"; and the generator of fake *vectors* from
//! uniform noise (hidden layers of Linear, LeakyReLU(0.2), dropout, then Linear to the trunk's
//! size). With no hidden layer and no fake logit the discriminator is a linear classifier.
use tch::{nn, nn::Module, Tensor};

/// The (k+1)-way discriminator, or a k-way classifier head.
#[derive(Debug)]
pub struct Discriminator {
    hidden: Vec<nn::Linear>,
    logit: nn::Linear,
    dropout: f64,
    /// Whether the last logit is the fake class.
    pub fake_class: bool,
}

impl Discriminator {
    /// On `root`: `layers` hidden layers of `input` units (GAN-BERT's sizes), `classes`
    /// logits plus one for fake when `fake_class`.
    pub fn new(
        root: &nn::Path,
        input: i64,
        layers: usize,
        classes: i64,
        fake_class: bool,
        dropout: f64,
    ) -> Discriminator {
        let hidden = (0..layers)
            .map(|i| {
                nn::linear(
                    root / format!("hidden{i}"),
                    input,
                    input,
                    Default::default(),
                )
            })
            .collect();
        let logit = nn::linear(
            root / "logit",
            input,
            classes + fake_class as i64,
            Default::default(),
        );
        Discriminator {
            hidden,
            logit,
            dropout,
            fake_class,
        }
    }

    /// The last hidden layer's output (the features GAN-BERT's feature matching compares) and
    /// the logits.
    pub fn forward(&self, x: &Tensor, train: bool) -> (Tensor, Tensor) {
        let mut h = x.dropout(self.dropout, train);
        for layer in &self.hidden {
            h = leaky(layer.forward(&h)).dropout(self.dropout, train);
        }
        let logits = self.logit.forward(&h);
        (h, logits)
    }

    /// The logits of the real classes only.
    pub fn class_logits(&self, logits: &Tensor) -> Tensor {
        match self.fake_class {
            true => logits.narrow(1, 0, logits.size()[1] - 1),
            false => logits.shallow_clone(),
        }
    }
}

/// LeakyReLU with slope 0.2 below zero (GAN-BERT's).
fn leaky(x: Tensor) -> Tensor {
    x.maximum(&(&x * 0.2))
}

/// The generator of fake trunk vectors.
#[derive(Debug)]
pub struct VectorGenerator {
    hidden: Vec<nn::Linear>,
    out: nn::Linear,
    dropout: f64,
    pub noise: i64,
}

impl VectorGenerator {
    /// On `root`: noise of `noise` dimensions, `layers` hidden layers of `output` units, and
    /// vectors of `output`.
    pub fn new(
        root: &nn::Path,
        noise: i64,
        output: i64,
        layers: usize,
        dropout: f64,
    ) -> VectorGenerator {
        let mut hidden = Vec::new();
        let mut width = noise;
        for i in 0..layers {
            hidden.push(nn::linear(
                root / format!("hidden{i}"),
                width,
                output,
                Default::default(),
            ));
            width = output;
        }
        let out = nn::linear(root / "out", width, output, Default::default());
        VectorGenerator {
            hidden,
            out,
            dropout,
            noise,
        }
    }

    /// `n` fake vectors from noise uniform on [0, 1) (GAN-BERT's).
    pub fn generate(&self, n: i64, device: tch::Device, train: bool) -> Tensor {
        let mut h = Tensor::rand([n, self.noise], (tch::Kind::Float, device));
        for layer in &self.hidden {
            h = leaky(layer.forward(&h)).dropout(self.dropout, train);
        }
        self.out.forward(&h)
    }
}
