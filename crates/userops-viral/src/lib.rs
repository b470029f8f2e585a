//! # userops-viral
//!
//! Referral and viral growth (裂变, SPEC §10): six plugins over one per-user state
//! (acquisition candidates, invite instants within reach, net revenue), each with its
//! own finish.
//!
//! | plugin | kind | result |
//! |---|---|---|
//! | `viral` | metric | per cohort: K-factor, invites, invite conversion, new users, referral share |
//! | `viral_cycle` | metric | median and p90 hours from referrer to referred, overall or per period |
//! | `referral_tree` | metric | per acquired user: referrer, generation, root, referrals, descendants, their revenue |
//! | `top_referrers` | metric | the top n referrers by direct referrals, descendants or their revenue |
//! | `referral_issues` | metric | every referral edge left out, and why |
//! | `acquired_via` | segmenter | `organic` / `referred` per acquired user |
//!
//! Every decision SPEC leaves open is written down in `docs/viral.md`.

pub mod cycle;
pub mod forest;
pub mod invites;
pub mod kfactor;
pub mod params;
pub mod state;
pub mod tree;

use arrow_array::RecordBatch;
use userops_core::{
    decode_state, downcast_state, encode_state, parse_params, Column, ColumnNeeds, Events, FinishContext, ParamInfo,
    PartialState, Plugin, PluginKind, Registration, Result, ScanContext, UserRemap,
};

use forest::{Edges, Forest};
use params::{CycleParams, EdgeParams, TopParams, TreeParams, ViralParams};
use state::{Tracking, ViralState};

/// Which result a plugin of this crate finishes into, with its parameters.
#[derive(Debug, Clone)]
enum Report {
    Viral(ViralParams),
    Cycle(CycleParams),
    Tree(TreeParams),
    Top(TopParams),
    Issues(EdgeParams),
    AcquiredVia(EdgeParams),
}

impl Report {
    /// What the state must track for this report.
    fn tracking(&self) -> Tracking {
        match self {
            Report::Viral(p) => Tracking {
                acquisition_events: p.acquisition_events.clone(),
                invites: Some((p.invite_event.clone(), p.window_micros())),
                revenue_event: None,
            },
            Report::Cycle(p) => Tracking { acquisition_events: p.acquisition_events.clone(), ..Tracking::default() },
            Report::Tree(p) => Tracking {
                acquisition_events: p.acquisition_events.clone(),
                revenue_event: Some(p.revenue_event.clone()),
                ..Tracking::default()
            },
            Report::Top(p) => Tracking {
                acquisition_events: p.acquisition_events.clone(),
                revenue_event: Some(p.revenue_event.clone()),
                ..Tracking::default()
            },
            Report::Issues(p) | Report::AcquiredVia(p) => {
                Tracking { acquisition_events: p.acquisition_events.clone(), ..Tracking::default() }
            }
        }
    }
}

/// Every plugin of this crate: the state is the same, the report differs.
struct ViralPlugin {
    name: &'static str,
    report: Report,
}

impl Plugin for ViralPlugin {
    fn name(&self) -> &'static str {
        self.name
    }

    fn requires(&self) -> ColumnNeeds {
        let mut optional = vec![Column::Channel];
        if matches!(self.report, Report::Tree(_) | Report::Top(_)) {
            optional.push(Column::Amount);
        }
        ColumnNeeds::new(&[Column::Event, Column::ReferrerId], &optional)
    }

    fn new_state(&self, _scan: &ScanContext) -> Box<dyn PartialState> {
        Box::new(State { viral: ViralState::default(), tracking: self.report.tracking(), report: self.report.clone() })
    }

    fn state_from_bytes(&self, bytes: &[u8], _scan: &ScanContext) -> Result<Box<dyn PartialState>> {
        Ok(Box::new(State {
            viral: decode_state(bytes)?,
            tracking: self.report.tracking(),
            report: self.report.clone(),
        }))
    }
}

struct State {
    viral: ViralState,
    tracking: Tracking,
    report: Report,
}

impl PartialState for State {
    fn update(&mut self, events: &Events) -> Result<()> {
        self.viral.update(events, &self.tracking);
        Ok(())
    }

    fn merge(&mut self, other: Box<dyn PartialState>, remap: &UserRemap) -> Result<()> {
        self.viral.merge(downcast_state::<State>(other)?.viral, remap, &self.tracking);
        Ok(())
    }

    fn to_bytes(&self) -> Result<Vec<u8>> {
        encode_state(&self.viral)
    }

    fn finish(self: Box<Self>, ctx: &FinishContext<'_>) -> Result<RecordBatch> {
        let edges = Edges::resolve(&self.viral, ctx.users);
        let forest = || Forest::build(&edges, |u| self.viral.revenue_of(u));
        match &self.report {
            Report::Viral(p) => kfactor::viral_table(&self.viral, &edges, p, ctx),
            Report::Cycle(p) => cycle::cycle_table(&edges, p, ctx),
            Report::Tree(_) => tree::tree_table(&edges, &forest(), ctx),
            Report::Top(p) => tree::top_table(&edges, &forest(), p, ctx),
            Report::Issues(_) => tree::issues_table(&edges, ctx),
            Report::AcquiredVia(_) => tree::acquired_via_table(&edges, ctx),
        }
    }
}

const ACQUISITION_EVENTS_DOC: ParamInfo = ParamInfo {
    name: "acquisition_events",
    doc: "events whose first occurrence acquires a user (default [\"signup\"]); null: the first event of any kind",
};
const REVENUE_EVENT_DOC: ParamInfo = ParamInfo {
    name: "revenue_event",
    doc: "event whose rows are purchases and refunds, summed into descendants' net revenue (default \"order\")",
};

/// `viral`: K-factor, invites and referral share per cohort.
pub const VIRAL: Registration = Registration {
    name: "viral",
    kind: PluginKind::Metric,
    crate_name: env!("CARGO_PKG_NAME"),
    description: "K-factor per cohort: referred users per eligible user within W days, invites per user, invite conversion, referral share of new users (裂变)",
    params: &[
        ParamInfo { name: "period", doc: "cohort period: \"day\", \"week\" or \"month\" (default)" },
        ParamInfo { name: "window_days", doc: "the window W in days, 0 to 3650 (default 30)" },
        ACQUISITION_EVENTS_DOC,
        ParamInfo { name: "invite_event", doc: "the invite event (default \"invite\"); invite columns are null when the data has none" },
    ],
    defaults: userops_core::default_params::<ViralParams>,
    build: |params| {
        let p: ViralParams = parse_params("viral", params)?;
        p.validate("viral")?;
        Ok(Box::new(ViralPlugin { name: "viral", report: Report::Viral(p) }))
    },
    law_params: &[
        r#"{"period": "day", "window_days": 3}"#,
        r#"{"period": "week", "window_days": 0, "acquisition_events": null}"#,
        r#"{"acquisition_events": ["signup", "activate"], "invite_event": "visit", "window_days": 60}"#,
    ],
};

/// `viral_cycle`: median and p90 viral cycle time.
pub const VIRAL_CYCLE: Registration = Registration {
    name: "viral_cycle",
    kind: PluginKind::Metric,
    crate_name: env!("CARGO_PKG_NAME"),
    description: "Viral cycle time: median and p90 hours from the referrer's acquisition to the referred user's, overall or per period",
    params: &[
        ParamInfo {
            name: "period",
            doc: "null (default: one overall row) or \"day\", \"week\", \"month\": by the referred user's acquisition period",
        },
        ACQUISITION_EVENTS_DOC,
    ],
    defaults: userops_core::default_params::<CycleParams>,
    build: |params| {
        let p: CycleParams = parse_params("viral_cycle", params)?;
        p.validate("viral_cycle")?;
        Ok(Box::new(ViralPlugin { name: "viral_cycle", report: Report::Cycle(p) }))
    },
    law_params: &[r#"{"period": "week"}"#, r#"{"period": "day", "acquisition_events": null}"#],
};

/// `referral_tree`: the referral forest, one row per acquired user.
pub const REFERRAL_TREE: Registration = Registration {
    name: "referral_tree",
    kind: PluginKind::Metric,
    crate_name: env!("CARGO_PKG_NAME"),
    description: "Referral forest per acquired user: valid referrer, generation, root, direct referrals, descendants, their net revenue, depth below",
    params: &[REVENUE_EVENT_DOC, ACQUISITION_EVENTS_DOC],
    defaults: userops_core::default_params::<TreeParams>,
    build: |params| {
        let p: TreeParams = parse_params("referral_tree", params)?;
        p.validate("referral_tree")?;
        Ok(Box::new(ViralPlugin { name: "referral_tree", report: Report::Tree(p) }))
    },
    law_params: &[r#"{"acquisition_events": null}"#],
};

/// `top_referrers`: the top n referrers.
pub const TOP_REFERRERS: Registration = Registration {
    name: "top_referrers",
    kind: PluginKind::Metric,
    crate_name: env!("CARGO_PKG_NAME"),
    description:
        "Top referrers by direct referrals, all descendants or descendants' net revenue, with the referral_tree columns",
    params: &[
        ParamInfo { name: "by", doc: "\"direct_referrals\", \"descendants\" (default) or \"descendant_revenue\"" },
        ParamInfo { name: "n", doc: "how many referrers, at least 1 (default 20)" },
        REVENUE_EVENT_DOC,
        ACQUISITION_EVENTS_DOC,
    ],
    defaults: userops_core::default_params::<TopParams>,
    build: |params| {
        let p: TopParams = parse_params("top_referrers", params)?;
        p.validate("top_referrers")?;
        Ok(Box::new(ViralPlugin { name: "top_referrers", report: Report::Top(p) }))
    },
    law_params: &[
        r#"{"by": "direct_referrals", "n": 3}"#,
        r#"{"by": "descendant_revenue", "n": 5, "acquisition_events": null}"#,
    ],
};

/// `referral_issues`: every referral edge left out, and why.
pub const REFERRAL_ISSUES: Registration = Registration {
    name: "referral_issues",
    kind: PluginKind::Metric,
    crate_name: env!("CARGO_PKG_NAME"),
    description: "Referral edges left out: self_referral, unknown_referrer (never acquired) or referrer_not_earlier",
    params: &[ACQUISITION_EVENTS_DOC],
    defaults: userops_core::default_params::<EdgeParams>,
    build: |params| {
        let p: EdgeParams = parse_params("referral_issues", params)?;
        p.validate("referral_issues")?;
        Ok(Box::new(ViralPlugin { name: "referral_issues", report: Report::Issues(p) }))
    },
    law_params: &[r#"{"acquisition_events": null}"#],
};

/// `acquired_via`: the organic / referred segmenter.
pub const ACQUIRED_VIA: Registration = Registration {
    name: "acquired_via",
    kind: PluginKind::Segmenter,
    crate_name: env!("CARGO_PKG_NAME"),
    description:
        "Segmenter: \"referred\" for acquired users who arrived through a valid referral edge, else \"organic\"",
    params: &[ACQUISITION_EVENTS_DOC],
    defaults: userops_core::default_params::<EdgeParams>,
    build: |params| {
        let p: EdgeParams = parse_params("acquired_via", params)?;
        p.validate("acquired_via")?;
        Ok(Box::new(ViralPlugin { name: "acquired_via", report: Report::AcquiredVia(p) }))
    },
    law_params: &[r#"{"acquisition_events": null}"#],
};

userops_core::inventory::submit! { VIRAL }
userops_core::inventory::submit! { VIRAL_CYCLE }
userops_core::inventory::submit! { REFERRAL_TREE }
userops_core::inventory::submit! { TOP_REFERRERS }
userops_core::inventory::submit! { REFERRAL_ISSUES }
userops_core::inventory::submit! { ACQUIRED_VIA }

/// This crate's registrations, for an explicit `register_all` where link-time
/// collection is unavailable.
pub fn registrations() -> Vec<&'static Registration> {
    vec![&VIRAL, &VIRAL_CYCLE, &REFERRAL_TREE, &TOP_REFERRERS, &REFERRAL_ISSUES, &ACQUIRED_VIA]
}
