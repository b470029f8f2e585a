//! `paying_conversion` (付费转化, SPEC §2): per cohort (period of acquisition) and
//! acquisition channel, the share of new users whose first purchase at or after
//! acquisition is at most `window_days` days after it.
//!
//! A purchase before the acquisition never counts (the window is `[a, a + N days]`),
//! refunds are not purchases, and users acquired less than N days before D are in
//! progress. State: [`crate::windowed::Windowed`].

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::{Date32Array, Float64Array, Int64Array, RecordBatch, StringArray};
use serde::{Deserialize, Serialize};
use userops_core::output::{rate, table};
use userops_core::{parse_params, FinishContext, ParamInfo, Period, PluginKind, Registration, Result, UserOpsError};

use crate::acquired::{
    check_acquisition_events, default_acquisition_events, AcquisitionConfig, ACQUISITION_EVENTS_DOC,
};
use crate::acquisition::PERIOD_DOC;
use crate::cohort::PeriodOf;
use crate::windowed::{outcome, Outcome, Target, WindowPlugin, WindowReport, Windowed};

/// Parameters of `paying_conversion`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PayingConversionParams {
    /// The cohort period: `day`, `week` or `month` (default).
    pub period: Period,
    /// The window N in days (default 30).
    pub window_days: u32,
    /// The event whose non-negative (or null) amounts are purchases (default `order`).
    pub revenue_event: String,
    /// Events that acquire a user (default `["signup"]`); `None` = first event of any kind.
    pub acquisition_events: Option<Vec<String>>,
}

impl Default for PayingConversionParams {
    fn default() -> Self {
        PayingConversionParams {
            period: Period::Month,
            window_days: 30,
            revenue_event: "order".into(),
            acquisition_events: default_acquisition_events(),
        }
    }
}

impl WindowReport for PayingConversionParams {
    const NAME: &'static str = "paying_conversion";

    fn config(&self) -> AcquisitionConfig {
        AcquisitionConfig::new(self.acquisition_events.clone())
    }

    fn target(&self) -> Target {
        Target::Purchases(self.revenue_event.clone())
    }

    fn period(&self) -> Period {
        self.period
    }

    fn finish(&self, data: &Windowed, periods: &mut PeriodOf, ctx: &FinishContext<'_>) -> Result<RecordBatch> {
        let acquired = data.acquired.resolve(ctx.users);
        let end = ctx.end.unwrap_or(i64::MIN);
        // (cohort, channel) -> [new users, eligible, converted, in progress]
        let mut cells: BTreeMap<(i32, &str), [i64; 4]> = BTreeMap::new();
        for u in &acquired.users {
            let cell = cells.entry((periods.index(u.ts), acquired.channel_label(u))).or_default();
            cell[0] += 1;
            match outcome(u, data.first_after(u), self.window_days, end) {
                Outcome::InProgress => cell[3] += 1,
                Outcome::Missed => cell[1] += 1,
                Outcome::Reached(_) => {
                    cell[1] += 1;
                    cell[2] += 1;
                }
            }
        }
        let column = |i: usize| Arc::new(Int64Array::from_iter_values(cells.values().map(|c| c[i])));
        table(vec![
            ("cohort", Arc::new(Date32Array::from_iter_values(cells.keys().map(|(c, _)| self.period.start_day(*c))))),
            ("channel", Arc::new(StringArray::from_iter_values(cells.keys().map(|(_, ch)| *ch)))),
            ("new_users", column(0)),
            ("eligible", column(1)),
            ("converted", column(2)),
            ("rate", Arc::new(cells.values().map(|c| rate(c[2] as f64, c[1] as f64)).collect::<Float64Array>())),
            ("in_progress", column(3)),
        ])
    }
}

/// Checks a window length in days.
pub(crate) fn check_window(plugin: &str, days: u32) -> Result<()> {
    if days > 36_500 {
        return Err(UserOpsError::param(plugin, "window_days", format!("must be at most 36500 days, got {days}")));
    }
    Ok(())
}

/// The documentation of the `revenue_event` parameter.
pub(crate) const REVENUE_EVENT_DOC: ParamInfo = ParamInfo {
    name: "revenue_event",
    doc: "event whose rows are purchases (amount >= 0 or null) and refunds (amount < 0); default \"order\"",
};

/// `paying_conversion`: share of a cohort's new users who purchase within N days of acquisition.
pub const PAYING_CONVERSION: Registration = Registration {
    name: "paying_conversion",
    kind: PluginKind::Metric,
    crate_name: env!("CARGO_PKG_NAME"),
    description: "Paying conversion (付费转化) per cohort and channel: share of new users whose first purchase is at \
                  most N days after acquisition; users acquired less than N days before D are in progress",
    params: &[
        PERIOD_DOC,
        ParamInfo {
            name: "window_days",
            doc: "the window N in days: a purchase at most N days after acquisition (default 30)",
        },
        REVENUE_EVENT_DOC,
        ACQUISITION_EVENTS_DOC,
    ],
    defaults: userops_core::default_params::<PayingConversionParams>,
    build: |params| {
        let p: PayingConversionParams = parse_params("paying_conversion", params)?;
        check_acquisition_events("paying_conversion", &p.acquisition_events)?;
        check_window("paying_conversion", p.window_days)?;
        if p.revenue_event.is_empty() {
            return Err(UserOpsError::param("paying_conversion", "revenue_event", "must be a non-empty event name"));
        }
        Ok(Box::new(WindowPlugin(p)))
    },
    law_params: &[
        r#"{"period": "week", "window_days": 3}"#,
        r#"{"period": "day", "window_days": 0, "acquisition_events": null}"#,
        r#"{"window_days": 60, "acquisition_events": ["signup", "activate"], "revenue_event": "visit"}"#,
    ],
};

userops_core::inventory::submit! { PAYING_CONVERSION }
