//! # userops-core
//!
//! The engine and the plugin contract of userops (no metric lives here). Callers
//! build an [`Analysis`] of registered plugins, scan Arrow batches into a mergeable
//! [`Partial`], and finish it into one Arrow table per plugin. Plugin authors implement
//! [`Plugin`] and [`PartialState`] and submit a [`Registration`]; see `plugin.rs` for
//! the obligations, which the generic law suite ([`laws`], feature `laws`) checks.

pub mod acquisitions;
pub mod bind;
pub mod columns;
pub mod datasets;
pub mod engine;
pub mod error;
pub mod events;
pub mod labels;
#[cfg(feature = "laws")]
pub mod laws;
pub mod money;
pub mod output;
pub mod per_user;
pub mod plugin;
pub mod registry;
pub mod stats;
pub mod time;
pub mod user_sets;
pub mod user_sums;
pub mod users;

pub use acquisitions::FirstAcquisitions;
pub use columns::{Column, ColumnNames, ColumnNeeds, ColumnSet};
pub use engine::{Analysis, Breakdown, Partial, PluginSpec, Progress, RunOptions};
pub use error::{Result, UserOpsError};
pub use events::{CodedStrings, Events, RevenueRow, NULL_CODE};
pub use labels::UserLabels;
pub use per_user::{quantile_cont, PerUser};
pub use plugin::{
    decode_state, downcast_state, encode_state, FinishContext, ParamInfo, PartialState, Plugin, PluginKind, ScanContext,
};
pub use registry::{default_params, parse_params, Registration, Registry};
pub use stats::ScanStats;
pub use time::{Period, TimeZone};
pub use user_sets::UserSets;
pub use user_sums::UserSums;
pub use users::{KeyKind, KeyRef, UserDict, UserRemap};

/// Re-exported so plugin crates submit registrations without depending on it directly.
pub use inventory;
