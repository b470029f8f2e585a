//! `viral`: K-factor, invites and referral share per cohort (SPEC §10).
//!
//! Per cohort (the period of the referrer's acquisition), over its eligible users
//! (acquired at least W days before D; the others are `in_progress`):
//! - `referred`: users they referred through a valid edge, acquired at most W days after them;
//! - `invites`: their invite events in `[acquisition, acquisition + W]`;
//! - `k_factor`: `invites_per_user × invite_conversion` when the data has invite events
//!   and the cohort has at least one invite, otherwise `referred / eligible`.
//!
//! Per period (the same buckets, by the new user's own acquisition): `new_users` and
//! `referral_share`, the share of them who arrived through a valid edge.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow_array::{Date32Array, Float64Array, Int64Array, RecordBatch};
use userops_core::output::{rate, table};
use userops_core::{FinishContext, Result};

use crate::forest::Edges;
use crate::params::ViralParams;
use crate::state::ViralState;

#[derive(Debug, Default, Clone, Copy)]
struct Cohort {
    size: u64,
    eligible: u64,
    referred: u64,
    invites: u64,
    new_referred: u64,
}

/// The `viral` table: `cohort, cohort_size, eligible, in_progress, referred, k_factor,
/// invites, invites_per_user, invite_conversion, new_users, referral_share`, one row per
/// cohort with at least one acquired user, by cohort.
pub fn viral_table(
    state: &ViralState,
    edges: &Edges<'_>,
    params: &ViralParams,
    ctx: &FinishContext<'_>,
) -> Result<RecordBatch> {
    let tz = &ctx.scan.tz;
    let window = params.window_micros();
    let end = ctx.end.unwrap_or(i64::MIN);
    let eligible = |at: i64| at.saturating_add(window) <= end;
    let period = |at: i64| params.period.index(at, tz);
    let mut cohorts: BTreeMap<i32, Cohort> = BTreeMap::new();
    for &u in &edges.acquired {
        let at = edges.at(u);
        let c = cohorts.entry(period(at)).or_default();
        c.size += 1;
        if eligible(at) {
            c.eligible += 1;
        }
    }
    for (u, t) in state.invites().iter() {
        if let Some(at) = edges.acquired_at(u) {
            if eligible(at) && at <= t && t <= at.saturating_add(window) {
                cohorts.get_mut(&period(at)).expect("the inviter's cohort").invites += 1;
            }
        }
    }
    for (p, c) in edges.valid() {
        let (pa, ca) = (edges.at(p), edges.at(c));
        if eligible(pa) && ca - pa <= window {
            cohorts.get_mut(&period(pa)).expect("the referrer's cohort").referred += 1;
        }
        cohorts.get_mut(&period(ca)).expect("the referred user's period").new_referred += 1;
    }
    let has_invites = state.invites().any();
    let rows: Vec<(i32, Cohort)> = cohorts.into_iter().collect();
    let col = |f: fn(&Cohort) -> u64| Arc::new(Int64Array::from_iter_values(rows.iter().map(|(_, c)| f(c) as i64)));
    let mut k_factor = Vec::with_capacity(rows.len());
    let mut invites = Vec::with_capacity(rows.len());
    let mut per_user = Vec::with_capacity(rows.len());
    let mut conversion = Vec::with_capacity(rows.len());
    let mut share = Vec::with_capacity(rows.len());
    for (_, c) in &rows {
        let (eligible, referred, sent) = (c.eligible as f64, c.referred as f64, c.invites as f64);
        if has_invites {
            let ipu = rate(sent, eligible);
            let conv = rate(referred, sent);
            invites.push(Some(c.invites as i64));
            per_user.push(ipu);
            conversion.push(conv);
            k_factor.push(match (ipu, conv) {
                (Some(i), Some(v)) => Some(i * v),
                _ => rate(referred, eligible),
            });
        } else {
            invites.push(None);
            per_user.push(None);
            conversion.push(None);
            k_factor.push(rate(referred, eligible));
        }
        share.push(rate(c.new_referred as f64, c.size as f64));
    }
    table(vec![
        ("cohort", Arc::new(Date32Array::from_iter_values(rows.iter().map(|(p, _)| params.period.start_day(*p))))),
        ("cohort_size", col(|c| c.size)),
        ("eligible", col(|c| c.eligible)),
        ("in_progress", col(|c| c.size - c.eligible)),
        ("referred", col(|c| c.referred)),
        ("k_factor", Arc::new(Float64Array::from(k_factor))),
        ("invites", Arc::new(Int64Array::from(invites))),
        ("invites_per_user", Arc::new(Float64Array::from(per_user))),
        ("invite_conversion", Arc::new(Float64Array::from(conversion))),
        ("new_users", col(|c| c.size)),
        ("referral_share", Arc::new(Float64Array::from(share))),
    ])
}
