//! The one state all plugins of this crate share: per user, the number of purchases,
//! the last purchase instant and the net revenue (SPEC §1 "Purchases and refunds").

use serde::{Deserialize, Serialize};
use userops_core::{Events, PerUser, UserRemap};

/// One user's purchases.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserPurchases {
    /// Purchase rows (amount ≥ 0 or null); refunds are not purchases.
    pub purchases: u64,
    /// The latest purchase instant, microseconds UTC (`i64::MIN` when none).
    pub last_purchase: i64,
    /// Net revenue in micro-units: purchases minus refunds.
    pub net_micros: i128,
}

impl Default for UserPurchases {
    fn default() -> Self {
        UserPurchases { purchases: 0, last_purchase: i64::MIN, net_micros: 0 }
    }
}

impl UserPurchases {
    fn absorb(&mut self, other: UserPurchases) {
        self.purchases += other.purchases;
        self.last_purchase = self.last_purchase.max(other.last_purchase);
        self.net_micros += other.net_micros;
    }
}

/// Per-user purchase summaries.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Purchases {
    users: PerUser<UserPurchases>,
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
        self.users.grow(events.user_count);
        for row in 0..events.len() {
            if let Some(revenue) = events.revenue_row(row, code) {
                let user = self.users.get_mut(events.user[row]);
                user.net_micros += revenue.net_micros() as i128;
                if let userops_core::RevenueRow::Purchase(_) = revenue {
                    user.purchases += 1;
                    user.last_purchase = user.last_purchase.max(events.ts[row]);
                }
            }
        }
    }

    /// Folds another state in, following the user remapping.
    pub fn merge(&mut self, other: Purchases, remap: &UserRemap) {
        self.users.merge_from(other.users, remap, |a, b| a.absorb(b));
    }

    /// The users with at least one purchase, in dense-index order.
    pub fn payers(&self) -> Vec<Payer> {
        self.users.iter().filter(|(_, s)| s.purchases > 0).map(|(user, stats)| Payer { user, stats: *stats }).collect()
    }
}
