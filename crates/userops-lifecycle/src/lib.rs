//! # userops-lifecycle
//!
//! Lifecycle (生命周期, SPEC §8) and operator segmenters (用户分层, SPEC §11): five
//! plugins, each over its own exact, mergeable per-user state.
//!
//! | plugin | kind | result |
//! |---|---|---|
//! | `lifecycle` | metric | per period: new, returning, resurrecting, dormant (negative), active, quick ratio |
//! | `lifecycle_stage` | segmenter | per user: stage as of A (new, resurrected, active, at_risk, churned) |
//! | `stage_transitions` | metric | users per (stage at A1, stage at A2) |
//! | `churn_warning` | metric | per user: silence compared with their own median gap (用户预警) |
//! | `tiers` | segmenter | per user: the first of the operator's rules that holds |
//!
//! Decisions where SPEC.md is silent are listed in `docs/lifecycle.md`.

pub mod activity;
pub mod expr;
pub mod instants;
pub mod lifecycle;
pub mod stage;
pub mod tiers;
pub mod warning;

use arrow_array::RecordBatch;
use serde::de::DeserializeOwned;
use serde::Serialize;
use userops_core::{
    decode_state, downcast_state, encode_state, parse_params, Column, ColumnNeeds, Events, FinishContext, ParamInfo,
    PartialState, Plugin, PluginKind, Registration, Result, ScanContext, UserRemap,
};

use activity::ActivityFilter;
use expr::Feature;
use instants::StageInstants;
use lifecycle::{lifecycle_table, ActivePeriods, LifecycleParams};
use stage::{stage_table, transitions_table, StageParams, TransitionParams};
use tiers::{tiers_table, Rules, TierParams, TierState};
use userops_core::time::LocalDays;
use warning::{warning_table, WarningParams, WarningState};

/// What a plugin of this crate does with its state; [`Plug`] and [`StateOf`] turn it
/// into a [`Plugin`] and a [`PartialState`].
trait Spec: Clone + Send + Sync + 'static {
    type State: Serialize + DeserializeOwned + Default + Send + 'static;
    const NAME: &'static str;
    fn needs(&self) -> ColumnNeeds;
    fn update(&self, state: &mut Self::State, events: &Events, days: &mut LocalDays);
    fn merge(&self, state: &mut Self::State, other: Self::State, remap: &UserRemap);
    fn finish(&self, state: Self::State, ctx: &FinishContext<'_>) -> Result<RecordBatch>;
    fn breakdown(&self) -> bool {
        false
    }
}

struct Plug<S: Spec>(S);

impl<S: Spec> Plugin for Plug<S> {
    fn name(&self) -> &'static str {
        S::NAME
    }

    fn requires(&self) -> ColumnNeeds {
        self.0.needs()
    }

    fn new_state(&self, scan: &ScanContext) -> Box<dyn PartialState> {
        Box::new(StateOf { spec: self.0.clone(), days: LocalDays::new(&scan.tz), state: S::State::default() })
    }

    fn state_from_bytes(&self, bytes: &[u8], scan: &ScanContext) -> Result<Box<dyn PartialState>> {
        Ok(Box::new(StateOf { spec: self.0.clone(), days: LocalDays::new(&scan.tz), state: decode_state(bytes)? }))
    }

    fn supports_breakdown(&self) -> bool {
        self.0.breakdown()
    }
}

struct StateOf<S: Spec> {
    spec: S,
    /// The local-day lookup of the scan's zone (a cache, not part of the state's bytes).
    days: LocalDays,
    state: S::State,
}

impl<S: Spec> PartialState for StateOf<S> {
    fn update(&mut self, events: &Events) -> Result<()> {
        self.spec.update(&mut self.state, events, &mut self.days);
        Ok(())
    }

    fn merge(&mut self, other: Box<dyn PartialState>, remap: &UserRemap) -> Result<()> {
        let other = downcast_state::<StateOf<S>>(other)?;
        self.spec.merge(&mut self.state, other.state, remap);
        Ok(())
    }

    fn to_bytes(&self) -> Result<Vec<u8>> {
        encode_state(&self.state)
    }

    fn finish(self: Box<Self>, ctx: &FinishContext<'_>) -> Result<RecordBatch> {
        self.spec.finish(self.state, ctx)
    }
}

fn needs_events(filter: &ActivityFilter, optional: &[Column]) -> ColumnNeeds {
    if filter.needs_events() {
        ColumnNeeds::new(&[Column::Event], optional)
    } else {
        ColumnNeeds::new(&[], optional)
    }
}

#[derive(Clone)]
struct Lifecycle {
    params: LifecycleParams,
    filter: ActivityFilter,
}

impl Spec for Lifecycle {
    type State = ActivePeriods;
    const NAME: &'static str = "lifecycle";

    fn needs(&self) -> ColumnNeeds {
        needs_events(&self.filter, &[])
    }

    fn update(&self, state: &mut ActivePeriods, events: &Events, days: &mut LocalDays) {
        state.update(events, &self.filter, self.params.period, days);
    }

    fn merge(&self, state: &mut ActivePeriods, other: ActivePeriods, remap: &UserRemap) {
        state.merge(other, remap);
    }

    fn finish(&self, state: ActivePeriods, ctx: &FinishContext<'_>) -> Result<RecordBatch> {
        lifecycle_table(state, &self.params, ctx)
    }

    fn breakdown(&self) -> bool {
        true
    }
}

#[derive(Clone)]
struct LifecycleStage {
    params: StageParams,
    filter: ActivityFilter,
}

impl Spec for LifecycleStage {
    type State = StageInstants;
    const NAME: &'static str = "lifecycle_stage";

    fn needs(&self) -> ColumnNeeds {
        needs_events(&self.filter, &[])
    }

    fn update(&self, state: &mut StageInstants, events: &Events, _days: &mut LocalDays) {
        state.update(events, &self.filter, &self.params.reach());
    }

    fn merge(&self, state: &mut StageInstants, other: StageInstants, remap: &UserRemap) {
        state.merge(other, remap, &self.params.reach());
    }

    fn finish(&self, state: StageInstants, ctx: &FinishContext<'_>) -> Result<RecordBatch> {
        stage_table(state, &self.params, ctx)
    }
}

#[derive(Clone)]
struct StageTransitions {
    params: TransitionParams,
    filter: ActivityFilter,
}

impl Spec for StageTransitions {
    type State = StageInstants;
    const NAME: &'static str = "stage_transitions";

    fn needs(&self) -> ColumnNeeds {
        needs_events(&self.filter, &[])
    }

    fn update(&self, state: &mut StageInstants, events: &Events, _days: &mut LocalDays) {
        state.update(events, &self.filter, &self.params.reach());
    }

    fn merge(&self, state: &mut StageInstants, other: StageInstants, remap: &UserRemap) {
        state.merge(other, remap, &self.params.reach());
    }

    fn finish(&self, state: StageInstants, ctx: &FinishContext<'_>) -> Result<RecordBatch> {
        transitions_table(state, &self.params, ctx)
    }
}

#[derive(Clone)]
struct ChurnWarning {
    params: WarningParams,
    filter: ActivityFilter,
}

impl Spec for ChurnWarning {
    type State = WarningState;
    const NAME: &'static str = "churn_warning";

    fn needs(&self) -> ColumnNeeds {
        // Revenue reads event names and amounts when the input has them.
        needs_events(&self.filter, &[Column::Event, Column::Amount])
    }

    fn update(&self, state: &mut WarningState, events: &Events, days: &mut LocalDays) {
        state.update(events, &self.filter, &self.params.revenue_event, days);
    }

    fn merge(&self, state: &mut WarningState, other: WarningState, remap: &UserRemap) {
        state.merge(other, remap);
    }

    fn finish(&self, state: WarningState, ctx: &FinishContext<'_>) -> Result<RecordBatch> {
        warning_table(state, &self.params, ctx)
    }
}

#[derive(Clone)]
struct Tiers {
    rules: Rules,
}

impl Spec for Tiers {
    type State = TierState;
    const NAME: &'static str = "tiers";

    fn needs(&self) -> ColumnNeeds {
        let reads = |f: fn(&Feature) -> bool| self.rules_features().iter().any(f);
        let mut required = Vec::new();
        if reads(|f| matches!(f, Feature::EventsOf(_) | Feature::AmountOf(_) | Feature::Revenue | Feature::Purchases)) {
            required.push(Column::Event);
        }
        if reads(|f| matches!(f, Feature::AmountOf(_) | Feature::Revenue)) {
            required.push(Column::Amount);
        }
        ColumnNeeds::new(&required, &[Column::Event, Column::Amount])
    }

    fn update(&self, state: &mut TierState, events: &Events, days: &mut LocalDays) {
        state.update(events, &self.rules, days);
    }

    fn merge(&self, state: &mut TierState, other: TierState, remap: &UserRemap) {
        state.merge(other, remap, &self.rules);
    }

    fn finish(&self, state: TierState, ctx: &FinishContext<'_>) -> Result<RecordBatch> {
        tiers_table(state, &self.rules, ctx)
    }
}

impl Tiers {
    fn rules_features(&self) -> &[Feature] {
        self.rules.features()
    }
}

const ACTIVITY_DOC: ParamInfo =
    ParamInfo { name: "activity_events", doc: "event names that count as activity; null (default) for any event" };
const NEW_DOC: ParamInfo =
    ParamInfo { name: "new_days", doc: "new: first activity at most this many days before A (default 30)" };
const ACTIVE_DOC: ParamInfo = ParamInfo {
    name: "active_days",
    doc: "active/resurrected: last activity (and the end of a long gap) at most this many days before A (default 30)",
};
const CHURN_DOC: ParamInfo = ParamInfo {
    name: "churn_days",
    doc: "a gap longer than this makes a return a resurrection; at_risk up to this many days of silence (default 90)",
};

/// `lifecycle`: growth accounting per period.
pub const LIFECYCLE: Registration = Registration {
    name: "lifecycle",
    kind: PluginKind::Metric,
    crate_name: env!("CARGO_PKG_NAME"),
    description: "Growth accounting per period (生命周期): new, returning, resurrecting, dormant (negative) and active users, quick ratio",
    params: &[ParamInfo { name: "period", doc: "\"day\", \"week\" (ISO, Monday) or \"month\" (default)" }, ACTIVITY_DOC],
    defaults: userops_core::default_params::<LifecycleParams>,
    build: |params| {
        let params: LifecycleParams = parse_params("lifecycle", params)?;
        let filter = ActivityFilter::new("lifecycle", &params.activity_events)?;
        Ok(Box::new(Plug(Lifecycle { params, filter })))
    },
    law_params: &[
        r#"{"period": "week"}"#,
        r#"{"period": "day", "activity_events": ["visit", "order"]}"#,
        r#"{"period": "month", "activity_events": ["order"]}"#,
    ],
};

/// `lifecycle_stage`: each user's stage as of A.
pub const LIFECYCLE_STAGE: Registration = Registration {
    name: "lifecycle_stage",
    kind: PluginKind::Segmenter,
    crate_name: env!("CARGO_PKG_NAME"),
    description: "Lifecycle stage per user as of A (new, resurrected, active, at_risk, churned), with first/last seen and days inactive",
    params: &[
        ParamInfo { name: "at", doc: "the instant A, microseconds UTC; null (default) for the end of data D" },
        NEW_DOC,
        ACTIVE_DOC,
        CHURN_DOC,
        ACTIVITY_DOC,
    ],
    defaults: userops_core::default_params::<StageParams>,
    build: |params| {
        let params: StageParams = parse_params("lifecycle_stage", params)?;
        params.thresholds().validate("lifecycle_stage")?;
        let filter = ActivityFilter::new("lifecycle_stage", &params.activity_events)?;
        Ok(Box::new(Plug(LifecycleStage { params, filter })))
    },
    // 2024-03-15T12:00Z (inside the generated data) and small thresholds.
    law_params: &[
        r#"{"at": 1710504000000000, "new_days": 7, "active_days": 10, "churn_days": 20}"#,
        r#"{"new_days": 0, "active_days": 60, "churn_days": 14, "activity_events": ["visit"]}"#,
    ],
};

/// `stage_transitions`: users per (stage at A1, stage at A2).
pub const STAGE_TRANSITIONS: Registration = Registration {
    name: "stage_transitions",
    kind: PluginKind::Metric,
    crate_name: env!("CARGO_PKG_NAME"),
    description:
        "Lifecycle stage transition matrix between two instants A1 < A2 (users without activity by A1 come from none)",
    params: &[
        ParamInfo { name: "start", doc: "A1, microseconds UTC; null (default) for 30 days before end" },
        ParamInfo { name: "end", doc: "A2, microseconds UTC; null (default) for the end of data D" },
        NEW_DOC,
        ACTIVE_DOC,
        CHURN_DOC,
        ACTIVITY_DOC,
    ],
    defaults: userops_core::default_params::<TransitionParams>,
    build: |params| {
        let params: TransitionParams = parse_params("stage_transitions", params)?;
        params.validate("stage_transitions")?;
        let filter = ActivityFilter::new("stage_transitions", &params.activity_events)?;
        Ok(Box::new(Plug(StageTransitions { params, filter })))
    },
    // 2024-02-20T08:00Z → 2024-06-01T00:00Z; then A2 given with A1 30 days before it. (A1 given with A2 = D is
    // not listed: a generated as_of may fall before A1, which is an error.)
    law_params: &[
        r#"{"start": 1708416000000000, "end": 1717200000000000}"#,
        r#"{"start": 1708416000000000, "end": 1717200000000000, "new_days": 3, "active_days": 14, "churn_days": 10, "activity_events": ["order", "visit"]}"#,
        r#"{"end": 1717200000000000}"#,
    ],
};

/// `churn_warning`: users silent for long compared with their own rhythm.
pub const CHURN_WARNING: Registration = Registration {
    name: "churn_warning",
    kind: PluginKind::Metric,
    crate_name: env!("CARGO_PKG_NAME"),
    description: "Churn early warning (用户预警): days inactive over each user's median gap between active days, flagged above a threshold",
    params: &[
        ParamInfo { name: "threshold", doc: "flag when risk_ratio > threshold (default 2.0)" },
        ParamInfo { name: "min_active_days", doc: "users with fewer distinct active days are left out (default 3, at least 2)" },
        ParamInfo { name: "revenue_event", doc: "event whose rows are purchases and refunds, for revenue (default \"order\")" },
        ACTIVITY_DOC,
    ],
    defaults: userops_core::default_params::<WarningParams>,
    build: |params| {
        let params: WarningParams = parse_params("churn_warning", params)?;
        params.validate("churn_warning")?;
        let filter = ActivityFilter::new("churn_warning", &params.activity_events)?;
        Ok(Box::new(Plug(ChurnWarning { params, filter })))
    },
    law_params: &[
        r#"{"threshold": 1.0, "min_active_days": 2}"#,
        r#"{"threshold": 3.5, "min_active_days": 4, "activity_events": ["visit"], "revenue_event": "order"}"#,
    ],
};

/// `tiers`: the operator's own rules over per-user features.
pub const TIERS: Registration = Registration {
    name: "tiers",
    kind: PluginKind::Segmenter,
    crate_name: env!("CARGO_PKG_NAME"),
    description: "Operator-defined tiers: the first rule whose condition holds over the user's features in the last period_days",
    params: &[
        ParamInfo {
            name: "rules",
            doc: "ordered [label, condition] pairs; conditions compare features (events, events.<name>, amount.<name>, revenue, purchases, active_days, days_since_last) with and/or/not, e.g. \"events.visit >= 5 and revenue == 0\"",
        },
        ParamInfo { name: "period_days", doc: "the window: events at most this many days before D (default 7); null for all time" },
        ParamInfo { name: "default_tier", doc: "the tier of users no rule matches (default \"other\")" },
        ParamInfo { name: "revenue_event", doc: "event whose rows are purchases and refunds, for revenue and purchases (default \"order\")" },
    ],
    defaults: userops_core::default_params::<TierParams>,
    build: |params| {
        let params: TierParams = parse_params("tiers", params)?;
        Ok(Box::new(Plug(Tiers { rules: Rules::compile("tiers", &params)? })))
    },
    law_params: &[
        r#"{"rules": [["buyers", "purchases >= 1 and revenue > 0"], ["browsers", "events.visit >= 2 and revenue == 0"], ["quiet", "days_since_last > 3"]], "period_days": 10}"#,
        r#"{"rules": [["busy", "active_days >= 2 or events >= 4"], ["refunded", "amount.order < 0"]], "period_days": null, "default_tier": "rest"}"#,
    ],
};

userops_core::inventory::submit! { LIFECYCLE }
userops_core::inventory::submit! { LIFECYCLE_STAGE }
userops_core::inventory::submit! { STAGE_TRANSITIONS }
userops_core::inventory::submit! { CHURN_WARNING }
userops_core::inventory::submit! { TIERS }

/// This crate's registrations, for an explicit `register_all` where link-time
/// collection is unavailable.
pub fn registrations() -> Vec<&'static Registration> {
    vec![&LIFECYCLE, &LIFECYCLE_STAGE, &STAGE_TRANSITIONS, &CHURN_WARNING, &TIERS]
}
