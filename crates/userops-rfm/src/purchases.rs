//! The one state all plugins of this crate share: per user, the number of purchases,
//! the last purchase instant and the net revenue (SPEC §1 "Purchases and refunds").
//!
//! Stored column by column, 16 bytes per user: the last purchase (`i64`) and two exact
//! [`UserSums`] (purchases and net micro-units, 4 bytes each unless a sum outgrows an
//! `i32`). [`UserPurchases`] is the per-user view that `finish` works on.

use serde::{Deserialize, Serialize};
use userops_core::{Events, PerUser, RevenueRow, UserRemap};

use userops_core::UserSums;

/// One user's purchases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserPurchases {
    /// Purchase rows (amount ≥ 0 or null); refunds are not purchases.
    pub purchases: u64,
    /// The latest purchase instant, microseconds UTC (`i64::MIN` when none).
    pub last_purchase: i64,
    /// Net revenue in micro-units: purchases minus refunds.
    pub net_micros: i128,
}

/// Per-user purchase summaries.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Purchases {
    /// Per user: the latest purchase instant (`i64::MIN` when none).
    last_purchase: PerUser<LastPurchase>,
    /// Per user: purchase rows.
    purchases: UserSums,
    /// Per user: net revenue in micro-units.
    net_micros: UserSums,
}

/// The latest purchase instant, `i64::MIN` before any.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct LastPurchase(i64);

impl Default for LastPurchase {
    fn default() -> Self {
        LastPurchase(i64::MIN)
    }
}

/// A paying user (≥ 1 purchase) and their summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Payer {
    /// The dense user index.
    pub user: u32,
    /// The summary.
    pub stats: UserPurchases,
}

impl Purchases {
    /// Folds the rows of `revenue_event` in one batch.
    pub fn update(&mut self, events: &Events, revenue_event: &str) {
        let code = events.event_code(revenue_event);
        if code.is_none() {
            return;
        }
        self.last_purchase.grow(events.user_count);
        self.purchases.grow(events.user_count);
        self.net_micros.grow(events.user_count);
        for row in 0..events.len() {
            if let Some(revenue) = events.revenue_row(row, code) {
                let user = events.user[row];
                self.net_micros.add(user, revenue.net_micros() as i128);
                if let RevenueRow::Purchase(_) = revenue {
                    self.purchases.add(user, 1);
                    let last = self.last_purchase.get_mut(user);
                    last.0 = last.0.max(events.ts[row]);
                }
            }
        }
    }

    /// Folds another state in, following the user remapping.
    pub fn merge(&mut self, other: Purchases, remap: &UserRemap) {
        self.last_purchase.merge_from(other.last_purchase, remap, |a, b| a.0 = a.0.max(b.0));
        self.purchases.merge_from(other.purchases, remap);
        self.net_micros.merge_from(other.net_micros, remap);
    }

    /// The users with at least one purchase, in dense-index order.
    pub fn payers(&self) -> Vec<Payer> {
        self.last_purchase
            .iter()
            .filter_map(|(user, last)| {
                let purchases = self.purchases.get(user);
                (purchases > 0).then(|| Payer {
                    user,
                    stats: UserPurchases {
                        purchases: purchases as u64,
                        last_purchase: last.0,
                        net_micros: self.net_micros.get(user),
                    },
                })
            })
            .collect()
    }
}
