//! Config presets bundled into the library: every file of `configs/` (listed by `build.rs`),
//! usable from any directory.
use crate::error::{Error, Result};

/// The presets, by name, sorted; each is the TOML file of the same name in `configs/`.
pub const PRESETS: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/presets.rs"));

/// A preset's text.
pub fn get(name: &str) -> Result<&'static str> {
    match PRESETS.iter().find(|(n, _)| *n == name) {
        Some((_, text)) => Ok(text),
        None => {
            let names: Vec<&str> = PRESETS.iter().map(|(n, _)| *n).collect();
            Err(Error::Config(format!(
                "unknown preset `{name}` (known: {})",
                names.join(", ")
            )))
        }
    }
}

/// A preset's first comment line, for listings.
pub fn about(text: &str) -> &str {
    text.lines().next().unwrap_or("").trim_start_matches("# ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::algorithms::GumbelConfig;
    use crate::config::RunConfig;

    #[test]
    fn every_preset_resolves_to_a_valid_config() {
        assert!(PRESETS.len() >= 12, "configs/ is listed");
        for (name, text) in PRESETS {
            let cfg =
                RunConfig::from_toml_str(text).unwrap_or_else(|e| panic!("preset {name}: {e}"));
            if cfg.gan.algorithm == Some("gumbel") {
                let g: GumbelConfig = cfg.gan.own();
                assert_eq!(
                    g.beta_horizon, 0,
                    "{name}: schedules run over the run's steps"
                );
            }
        }
        let relgan = RunConfig::from_toml_str(get("relgan-oracle").unwrap()).unwrap();
        let adv = &relgan.gan.adv;
        assert_eq!((adv.steps, adv.d_steps), (3000, 5));
        assert_eq!(relgan.gan.own::<GumbelConfig>().beta_max, 1000.0);
        assert_eq!((adv.grad_clip, adv.d_grad_clip), (5.0, 5.0));
    }
}
