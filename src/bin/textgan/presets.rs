//! Config presets bundled into the binary (the files of `configs/`), usable from any directory.
use anyhow::{bail, Result};

/// The presets, by name; each is the TOML file of the same name in `configs/`.
macro_rules! presets {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../../../configs/", $name, ".toml")))),*]
    };
}

pub const PRESETS: &[(&str, &str)] = presets![
    "coco-lstm",
    "coco-transformer",
    "oracle-mle",
    "seqgan-oracle",
    "maligan-oracle",
    "relgan-oracle",
    "seqgan-coco",
    "relgan-coco",
    "scratchgan-coco",
    "gsgan-coco",
    "seed000",
    "seed001",
];

pub fn get(name: &str) -> Result<&'static str> {
    match PRESETS.iter().find(|(n, _)| *n == name) {
        Some((_, text)) => Ok(text),
        None => {
            let names: Vec<&str> = PRESETS.iter().map(|(n, _)| *n).collect();
            bail!("unknown preset `{name}` (known: {})", names.join(", "))
        }
    }
}

pub fn show(name: Option<&str>) -> Result<()> {
    match name {
        Some(n) => print!("{}", get(n)?),
        None => {
            for (n, text) in PRESETS {
                let about = text.lines().next().unwrap_or("").trim_start_matches("# ");
                println!("{n:18} {about}");
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use textgan::config::RunConfig;

    #[test]
    fn every_preset_resolves_to_a_valid_config() {
        for (name, text) in PRESETS {
            let cfg =
                RunConfig::from_toml_str(text).unwrap_or_else(|e| panic!("preset {name}: {e}"));
            assert_eq!(
                cfg.gan.beta_horizon, 0,
                "{name}: schedules run over the run's steps"
            );
        }
        let relgan = RunConfig::from_toml_str(get("relgan-oracle").unwrap()).unwrap();
        assert_eq!((relgan.gan.steps, relgan.gan.d_steps), (3000, 5));
        assert_eq!(relgan.gan.beta_max, 1000.0);
        assert_eq!((relgan.gan.grad_clip, relgan.gan.d_grad_clip), (5.0, 5.0));
    }
}
