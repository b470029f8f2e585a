//! `acquisition` (拉新, SPEC §2): new users per period and channel, with spend and CAC.
//!
//! State: the per-user acquisition of [`crate::acquired`]. Finish: count acquired users
//! by (period of acquisition, channel), join the spend parameter bucketed into the same
//! periods; every (period, channel) with new users or a spend row is listed.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::{Date32Array, Float64Array, Int64Array, RecordBatch, StringArray};
use serde::{Deserialize, Serialize};
use userops_core::money::micros_to_f64;
use userops_core::output::table;
use userops_core::{
    decode_state, downcast_state, encode_state, parse_params, ColumnNeeds, Events, FinishContext, ParamInfo,
    PartialState, Period, Plugin, PluginKind, Registration, Result, ScanContext, UserRemap,
};

use crate::acquired::{
    check_acquisition_events, default_acquisition_events, Acquired, AcquisitionConfig, ACQUISITION_EVENTS_DOC,
};
use crate::cohort::PeriodOf;
use crate::spend::{check_spend, spend_by_period, SpendRow, SPEND_DOC};

/// Parameters of `acquisition`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AcquisitionParams {
    /// `day`, `week` or `month` (default).
    pub period: Period,
    /// Events that acquire a user (default `["signup"]`); `None` = first event of any kind.
    pub acquisition_events: Option<Vec<String>>,
    /// Channel spend rows; `None` (default) for none.
    pub spend: Option<Vec<SpendRow>>,
}

impl Default for AcquisitionParams {
    fn default() -> Self {
        AcquisitionParams { period: Period::Month, acquisition_events: default_acquisition_events(), spend: None }
    }
}

/// The documentation of the `period` parameter of the cohort metrics.
pub const PERIOD_DOC: ParamInfo = ParamInfo {
    name: "period",
    doc: "\"day\", \"week\" (ISO, Monday start) or \"month\" (default), in the run's time zone",
};

struct AcquisitionPlugin(AcquisitionParams);

struct AcquisitionState {
    acquired: Acquired,
    params: AcquisitionParams,
    periods: PeriodOf,
}

impl AcquisitionPlugin {
    fn config(&self) -> AcquisitionConfig {
        AcquisitionConfig::new(self.0.acquisition_events.clone())
    }
}

impl Plugin for AcquisitionPlugin {
    fn name(&self) -> &'static str {
        "acquisition"
    }

    fn requires(&self) -> ColumnNeeds {
        let (required, optional) = self.config().columns();
        ColumnNeeds::new(&required, &optional)
    }

    fn new_state(&self, scan: &ScanContext) -> Box<dyn PartialState> {
        Box::new(AcquisitionState {
            acquired: Acquired::new(self.config()),
            params: self.0.clone(),
            periods: PeriodOf::new(self.0.period, &scan.tz),
        })
    }

    fn state_from_bytes(&self, bytes: &[u8], scan: &ScanContext) -> Result<Box<dyn PartialState>> {
        Ok(Box::new(AcquisitionState {
            acquired: decode_state(bytes)?,
            params: self.0.clone(),
            periods: PeriodOf::new(self.0.period, &scan.tz),
        }))
    }
}

impl PartialState for AcquisitionState {
    fn update(&mut self, events: &Events) -> Result<()> {
        self.acquired.update(events);
        Ok(())
    }

    fn merge(&mut self, other: Box<dyn PartialState>, remap: &UserRemap) -> Result<()> {
        self.acquired.merge(downcast_state::<AcquisitionState>(other)?.acquired, remap)
    }

    fn to_bytes(&self) -> Result<Vec<u8>> {
        encode_state(&self.acquired)
    }

    fn finish(self: Box<Self>, ctx: &FinishContext<'_>) -> Result<RecordBatch> {
        let AcquisitionState { acquired, params, mut periods } = *self;
        let acquired = acquired.resolve(ctx.users);
        // (period, channel) -> (new users, spend in micro-units if any row)
        let mut cells: BTreeMap<(i32, String), (i64, Option<i128>)> = BTreeMap::new();
        for u in &acquired.users {
            let key = (periods.index(u.ts), acquired.channel_label(u).to_string());
            cells.entry(key).or_insert((0, None)).0 += 1;
        }
        if let Some(rows) = &params.spend {
            for (key, micros) in spend_by_period(rows, &mut periods, ctx.end) {
                cells.entry(key).or_insert((0, None)).1 = Some(micros);
            }
        }
        let period = params.period;
        let spend: Vec<Option<f64>> = cells.values().map(|(_, s)| s.map(micros_to_f64)).collect();
        let cac: Vec<Option<f64>> =
            cells.values().zip(&spend).map(|((n, _), s)| s.filter(|_| *n > 0).map(|s| s / *n as f64)).collect();
        table(vec![
            ("period", Arc::new(Date32Array::from_iter_values(cells.keys().map(|(p, _)| period.start_day(*p))))),
            ("channel", Arc::new(StringArray::from_iter_values(cells.keys().map(|(_, c)| c.as_str())))),
            ("new_users", Arc::new(Int64Array::from_iter_values(cells.values().map(|(n, _)| *n)))),
            ("spend", Arc::new(Float64Array::from(spend))),
            ("cac", Arc::new(Float64Array::from(cac))),
        ])
    }
}

/// `acquisition`: new users per period and channel, spend and CAC.
pub const ACQUISITION: Registration = Registration {
    name: "acquisition",
    kind: PluginKind::Metric,
    crate_name: env!("CARGO_PKG_NAME"),
    description: "New users per period and acquisition channel (拉新), with channel spend and CAC = spend / new users",
    params: &[PERIOD_DOC, ACQUISITION_EVENTS_DOC, SPEND_DOC],
    defaults: userops_core::default_params::<AcquisitionParams>,
    build: |params| {
        let p: AcquisitionParams = parse_params("acquisition", params)?;
        check_acquisition_events("acquisition", &p.acquisition_events)?;
        check_spend("acquisition", &p.spend)?;
        Ok(Box::new(AcquisitionPlugin(p)))
    },
    law_params: &[
        r#"{"period": "week", "acquisition_events": null}"#,
        r#"{"period": "day", "acquisition_events": ["signup", "visit"], "spend": [
            {"channel": "ads", "period_start": "2024-01-01", "spend": 100.5},
            {"channel": "ads", "period_start": "2024-01-01", "spend": 0.25},
            {"channel": "social", "period_start": 1706716800000000, "spend": 12},
            {"channel": null, "period_start": "2024-03-31", "spend": null},
            {"channel": "tv", "period_start": "2025-06-01", "spend": 7}]}"#,
        r#"{"spend": [{"channel": "organic", "period_start": "2024-02-01", "spend": 50}]}"#,
    ],
};

userops_core::inventory::submit! { ACQUISITION }
