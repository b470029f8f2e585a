//! # userops-aarrr
//!
//! Acquisition (拉新), activation (促活), retention (留存), revenue and repurchase
//! (付费 · 复购), LTV, funnels and active users (SPEC §2–§7), one module per metric.

use userops_core::Registration;

/// This crate's registrations, for an explicit `register_all` where link-time
/// collection is unavailable.
pub fn registrations() -> Vec<&'static Registration> {
    vec![]
}
