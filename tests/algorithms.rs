//! The algorithms without a discriminator network (CoT, JSDGAN, DGSAN) and the tools every
//! algorithm shares against collapse, end to end through the binary.
mod common;
use common::*;

/// Each trains its adversarial phase, reports its losses (CoT's mediator loss as `d_loss`),
/// samples, and a run stopped halfway and resumed ends where the straight run ends.
#[test]
fn discriminator_free_algorithms_train_and_resume_exactly() {
    let f = Fixture::new();
    for algo in ["cot", "jsdgan", "dgsan"] {
        let mut sets = gan_args(algo, 4);
        if algo == "dgsan" {
            sets.extend(["--set".into(), "gan.refresh_every=1".into()]);
        }
        let straight: Vec<&str> = sets.iter().map(String::as_str).collect();
        let a = format!("{algo}-a");
        f.train(&a, 4 + 4, &straight);
        let b = format!("{algo}-b");
        f.train(&b, 4 + 2, &straight);
        let o = ok(&["train", "--resume", &f.s(&b), "--max-steps", "8"]);
        assert!(
            stderr(&o).contains("resuming the adversarial phase at step 2"),
            "{algo}: {}",
            stderr(&o)
        );
        let (ma, mb) = (metrics(&f.path(&a)), metrics(&f.path(&b)));
        let (la, lb) = (ma.last().unwrap(), mb.last().unwrap());
        assert_eq!(
            (la["adv_step"].as_u64(), lb["adv_step"].as_u64()),
            (Some(4), Some(4))
        );
        let mut keys = vec!["test_nll", "g_loss"];
        if algo == "cot" {
            keys.push("d_loss");
        } else {
            assert!(
                la.get("d_loss").is_none(),
                "{algo} has no discriminator: {la}"
            );
        }
        for k in keys {
            let (x, y) = (la[k].as_f64().unwrap(), lb[k].as_f64().unwrap());
            assert!(x.is_finite(), "{algo}: {k} in {la}");
            assert!(
                (x - y).abs() < 1e-6,
                "{algo}: {k}: straight {x} vs resumed {y}"
            );
        }
        let o = ok(&["sample", "--run", &f.s(&a), "-n", "3"]);
        assert_eq!(String::from_utf8(o.stdout).unwrap().lines().count(), 3);
    }
    // The algorithms' own keys are checked like the others'.
    let mut sets = gan_args("cot", 2);
    sets.extend(["--set".into(), "gan.mediator_scale=0".into()]);
    let mut args = vec!["train", "--out", "unused"];
    args.extend(sets.iter().map(String::as_str));
    fails(&args, "gan.mediator_scale");
}
