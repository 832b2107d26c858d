//! A verdict on a quality-coverage plane (Caccia et al. 2020): a candidate's quality against
//! the baseline's at the same coverage, read off the baseline's temperature curve, with a 95%
//! interval over seeds.
//!
//! Each seed gives the baseline a curve (its points at several temperatures) and the candidate
//! a point; the difference of the candidate's quality and the curve's, linearly interpolated
//! at the candidate's coverage, is signed so that positive is better. The seeds' differences
//! give a mean and Student's t interval; a verdict says whether the interval lies above zero,
//! below it, or across it.
pub use super::metric::Better;
use serde::Serialize;

/// The baseline's quality at coverage `x`, read off `curve`: its (coverage, quality) points in
/// temperature order, joined by straight segments. Where several segments reach `x` (a
/// coverage such as NLL-test is lowest near T = 1 and rises on both sides, so the curve has
/// two branches there), the best quality of them (`better`): a candidate is held against the
/// best the baseline does at its coverage. `None` where no segment reaches `x` (no
/// extrapolation). Points with a missing value break the curve.
pub fn interpolate(curve: &[(f64, f64)], x: f64, better: Better) -> Option<f64> {
    if !x.is_finite() {
        return None;
    }
    let ok = |p: &(f64, f64)| p.0.is_finite() && p.1.is_finite();
    let mut found: Vec<f64> = curve
        .iter()
        .filter(|p| ok(p) && p.0 == x)
        .map(|p| p.1)
        .collect();
    for w in curve.windows(2) {
        let ((x0, y0), (x1, y1)) = (w[0], w[1]);
        if ok(&w[0]) && ok(&w[1]) && x0 != x1 && x0.min(x1) < x && x < x0.max(x1) {
            found.push(y0 + (y1 - y0) * (x - x0) / (x1 - x0));
        }
    }
    let best = |a: f64, b: f64| match better {
        Better::Lower => a.min(b),
        _ => a.max(b),
    };
    found.into_iter().reduce(best)
}

/// The candidate's advantage at one seed: its quality minus the baseline curve's at its
/// coverage, positive when better; `None` outside the curve (or for a quality that is better
/// neither way).
pub fn advantage(curve: &[(f64, f64)], point: (f64, f64), better: Better) -> Option<f64> {
    let base = interpolate(curve, point.0, better)?;
    let diff = match better {
        Better::Higher => point.1 - base,
        Better::Lower => base - point.1,
        Better::Neither => return None,
    };
    point.1.is_finite().then_some(diff)
}

/// Student's t quantile at 0.975 for `df` degrees of freedom (df 1-30 exact to 3 decimals,
/// then the normal's 1.96 approached as 1.96 + 2.4 / df).
pub fn t975(df: usize) -> f64 {
    const T: [f64; 30] = [
        12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
        2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
        2.052, 2.048, 2.045, 2.042,
    ];
    match df {
        0 => f64::NAN,
        1..=30 => T[df - 1],
        _ => 1.96 + 2.4 / df as f64,
    }
}

/// A mean with its 95% interval over seeds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Interval {
    pub mean: f64,
    /// Bounds of the 95% t interval (NaN with one seed).
    pub lo: f64,
    pub hi: f64,
    /// Seeds counted.
    pub n: usize,
}

/// The mean and 95% t interval of `xs` (the finite ones); `None` when none is finite.
pub fn interval(xs: &[f64]) -> Option<Interval> {
    let v: Vec<f64> = xs.iter().copied().filter(|x| x.is_finite()).collect();
    let n = v.len();
    if n == 0 {
        return None;
    }
    let mean = v.iter().sum::<f64>() / n as f64;
    if n == 1 {
        return Some(Interval {
            mean,
            lo: f64::NAN,
            hi: f64::NAN,
            n,
        });
    }
    let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    let half = t975(n - 1) * (var / n as f64).sqrt();
    Some(Interval {
        mean,
        lo: mean - half,
        hi: mean + half,
        n,
    })
}

/// Where a candidate stands against the baseline's curve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Better than the baseline at equal coverage: the interval excludes zero from above.
    Above,
    /// The interval holds zero: no difference shown.
    On,
    /// Worse: the interval excludes zero from below.
    Below,
    /// At a coverage the baseline's curve does not reach for some seed: not comparable.
    Outside,
    /// One seed: no interval, no verdict.
    Unsure,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Above => "above",
            Verdict::On => "on",
            Verdict::Below => "below",
            Verdict::Outside => "outside",
            Verdict::Unsure => "one seed",
        }
    }
}

/// The verdict of a candidate's advantages over seeds (`None`: outside the curve at that seed).
pub fn verdict(advantages: &[Option<f64>]) -> (Verdict, Option<Interval>) {
    let xs: Vec<f64> = advantages.iter().flatten().copied().collect();
    let iv = interval(&xs);
    if advantages.iter().any(Option::is_none) || iv.is_none() {
        return (Verdict::Outside, iv);
    }
    let iv = iv.expect("checked");
    let v = match iv.n {
        1 => Verdict::Unsure,
        _ if iv.lo > 0.0 => Verdict::Above,
        _ if iv.hi < 0.0 => Verdict::Below,
        _ => Verdict::On,
    };
    (v, Some(iv))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interpolation_is_linear_inside_the_curve_and_refuses_outside() {
        let h = Better::Higher;
        let curve = [(0.2, 0.10), (0.4, 0.20), (0.6, 0.30)];
        assert_eq!(interpolate(&curve, 0.2, h), Some(0.10));
        assert!((interpolate(&curve, 0.3, h).unwrap() - 0.15).abs() < 1e-12);
        assert!((interpolate(&curve, 0.55, h).unwrap() - 0.275).abs() < 1e-12);
        assert_eq!(interpolate(&curve, 0.6, h), Some(0.30));
        assert_eq!(interpolate(&curve, 0.61, h), None);
        assert_eq!(interpolate(&curve, 0.19, h), None);
        assert_eq!(interpolate(&[], 0.3, h), None);
        // A missing point breaks the curve: no segment across it.
        assert_eq!(
            interpolate(&[(0.2, 0.1), (f64::NAN, 9.0), (0.6, 0.3)], 0.4, h),
            None
        );
    }

    /// A coverage that falls and rises again with the temperature (NLL-test): at x = 3.5 the
    /// T < 1 branch gives 2.25 and the T > 1 branch 2.75; lower is better, so 2.25.
    #[test]
    fn two_branches_give_the_better_quality() {
        let curve = [(4.0, 2.0), (3.0, 2.5), (4.0, 3.0)];
        assert!((interpolate(&curve, 3.5, Better::Lower).unwrap() - 2.25).abs() < 1e-12);
        assert!((interpolate(&curve, 3.5, Better::Higher).unwrap() - 2.75).abs() < 1e-12);
        assert_eq!(interpolate(&curve, 4.0, Better::Lower), Some(2.0));
    }

    #[test]
    fn advantage_is_positive_when_better_either_way() {
        let curve = [(0.0, 1.0), (1.0, 2.0)];
        assert!((advantage(&curve, (0.5, 1.7), Better::Higher).unwrap() - 0.2).abs() < 1e-12);
        assert!((advantage(&curve, (0.5, 1.3), Better::Lower).unwrap() - 0.2).abs() < 1e-12);
        assert_eq!(advantage(&curve, (2.0, 1.0), Better::Higher), None);
    }

    /// The interval by hand: 1, 2, 3 has mean 2, sd 1, half width 4.303 / sqrt(3)
    /// (scipy.stats.t.ppf(0.975, 2) = 4.3027).
    #[test]
    fn the_interval_is_students_t() {
        let iv = interval(&[1.0, 2.0, 3.0, f64::NAN]).unwrap();
        let half = 4.303 / 3f64.sqrt();
        assert_eq!(iv.n, 3);
        assert!((iv.mean - 2.0).abs() < 1e-12);
        assert!((iv.lo - (2.0 - half)).abs() < 1e-12 && (iv.hi - (2.0 + half)).abs() < 1e-12);
        assert!((t975(1000) - 1.9624).abs() < 1e-3);
        assert!(interval(&[]).is_none());
    }

    #[test]
    fn verdicts_follow_the_interval() {
        let s = |xs: &[f64]| verdict(&xs.iter().map(|&x| Some(x)).collect::<Vec<_>>()).0;
        assert_eq!(s(&[0.10, 0.12, 0.11]), Verdict::Above);
        assert_eq!(s(&[-0.10, -0.12, -0.11]), Verdict::Below);
        assert_eq!(s(&[0.10, -0.12, 0.01]), Verdict::On);
        assert_eq!(s(&[0.10]), Verdict::Unsure);
        assert_eq!(verdict(&[Some(0.1), None, Some(0.1)]).0, Verdict::Outside);
    }
}
