//! The parameters of the six plugins, as serde structs with documented defaults.

use serde::{Deserialize, Serialize};
use userops_core::time::MICROS_PER_DAY;
use userops_core::{Period, Result, UserOpsError};

/// The default acquisition events (SPEC §2).
pub fn default_acquisition_events() -> Option<Vec<String>> {
    Some(vec!["signup".to_string()])
}

fn check_acquisition_events(plugin: &str, events: &Option<Vec<String>>) -> Result<()> {
    match events {
        Some(names) if names.is_empty() => Err(UserOpsError::param(
            plugin,
            "acquisition_events",
            "must name at least one event, or be null for \"first event of any kind\"",
        )),
        _ => Ok(()),
    }
}

/// Parameters of `viral` (K-factor and referral share per cohort).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ViralParams {
    /// Cohort period: `day`, `week` or `month` (default).
    pub period: Period,
    /// The K-factor window W in days (default 30), 0 to 3650.
    pub window_days: u32,
    /// Acquisition events (default `["signup"]`); null means first event of any kind.
    pub acquisition_events: Option<Vec<String>>,
    /// The invite event (default `invite`).
    pub invite_event: String,
}

impl Default for ViralParams {
    fn default() -> Self {
        ViralParams {
            period: Period::Month,
            window_days: 30,
            acquisition_events: default_acquisition_events(),
            invite_event: "invite".into(),
        }
    }
}

impl ViralParams {
    /// Checks the parameters, naming the first one that is wrong.
    pub fn validate(&self, plugin: &str) -> Result<()> {
        if self.window_days > 3650 {
            return Err(UserOpsError::param(
                plugin,
                "window_days",
                format!("must be from 0 to 3650, got {}", self.window_days),
            ));
        }
        check_acquisition_events(plugin, &self.acquisition_events)
    }

    /// The window W in microseconds.
    pub fn window_micros(&self) -> i64 {
        self.window_days as i64 * MICROS_PER_DAY
    }
}

/// Parameters of `viral_cycle`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CycleParams {
    /// Group by the referred user's acquisition period (`day`, `week`, `month`), or one
    /// overall row when null (default).
    pub period: Option<Period>,
    /// Acquisition events (default `["signup"]`); null means first event of any kind.
    pub acquisition_events: Option<Vec<String>>,
}

impl Default for CycleParams {
    fn default() -> Self {
        CycleParams { period: None, acquisition_events: default_acquisition_events() }
    }
}

impl CycleParams {
    /// Checks the parameters.
    pub fn validate(&self, plugin: &str) -> Result<()> {
        check_acquisition_events(plugin, &self.acquisition_events)
    }
}

/// Parameters of `referral_tree`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TreeParams {
    /// The event whose rows are purchases and refunds (default `order`).
    pub revenue_event: String,
    /// Acquisition events (default `["signup"]`); null means first event of any kind.
    pub acquisition_events: Option<Vec<String>>,
}

impl Default for TreeParams {
    fn default() -> Self {
        TreeParams { revenue_event: "order".into(), acquisition_events: default_acquisition_events() }
    }
}

impl TreeParams {
    /// Checks the parameters.
    pub fn validate(&self, plugin: &str) -> Result<()> {
        check_acquisition_events(plugin, &self.acquisition_events)
    }
}

/// What `top_referrers` ranks by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RankBy {
    /// Users they referred directly.
    DirectReferrals,
    /// Everyone below them in the forest.
    Descendants,
    /// Net revenue of everyone below them.
    DescendantRevenue,
}

impl<'de> Deserialize<'de> for RankBy {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        match name.as_str() {
            "direct_referrals" => Ok(RankBy::DirectReferrals),
            "descendants" => Ok(RankBy::Descendants),
            "descendant_revenue" => Ok(RankBy::DescendantRevenue),
            other => Err(serde::de::Error::custom(format!(
                "`by` must be \"direct_referrals\", \"descendants\" or \"descendant_revenue\", got {other:?}"
            ))),
        }
    }
}

/// Parameters of `top_referrers`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TopParams {
    /// `direct_referrals`, `descendants` (default) or `descendant_revenue`.
    pub by: RankBy,
    /// How many referrers (default 20), at least 1.
    pub n: u64,
    /// The event whose rows are purchases and refunds (default `order`).
    pub revenue_event: String,
    /// Acquisition events (default `["signup"]`); null means first event of any kind.
    pub acquisition_events: Option<Vec<String>>,
}

impl Default for TopParams {
    fn default() -> Self {
        TopParams {
            by: RankBy::Descendants,
            n: 20,
            revenue_event: "order".into(),
            acquisition_events: default_acquisition_events(),
        }
    }
}

impl TopParams {
    /// Checks the parameters.
    pub fn validate(&self, plugin: &str) -> Result<()> {
        if self.n == 0 {
            return Err(UserOpsError::param(plugin, "n", "must be at least 1"));
        }
        check_acquisition_events(plugin, &self.acquisition_events)
    }
}

/// Parameters of `referral_issues` and `acquired_via`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EdgeParams {
    /// Acquisition events (default `["signup"]`); null means first event of any kind.
    pub acquisition_events: Option<Vec<String>>,
}

impl Default for EdgeParams {
    fn default() -> Self {
        EdgeParams { acquisition_events: default_acquisition_events() }
    }
}

impl EdgeParams {
    /// Checks the parameters.
    pub fn validate(&self, plugin: &str) -> Result<()> {
        check_acquisition_events(plugin, &self.acquisition_events)
    }
}
