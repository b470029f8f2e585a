//! The referral forest as tables (SPEC §10): `referral_tree` (every acquired user),
//! `top_referrers` (the top n referrers), `referral_issues` (every edge left out) and
//! the `acquired_via` segmenter (`organic` / `referred`).

use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use userops_core::money::micros_to_f64;
use userops_core::output::table;
use userops_core::{FinishContext, Result};

use crate::forest::{rank, Edges, Forest, NONE};
use crate::params::{RankBy, TopParams};

/// The forest columns of `users`, in that order: `user_id, referrer_id, generation,
/// root_id, direct_referrals, descendants, descendant_revenue, max_depth`.
fn forest_columns(users: &[u32], edges: &Edges<'_>, forest: &Forest, ctx: &FinishContext<'_>) -> Result<RecordBatch> {
    let keys = ctx.users;
    let int = |f: &dyn Fn(usize) -> i64| -> ArrayRef {
        Arc::new(Int64Array::from_iter_values(users.iter().map(|&u| f(u as usize))))
    };
    let parents: Vec<Option<u32>> =
        users.iter().map(|&u| Some(edges.parent[u as usize]).filter(|p| *p != NONE)).collect();
    let roots: Vec<u32> = users.iter().map(|&u| forest.root[u as usize]).collect();
    table(vec![
        ("user_id", keys.key_array(users)),
        ("referrer_id", keys.optional_key_array(&parents)),
        ("generation", int(&|u| forest.generation[u] as i64)),
        ("root_id", keys.key_array(&roots)),
        ("direct_referrals", int(&|u| forest.direct[u] as i64)),
        ("descendants", int(&|u| forest.descendants[u] as i64)),
        (
            "descendant_revenue",
            Arc::new(Float64Array::from_iter_values(
                users.iter().map(|&u| micros_to_f64(forest.descendant_revenue[u as usize])),
            )),
        ),
        ("max_depth", int(&|u| forest.max_depth[u] as i64)),
    ])
}

/// The `referral_tree` table: one row per acquired user, by user id.
pub fn tree_table(edges: &Edges<'_>, forest: &Forest, ctx: &FinishContext<'_>) -> Result<RecordBatch> {
    forest_columns(&edges.acquired, edges, forest, ctx)
}

/// The `top_referrers` table: the `n` users with at least one valid direct referral
/// ranked by `by` (descending, then user id), with the `referral_tree` columns.
pub fn top_table(
    edges: &Edges<'_>,
    forest: &Forest,
    params: &TopParams,
    ctx: &FinishContext<'_>,
) -> Result<RecordBatch> {
    let mut referrers: Vec<u32> = edges.acquired.iter().copied().filter(|&u| forest.direct[u as usize] > 0).collect();
    match params.by {
        RankBy::DirectReferrals => rank(&mut referrers, |u| forest.direct[u as usize], ctx.users),
        RankBy::Descendants => rank(&mut referrers, |u| forest.descendants[u as usize], ctx.users),
        RankBy::DescendantRevenue => rank(&mut referrers, |u| forest.descendant_revenue[u as usize], ctx.users),
    }
    referrers.truncate(usize::try_from(params.n).unwrap_or(usize::MAX));
    forest_columns(&referrers, edges, forest, ctx)
}

/// The `referral_issues` table: `user_id, referrer_id, issue` for every acquisition edge
/// left out, by user id.
pub fn issues_table(edges: &Edges<'_>, ctx: &FinishContext<'_>) -> Result<RecordBatch> {
    let users: Vec<u32> = edges.issues.iter().map(|i| i.0).collect();
    let referrers: Vec<u32> = edges.issues.iter().map(|i| i.1).collect();
    table(vec![
        ("user_id", ctx.users.key_array(&users)),
        ("referrer_id", ctx.users.key_array(&referrers)),
        ("issue", Arc::new(StringArray::from_iter_values(edges.issues.iter().map(|i| i.2.as_str())))),
    ])
}

/// The `acquired_via` segmenter: `user_id, segment` (`referred` when the user's own
/// acquisition edge is valid, else `organic`), one row per acquired user, by user id.
pub fn acquired_via_table(edges: &Edges<'_>, ctx: &FinishContext<'_>) -> Result<RecordBatch> {
    let labels = edges.acquired.iter().map(|&u| if edges.parent[u as usize] == NONE { "organic" } else { "referred" });
    table(vec![
        ("user_id", ctx.users.key_array(&edges.acquired)),
        ("segment", Arc::new(StringArray::from_iter_values(labels))),
    ])
}
