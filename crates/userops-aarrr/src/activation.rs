//! `activation` (促活, SPEC §3): per cohort, the share of users who perform the
//! activation event at most `window_days` days after acquisition, and the median and
//! p90 time to activate over the eligible users who activated.
//!
//! Time to activate is measured from the acquisition to the first activation row at or
//! after it (an activation before the acquisition never counts). State:
//! [`crate::windowed::Windowed`].

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::{Date32Array, Float64Array, Int64Array, RecordBatch};
use serde::{Deserialize, Serialize};
use userops_core::output::{rate, table};
use userops_core::time::MICROS_PER_HOUR;
use userops_core::{
    parse_params, quantile_cont, FinishContext, ParamInfo, Period, PluginKind, Registration, Result, UserOpsError,
};

use crate::acquired::{
    check_acquisition_events, default_acquisition_events, AcquisitionConfig, ACQUISITION_EVENTS_DOC,
};
use crate::acquisition::PERIOD_DOC;
use crate::cohort::PeriodOf;
use crate::paying_conversion::check_window;
use crate::windowed::{outcome, Outcome, Target, WindowPlugin, WindowReport, Windowed};

/// Parameters of `activation`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ActivationParams {
    /// The cohort period: `day`, `week` or `month` (default).
    pub period: Period,
    /// The window in days (default 7).
    pub window_days: u32,
    /// The activation event (default `activate`).
    pub activation_event: String,
    /// Events that acquire a user (default `["signup"]`); `None` = first event of any kind.
    pub acquisition_events: Option<Vec<String>>,
}

impl Default for ActivationParams {
    fn default() -> Self {
        ActivationParams {
            period: Period::Month,
            window_days: 7,
            activation_event: "activate".into(),
            acquisition_events: default_acquisition_events(),
        }
    }
}

#[derive(Default)]
struct Cohort {
    size: i64,
    eligible: i64,
    in_progress: i64,
    /// Times to activate of the eligible activated users, microseconds.
    times: Vec<i64>,
}

impl WindowReport for ActivationParams {
    const NAME: &'static str = "activation";

    fn config(&self) -> AcquisitionConfig {
        AcquisitionConfig::new(self.acquisition_events.clone())
    }

    fn target(&self) -> Target {
        Target::Event(self.activation_event.clone())
    }

    fn period(&self) -> Period {
        self.period
    }

    fn finish(&self, data: &Windowed, periods: &mut PeriodOf, ctx: &FinishContext<'_>) -> Result<RecordBatch> {
        let acquired = data.acquired.resolve(ctx.users);
        let end = ctx.end.unwrap_or(i64::MIN);
        let mut cohorts: BTreeMap<i32, Cohort> = BTreeMap::new();
        for u in &acquired.users {
            let cohort = cohorts.entry(periods.index(u.ts)).or_default();
            cohort.size += 1;
            match outcome(u, data.first_after(u), self.window_days, end) {
                Outcome::InProgress => cohort.in_progress += 1,
                Outcome::Missed => cohort.eligible += 1,
                Outcome::Reached(micros) => {
                    cohort.eligible += 1;
                    cohort.times.push(micros);
                }
            }
        }
        let mut median = Vec::with_capacity(cohorts.len());
        let mut p90 = Vec::with_capacity(cohorts.len());
        for cohort in cohorts.values_mut() {
            cohort.times.sort_unstable();
            let hours: Vec<f64> = cohort.times.iter().map(|t| *t as f64 / MICROS_PER_HOUR as f64).collect();
            median.push(quantile_cont(&hours, 0.5));
            p90.push(quantile_cont(&hours, 0.9));
        }
        let column = |f: fn(&Cohort) -> i64| Arc::new(Int64Array::from_iter_values(cohorts.values().map(f)));
        table(vec![
            ("cohort", Arc::new(Date32Array::from_iter_values(cohorts.keys().map(|c| self.period.start_day(*c))))),
            ("cohort_size", column(|c| c.size)),
            ("eligible", column(|c| c.eligible)),
            ("activated", column(|c| c.times.len() as i64)),
            (
                "rate",
                Arc::new(
                    cohorts.values().map(|c| rate(c.times.len() as f64, c.eligible as f64)).collect::<Float64Array>(),
                ),
            ),
            ("in_progress", column(|c| c.in_progress)),
            ("median_hours", Arc::new(Float64Array::from(median))),
            ("p90_hours", Arc::new(Float64Array::from(p90))),
        ])
    }
}

/// `activation`: share of a cohort that activates within the window, and time to activate.
pub const ACTIVATION: Registration = Registration {
    name: "activation",
    kind: PluginKind::Metric,
    crate_name: env!("CARGO_PKG_NAME"),
    description: "Activation (促活) per cohort: share of users who perform the activation event at most N days after \
                  acquisition, with median and p90 hours to activate; recent users are in progress",
    params: &[
        PERIOD_DOC,
        ParamInfo {
            name: "window_days",
            doc: "the window in days: activation at most N days after acquisition (default 7)",
        },
        ParamInfo { name: "activation_event", doc: "the event that marks activation (default \"activate\")" },
        ACQUISITION_EVENTS_DOC,
    ],
    defaults: userops_core::default_params::<ActivationParams>,
    build: |params| {
        let p: ActivationParams = parse_params("activation", params)?;
        check_acquisition_events("activation", &p.acquisition_events)?;
        check_window("activation", p.window_days)?;
        if p.activation_event.is_empty() {
            return Err(UserOpsError::param("activation", "activation_event", "must be a non-empty event name"));
        }
        Ok(Box::new(WindowPlugin(p)))
    },
    law_params: &[
        r#"{"period": "day", "window_days": 1}"#,
        r#"{"period": "week", "window_days": 30, "acquisition_events": null}"#,
        r#"{"activation_event": "order", "acquisition_events": ["signup", "visit"]}"#,
    ],
};

userops_core::inventory::submit! { ACTIVATION }
