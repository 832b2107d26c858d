//! The errors of requests: a bad request is a 4xx answer, never a panic.
use crate::error::Error;

/// A request for the discriminator of a run that has none to serve.
pub fn no_discriminator(what: &str) -> Error {
    invalid(format!(
        "{what} needs a discriminator: this run has no discriminator that tells real from generated text (it was not trained adversarially, or by SentiGAN or RankGAN, whose discriminators do not)"
    ))
}

/// A bad request: a 4xx answer, never a panic.
pub fn invalid(msg: impl Into<String>) -> Error {
    Error::Request(msg.into())
}
