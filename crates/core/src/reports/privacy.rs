//! The privacy layer between Confidant's exact counts and what a partner sees.
//!
//! The privacy unit is the member. A member moves each cell (day × interface × surface ×
//! variation × channel) by at most `contribution_cap` sends and `contribution_cap` clicks, and
//! touches at most `cells_per_day` cells of one app per day (both enforced where the counts
//! are kept, `store::Contribution`). Over a report of `days` days a member therefore changes
//! at most `k = 2 × cells_per_day × days` released counts, each by at most the cap: an L1
//! sensitivity of `cap × k` and an L2 sensitivity of `cap × √k`.
//!
//! Noise is calibrated so that one report spends exactly the per-report budget, expressed as
//! zero-concentrated DP (ρ) whatever the mechanism: the discrete Gaussian is ρ-zCDP directly,
//! and ε-DP Laplace is ε²/2-zCDP. The draw and the privacy map both come from OpenDP, built
//! with its OpenSSL randomness.

use opendp::domains::{AtomDomain, VectorDomain};
use opendp::measurements::{make_gaussian, make_laplace};
use opendp::measures::{MaxDivergence, ZeroConcentratedDivergence};
use opendp::metrics::{L1Distance, L2Distance};
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::store::CapsInForce;

/// Which noise a report's measured counts get.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mechanism {
    DiscreteGaussian,
    DiscreteLaplace,
    /// No noise at all: the self-test mode for operators and tests. Such a release is labelled
    /// on every output and never spends budget.
    SelfTest,
}

impl Mechanism {
    pub fn as_str(self) -> &'static str {
        match self {
            Mechanism::DiscreteGaussian => "discrete_gaussian",
            Mechanism::DiscreteLaplace => "discrete_laplace",
            Mechanism::SelfTest => "self_test",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            Mechanism::DiscreteGaussian,
            Mechanism::DiscreteLaplace,
            Mechanism::SelfTest,
        ]
        .into_iter()
        .find(|m| m.as_str() == text)
    }
}

/// How reports are made private, as the operator configured it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PrivacyPolicy {
    pub mechanism: Mechanism,
    /// ρ (zCDP) one report spends.
    pub rho_per_report: f64,
    /// ρ all of an app's releases together may spend on any one day of data. A release
    /// spends its ρ on every day it covers, so releasing a day again — overlapping periods,
    /// hand-made reruns — draws on the same day's budget and is refused once it is spent.
    pub rho_per_data_day: f64,
    /// The δ that ρ is converted to (ε, δ)-DP at, for people who read ε.
    pub delta: f64,
    /// Days engagement data is kept; older days are deleted and cannot be released.
    pub retention_days: i64,
    /// The most one member adds to one cell per day, in sends and in clicks.
    pub contribution_cap: u32,
    /// The most cells of one app one member adds to per day.
    pub cells_per_day: u32,
}

impl Default for PrivacyPolicy {
    fn default() -> Self {
        Self {
            mechanism: Mechanism::DiscreteGaussian,
            rho_per_report: 0.5,
            // One scheduled release per day of data.
            rho_per_data_day: 0.5,
            delta: 1e-6,
            retention_days: 400,
            contribution_cap: 3,
            cells_per_day: 4,
        }
    }
}

impl PrivacyPolicy {
    /// The same policy with the contribution bounds that counts were actually taken under.
    pub fn with_caps(self, caps: CapsInForce) -> Self {
        Self {
            contribution_cap: caps.contribution_cap,
            cells_per_day: caps.cells_per_day,
            ..self
        }
    }
}

/// The ε of (ε, δ)-DP that ρ-zCDP implies: ε = ρ + 2√(ρ · ln(1/δ)) (Bun and Steinke 2016,
/// Proposition 1.3). Not tight, but standard and easy to check by hand.
pub fn epsilon(rho: f64, delta: f64) -> f64 {
    if rho <= 0.0 {
        return 0.0;
    }
    rho + 2.0 * (rho * (1.0 / delta).ln()).sqrt()
}

/// Two-sided probability that noise alone moves a count past the discrepancy threshold.
pub const FLAG_FALSE_ALARM: f64 = 0.001;
/// z with P(|N(0, 1)| > z) = [`FLAG_FALSE_ALARM`].
const NORMAL_QUANTILE_FLAG: f64 = 3.290_526_731_491_926;

/// The noise one report gets, and what it costs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct NoiseParameters {
    pub mechanism: Mechanism,
    /// Standard deviation of the discrete Gaussian, or the Laplace scale; 0 in self-test.
    pub scale: f64,
    /// ρ spent, as OpenDP's privacy map measures it for this scale and sensitivity.
    pub rho: f64,
    pub contribution_cap: u32,
    pub cells_per_day: u32,
    /// The δ and ε this release's ρ gives as (ε, δ)-DP; see [`epsilon`].
    #[serde(default)]
    pub delta: f64,
    #[serde(default)]
    pub epsilon: f64,
    /// A released count farther than this from the partner's own figure is flagged: noise
    /// alone gets that far with probability [`FLAG_FALSE_ALARM`].
    pub flag_threshold: f64,
}

/// Calibrates noise for a report of `days` days so that it spends `rho_per_report`.
pub fn calibrate(policy: &PrivacyPolicy, days: i64) -> Result<NoiseParameters, Error> {
    let cap = f64::from(policy.contribution_cap);
    let touched = 2.0 * f64::from(policy.cells_per_day) * days as f64;
    let (scale, rho, flag_threshold) = match policy.mechanism {
        Mechanism::SelfTest => (0.0, 0.0, 0.0),
        Mechanism::DiscreteGaussian => {
            let l2 = cap * touched.sqrt();
            // ρ = Δ₂² / 2σ²; the slack keeps OpenDP's exact map at or under the budget.
            let scale = l2 / (2.0 * policy.rho_per_report).sqrt() * (1.0 + 1e-9);
            let rho = gaussian(scale)?
                .map(&l2)
                .map_err(|e| Error::Internal(format!("privacy map: {e}")))?;
            (scale, rho, scale * NORMAL_QUANTILE_FLAG)
        }
        Mechanism::DiscreteLaplace => {
            let l1 = cap * touched;
            // ε-DP is ε²/2-zCDP, so ε = √(2ρ) and b = Δ₁ / ε.
            let epsilon = (2.0 * policy.rho_per_report).sqrt();
            let scale = l1 / epsilon * (1.0 + 1e-9);
            let epsilon = laplace(scale)?
                .map(&l1)
                .map_err(|e| Error::Internal(format!("privacy map: {e}")))?;
            // P(|X| > t) = e^(−t/b) for the Laplace distribution.
            (
                scale,
                epsilon * epsilon / 2.0,
                scale * (1.0 / FLAG_FALSE_ALARM).ln(),
            )
        }
    };
    if rho > policy.rho_per_report {
        return Err(Error::Internal(format!(
            "calibrated noise spends ρ = {rho}, over the per-report budget {}",
            policy.rho_per_report
        )));
    }
    Ok(NoiseParameters {
        mechanism: policy.mechanism,
        scale,
        rho,
        contribution_cap: policy.contribution_cap,
        cells_per_day: policy.cells_per_day,
        delta: policy.delta,
        epsilon: epsilon(rho, policy.delta),
        flag_threshold,
    })
}

/// The counts with noise added, one independent draw each.
pub fn add_noise(noise: &NoiseParameters, counts: Vec<i64>) -> Result<Vec<i64>, Error> {
    let drawn = match noise.mechanism {
        Mechanism::SelfTest => return Ok(counts),
        Mechanism::DiscreteGaussian => gaussian(noise.scale)?.invoke(&counts),
        Mechanism::DiscreteLaplace => laplace(noise.scale)?.invoke(&counts),
    };
    drawn.map_err(|e| Error::Internal(format!("drawing noise: {e}")))
}

type Measurement<Metric, Measure> =
    opendp::core::Measurement<VectorDomain<AtomDomain<i64>>, Metric, Measure, Vec<i64>>;

fn gaussian(scale: f64) -> Result<Measurement<L2Distance<f64>, ZeroConcentratedDivergence>, Error> {
    make_gaussian(
        VectorDomain::new(AtomDomain::<i64>::default()),
        L2Distance::<f64>::default(),
        scale,
        None,
    )
    .map_err(|e| Error::Internal(format!("discrete Gaussian: {e}")))
}

fn laplace(scale: f64) -> Result<Measurement<L1Distance<f64>, MaxDivergence>, Error> {
    make_laplace(
        VectorDomain::new(AtomDomain::<i64>::default()),
        L1Distance::<f64>::default(),
        scale,
        None,
    )
    .map_err(|e| Error::Internal(format!("discrete Laplace: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calibration_spends_exactly_the_per_report_budget() {
        for mechanism in [Mechanism::DiscreteGaussian, Mechanism::DiscreteLaplace] {
            let policy = PrivacyPolicy {
                mechanism,
                ..PrivacyPolicy::default()
            };
            for days in [1, 14, 365] {
                let noise = calibrate(&policy, days).unwrap();
                assert!(noise.rho <= policy.rho_per_report, "{mechanism:?} {days}");
                assert!(noise.rho > policy.rho_per_report * 0.999_999, "{noise:?}");
            }
        }
        // Longer reports need more noise per count for the same budget.
        let short = calibrate(&PrivacyPolicy::default(), 14).unwrap();
        let long = calibrate(&PrivacyPolicy::default(), 365).unwrap();
        assert!(long.scale > short.scale * 5.0);
    }

    #[test]
    fn noise_has_the_calibrated_spread() {
        let policy = PrivacyPolicy {
            contribution_cap: 1,
            cells_per_day: 1,
            rho_per_report: 0.02,
            ..PrivacyPolicy::default()
        };
        let noise = calibrate(&policy, 1).unwrap();
        let n = 20_000;
        let drawn = add_noise(&noise, vec![100; n]).unwrap();
        let mean = drawn.iter().sum::<i64>() as f64 / n as f64;
        let var = drawn
            .iter()
            .map(|x| (*x as f64 - mean).powi(2))
            .sum::<f64>()
            / n as f64;
        assert!((mean - 100.0).abs() < 0.5, "mean {mean}");
        let expected = noise.scale * noise.scale;
        assert!((var / expected - 1.0).abs() < 0.1, "{var} vs {expected}");
        assert!(drawn.iter().any(|x| *x != 100));
    }

    #[test]
    fn rho_converts_to_epsilon_delta() {
        assert_eq!(epsilon(0.0, 1e-6), 0.0);
        // 0.5 + 2·√(0.5 · ln 10⁶) = 5.757…
        assert!((epsilon(0.5, 1e-6) - 5.7567).abs() < 1e-3);
        // Noise calibrated to higher caps is wider for the same ρ.
        let low = calibrate(&PrivacyPolicy::default(), 14).unwrap();
        let high = calibrate(
            &PrivacyPolicy::default().with_caps(CapsInForce {
                contribution_cap: 6,
                cells_per_day: 4,
            }),
            14,
        )
        .unwrap();
        assert!((high.scale / low.scale - 2.0).abs() < 1e-6);
        assert_eq!(high.contribution_cap, 6);
    }

    #[test]
    fn self_test_adds_nothing_and_spends_nothing() {
        let policy = PrivacyPolicy {
            mechanism: Mechanism::SelfTest,
            ..PrivacyPolicy::default()
        };
        let noise = calibrate(&policy, 14).unwrap();
        assert_eq!(noise.rho, 0.0);
        assert_eq!(add_noise(&noise, vec![1, 2, 3]).unwrap(), vec![1, 2, 3]);
    }
}
