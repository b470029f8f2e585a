//! # userops-rfm
//!
//! RFM value segmentation (用户价值分层, SPEC §9) and revenue concentration (SPEC §5):
//! four plugins over one per-user purchase state.
//!
//! | plugin | kind | result |
//! |---|---|---|
//! | `rfm` | segmenter | one row per paying user: recency, frequency, monetary, scores, segment |
//! | `rfm_segments` | metric | one row per segment: users, revenue, shares, means |
//! | `concentration` | metric | one row: top-p revenue share and Gini |
//! | `lorenz` | metric | Lorenz curve points |
//!
//! This crate is the example to follow for a new plugin crate: parameters as serde
//! structs with defaults, a state that keeps exact per-user summaries, a `finish` per
//! result, and a `const` [`Registration`] per plugin submitted with `inventory`.

pub mod concentration;
pub mod purchases;
pub mod rfm;
pub mod scoring;
pub mod segments;

use arrow_array::RecordBatch;
use userops_core::{
    decode_state, downcast_state, encode_state, parse_params, Column, ColumnNeeds, Events, FinishContext, ParamInfo,
    PartialState, Plugin, PluginKind, Registration, Result, ScanContext, UserRemap,
};

use concentration::{concentration_table, lorenz_table, ConcentrationParams, LorenzParams};
use purchases::Purchases;
use rfm::{rfm_table, segments_table, RfmParams};

/// Which result a purchase-state plugin finishes into, with its parameters.
#[derive(Debug, Clone)]
enum Report {
    Rfm(RfmParams),
    Segments(RfmParams),
    Concentration(ConcentrationParams),
    Lorenz(LorenzParams),
}

impl Report {
    fn revenue_event(&self) -> &str {
        match self {
            Report::Rfm(p) | Report::Segments(p) => &p.revenue_event,
            Report::Concentration(p) => &p.revenue_event,
            Report::Lorenz(p) => &p.revenue_event,
        }
    }
}

/// Every plugin of this crate: the state is the same, the report differs.
struct PurchasePlugin {
    name: &'static str,
    report: Report,
}

impl Plugin for PurchasePlugin {
    fn name(&self) -> &'static str {
        self.name
    }

    fn requires(&self) -> ColumnNeeds {
        ColumnNeeds::new(&[Column::Event, Column::Amount], &[])
    }

    fn events(&self) -> Option<Vec<String>> {
        Some(vec![self.report.revenue_event().to_string()])
    }

    fn new_state(&self, _scan: &ScanContext) -> Box<dyn PartialState> {
        Box::new(PurchaseState { purchases: Purchases::default(), report: self.report.clone() })
    }

    fn state_from_bytes(&self, bytes: &[u8], _scan: &ScanContext) -> Result<Box<dyn PartialState>> {
        Ok(Box::new(PurchaseState { purchases: decode_state(bytes)?, report: self.report.clone() }))
    }
}

struct PurchaseState {
    purchases: Purchases,
    report: Report,
}

impl PartialState for PurchaseState {
    fn update(&mut self, events: &Events) -> Result<()> {
        self.purchases.update(events, self.report.revenue_event());
        Ok(())
    }

    fn merge(&mut self, other: Box<dyn PartialState>, remap: &UserRemap) -> Result<()> {
        self.purchases.merge(downcast_state::<PurchaseState>(other)?.purchases, remap);
        Ok(())
    }

    fn to_bytes(&self) -> Result<Vec<u8>> {
        encode_state(&self.purchases)
    }

    fn finish(self: Box<Self>, ctx: &FinishContext<'_>) -> Result<RecordBatch> {
        let payers = self.purchases.payers();
        match &self.report {
            Report::Rfm(p) => rfm_table(payers, p, ctx),
            Report::Segments(p) => segments_table(payers, p, ctx),
            Report::Concentration(p) => concentration_table(&payers, p),
            Report::Lorenz(p) => lorenz_table(&payers, p),
        }
    }
}

const REVENUE_EVENT_DOC: ParamInfo = ParamInfo {
    name: "revenue_event",
    doc: "event whose rows are purchases (amount >= 0 or null) and refunds (amount < 0); default \"order\"",
};

const RFM_PARAMS: &[ParamInfo] = &[
    ParamInfo { name: "bins", doc: "score bins, 2 to 9 (default 5); segments need 5" },
    ParamInfo { name: "method", doc: "\"quantile\" (default: ties share a score), \"ntile\" (SQL NTILE, ties by user id) or \"fixed\"" },
    ParamInfo { name: "monetary", doc: "\"sum\" (default: net revenue) or \"mean\" (net revenue per purchase)" },
    ParamInfo {
        name: "thresholds",
        doc: "for method=\"fixed\": {\"recency\": [...], \"frequency\": [...], \"monetary\": [...]}, bins-1 ascending values each",
    },
    REVENUE_EVENT_DOC,
];

fn rfm_params(plugin: &str, params: serde_json::Value) -> Result<RfmParams> {
    let p: RfmParams = parse_params(plugin, params)?;
    p.validate(plugin)?;
    Ok(p)
}

/// `rfm`: per-user RFM values, scores and segment.
pub const RFM: Registration = Registration {
    name: "rfm",
    kind: PluginKind::Segmenter,
    crate_name: env!("CARGO_PKG_NAME"),
    description: "RFM per paying user: recency days, frequency, monetary, 1-5 scores and the segment (用户价值分层)",
    params: RFM_PARAMS,
    defaults: userops_core::default_params::<RfmParams>,
    build: |params| Ok(Box::new(PurchasePlugin { name: "rfm", report: Report::Rfm(rfm_params("rfm", params)?) })),
    law_params: &[
        r#"{"method": "ntile"}"#,
        r#"{"method": "fixed", "thresholds": {"recency": [30, 90, 180, 365], "frequency": [2, 3, 5, 8], "monetary": [10, 50, 100, 300]}}"#,
        r#"{"monetary": "mean", "bins": 3}"#,
    ],
};

/// `rfm_segments`: the per-segment summary of `rfm`.
pub const RFM_SEGMENTS: Registration = Registration {
    name: "rfm_segments",
    kind: PluginKind::Metric,
    crate_name: env!("CARGO_PKG_NAME"),
    description:
        "RFM segment summary: users, revenue and their shares, mean recency, frequency and monetary per segment",
    params: RFM_PARAMS,
    defaults: userops_core::default_params::<RfmParams>,
    build: |params| {
        Ok(Box::new(PurchasePlugin {
            name: "rfm_segments",
            report: Report::Segments(rfm_params("rfm_segments", params)?),
        }))
    },
    law_params: &[r#"{"bins": 4}"#, r#"{"monetary": "mean", "method": "ntile"}"#],
};

/// `concentration`: the top-p revenue share and Gini coefficient.
pub const CONCENTRATION: Registration = Registration {
    name: "concentration",
    kind: PluginKind::Metric,
    crate_name: env!("CARGO_PKG_NAME"),
    description: "Revenue concentration (80/20): share of net revenue from the top fraction of paying users, and the Gini coefficient",
    params: &[ParamInfo { name: "top", doc: "top fraction of paying users, in (0, 1] (default 0.2)" }, REVENUE_EVENT_DOC],
    defaults: userops_core::default_params::<ConcentrationParams>,
    build: |params| {
        let p: ConcentrationParams = parse_params("concentration", params)?;
        p.validate("concentration")?;
        Ok(Box::new(PurchasePlugin { name: "concentration", report: Report::Concentration(p) }))
    },
    law_params: &[r#"{"top": 0.5}"#],
};

/// `lorenz`: Lorenz curve points of net revenue over paying users.
pub const LORENZ: Registration = Registration {
    name: "lorenz",
    kind: PluginKind::Metric,
    crate_name: env!("CARGO_PKG_NAME"),
    description: "Lorenz curve of net revenue over paying users: revenue share held by the bottom user share",
    params: &[ParamInfo { name: "points", doc: "steps of the curve; points+1 rows (default 100)" }, REVENUE_EVENT_DOC],
    defaults: userops_core::default_params::<LorenzParams>,
    build: |params| {
        let p: LorenzParams = parse_params("lorenz", params)?;
        p.validate("lorenz")?;
        Ok(Box::new(PurchasePlugin { name: "lorenz", report: Report::Lorenz(p) }))
    },
    law_params: &[r#"{"points": 7}"#],
};

userops_core::inventory::submit! { RFM }
userops_core::inventory::submit! { RFM_SEGMENTS }
userops_core::inventory::submit! { CONCENTRATION }
userops_core::inventory::submit! { LORENZ }

/// This crate's registrations, for an explicit `register_all` where link-time
/// collection is unavailable.
pub fn registrations() -> Vec<&'static Registration> {
    vec![&RFM, &RFM_SEGMENTS, &CONCENTRATION, &LORENZ]
}
