//! The plugin contract: what a metric or segmenter provides to the engine.
//!
//! ```text
//!                 ┌──────────── one worker ────────────┐
//!  Arrow batches ─▶ Binding::normalize ─▶ Events ─▶ state.update()  (each plugin)
//!                 └────────────────────────────────────┘
//!        worker partials ──merge(remap)──▶ one partial ──finish(ctx)──▶ RecordBatch
//!                 (or to_bytes ▶ another process ▶ from_bytes ▶ merge)
//! ```
//!
//! ## Correctness
//! For every plugin, any split of the input into batches, in any order, on any number
//! of workers, merged in any grouping (with serialization in between), finishes to a
//! result equal to one sequential pass, to the last bit. Concretely a state must:
//! - treat a fresh state as the identity of `merge`;
//! - make `merge` associative and commutative up to the user remapping;
//! - keep only order-independent summaries (counts, exact integer sums, minima with a
//!   deterministic tie-break, sets), never floats accumulated in arrival order;
//! - finish into rows sorted by a key that does not depend on dense user indices
//!   (sort users with [`crate::UserDict::sort_by_key`]);
//! - finish an empty state into a valid empty result with the same schema.
//!
//! The generic law suite (`userops_core::laws`, feature `laws`) checks all of this for
//! every registered plugin.

use std::any::Any;

use arrow_array::RecordBatch;
use serde::{Deserialize, Serialize};

use crate::columns::ColumnNeeds;
use crate::error::{Result, UserOpsError};
use crate::events::Events;
use crate::labels::UserLabels;
use crate::stats::ScanStats;
use crate::time::TimeZone;
use crate::users::{UserDict, UserRemap};

/// Whether a plugin computes a table or labels users.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PluginKind {
    /// Computes a tidy table.
    Metric,
    /// Labels each user; its table has `user_id` and `segment` columns and can be the
    /// breakdown of a metric.
    Segmenter,
}

impl PluginKind {
    /// The kind's name, as listed by `userops.plugins()`.
    pub fn as_str(self) -> &'static str {
        match self {
            PluginKind::Metric => "metric",
            PluginKind::Segmenter => "segmenter",
        }
    }
}

/// One parameter of a plugin, for listings and docs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ParamInfo {
    /// The parameter's name (a key of the parameters object).
    pub name: &'static str,
    /// What it means and what values it takes.
    pub doc: &'static str,
}

/// The options of a scan that states may depend on while updating.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ScanContext {
    /// The zone in which days, weeks and months are bucketed.
    pub tz: TimeZone,
    /// Rows after this instant (microseconds UTC) are left out; it is also the end of data D.
    pub as_of: Option<i64>,
}

/// What a state's `finish` is given.
pub struct FinishContext<'a> {
    /// The users: keys of the dense indices the state used.
    pub users: &'a UserDict,
    /// The end of data D: `as_of` if given, else the latest valid timestamp; `None` for
    /// an empty input without `as_of`.
    pub end: Option<i64>,
    /// The scan's options.
    pub scan: &'a ScanContext,
    /// What the scan saw.
    pub stats: &'a ScanStats,
    /// Labels for a breakdown, when the caller asked for one and the plugin supports it.
    pub breakdown: Option<&'a UserLabels>,
}

/// A metric or segmenter, built from its parameters by its [`crate::Registration`].
pub trait Plugin: Send + Sync {
    /// The registered name.
    fn name(&self) -> &'static str;
    /// The columns the plugin reads.
    fn requires(&self) -> ColumnNeeds;
    /// A fresh, empty partial state (the identity of merge).
    fn new_state(&self, scan: &ScanContext) -> Box<dyn PartialState>;
    /// Reads a state written by [`PartialState::to_bytes`] of this plugin.
    fn state_from_bytes(&self, bytes: &[u8], scan: &ScanContext) -> Result<Box<dyn PartialState>>;
    /// The event names whose rows the plugin reads, or `None` (the default) for every
    /// row. When every plugin of a run names its events, rows of other events are not
    /// passed on at all (they still count for D and the scan counters): RFM reads only
    /// `order` rows, a tenth of a typical log. The law suite checks that a plugin run
    /// alone equals its result in a run with all plugins, so a wrong list is caught.
    fn events(&self) -> Option<Vec<String>> {
        None
    }
    /// Whether `finish` honours [`FinishContext::breakdown`]. Default: no.
    fn supports_breakdown(&self) -> bool {
        false
    }
}

/// The mergeable, serializable partial result of one plugin over part of the input.
pub trait PartialState: Send + Any {
    /// Folds one normalized batch into the state.
    fn update(&mut self, events: &Events) -> Result<()>;
    /// Folds `other` (a state of the same plugin and parameters) into `self`; user `i`
    /// of `other` is user `remap.to[i]` of `self`.
    fn merge(&mut self, other: Box<dyn PartialState>, remap: &UserRemap) -> Result<()>;
    /// Serializes the state (see [`encode_state`]).
    fn to_bytes(&self) -> Result<Vec<u8>>;
    /// Finishes the state into the plugin's result table.
    fn finish(self: Box<Self>, ctx: &FinishContext<'_>) -> Result<RecordBatch>;
}

/// Recovers the concrete state of `other` in [`PartialState::merge`].
pub fn downcast_state<T: PartialState>(other: Box<dyn PartialState>) -> Result<Box<T>> {
    let any: Box<dyn Any> = other;
    any.downcast::<T>().map_err(|_| {
        UserOpsError::IncompatibleStates(format!("expected a state of type {}", std::any::type_name::<T>()))
    })
}

/// Serializes a state struct with the format every plugin uses.
pub fn encode_state<T: Serialize>(state: &T) -> Result<Vec<u8>> {
    bincode::serialize(state).map_err(|e| UserOpsError::Decode(e.to_string()))
}

/// Reads a state struct written by [`encode_state`].
pub fn decode_state<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    bincode::deserialize(bytes).map_err(|e| UserOpsError::Decode(e.to_string()))
}
