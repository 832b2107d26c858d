//! Maximum-likelihood training step: teacher forcing, cross-entropy with padding masked.
use crate::data::Batch;
use crate::models::{lm_loss, Generator};
use crate::optim::Adam;
use tch::Tensor;

/// One optimizer step on `batch`; returns the detached loss for logging.
pub fn mle_step(
    gen: &dyn Generator,
    opt: &mut Adam,
    batch: &Batch,
    grad_clip: f64,
    lr: f64,
) -> Tensor {
    let loss = lm_loss(gen, batch, true);
    opt.zero_grad();
    loss.backward();
    if grad_clip > 0.0 {
        opt.clip_grad_norm(grad_clip);
    }
    opt.step(lr);
    loss.detach()
}
