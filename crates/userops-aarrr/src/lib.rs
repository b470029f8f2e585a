//! # userops-aarrr
//!
//! Acquisition (拉新), activation (促活), retention (留存), revenue and repurchase
//! (付费 · 复购), LTV, funnels and active users (SPEC §2–§7), one module per metric.

pub mod acquired;
pub mod acquisition;
pub mod activation;
pub mod activity;
pub mod buckets;
pub mod cohort;
pub mod funnel;
pub mod ltv;
pub mod paying_conversion;
pub mod repurchase;
pub mod retention;
pub mod revenue;
pub mod spend;
pub mod windowed;

use userops_core::Registration;

/// This crate's registrations, for an explicit `register_all` where link-time
/// collection is unavailable.
pub fn registrations() -> Vec<&'static Registration> {
    vec![
        &acquisition::ACQUISITION,
        &paying_conversion::PAYING_CONVERSION,
        &activation::ACTIVATION,
        &retention::RETENTION,
        &ltv::LTV,
        &revenue::REVENUE,
        &repurchase::REPURCHASE,
        &repurchase::NEXT_MONTH_REPURCHASE,
        &activity::ACTIVE_USERS,
        &activity::STICKINESS,
        &funnel::FUNNEL,
    ]
}
