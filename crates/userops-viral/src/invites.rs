//! Invite rows that may still count (SPEC §10 "invites"): a flat multiset of
//! `(user, instant)` pairs, 12 bytes per kept invite and nothing per user without one.
//!
//! An invite at `t` counts for a user acquired at `a` when `a <= t <= a + W`. A partial
//! acquisition `a'` bounds the final one from above (`a <= a'`), so an invite after
//! `a' + W` can never count and is dropped; every other invite is kept, duplicates
//! included (each row counts).

use serde::{Deserialize, Serialize};
use userops_core::UserRemap;

/// The kept invite rows, in no particular order, and how many rows were seen at all.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Invites {
    /// The inviter of each kept row (a dense index).
    users: Vec<u32>,
    /// The instant of each kept row (µs UTC), beside its inviter.
    instants: Vec<i64>,
    /// Invite rows seen at all: invite columns are null when there were none.
    rows: u64,
}

impl Invites {
    /// Records an invite row of `user` at `ts`; `limit` is the latest instant that can
    /// still count for them (`None` while they are not acquired).
    pub fn record(&mut self, user: u32, ts: i64, limit: Option<i64>) {
        self.rows += 1;
        if limit.is_none_or(|l| ts <= l) {
            self.users.push(user);
            self.instants.push(ts);
        }
    }

    /// Folds `other` in (user `i` of `other` is user `remap.to[i]` here), then drops
    /// every row past its user's `limit`.
    pub fn merge(&mut self, other: Invites, remap: &UserRemap, limit: impl Fn(u32) -> Option<i64>) {
        self.rows += other.rows;
        self.users.extend(other.users.iter().map(|&u| remap.to[u as usize]));
        self.instants.extend(other.instants);
        let mut kept = 0;
        for i in 0..self.users.len() {
            let (user, ts) = (self.users[i], self.instants[i]);
            if limit(user).is_none_or(|l| ts <= l) {
                self.users[kept] = user;
                self.instants[kept] = ts;
                kept += 1;
            }
        }
        self.users.truncate(kept);
        self.instants.truncate(kept);
    }

    /// Whether any invite row was seen.
    pub fn any(&self) -> bool {
        self.rows > 0
    }

    /// Every kept row as `(user, instant)`.
    pub fn iter(&self) -> impl Iterator<Item = (u32, i64)> + '_ {
        self.users.iter().copied().zip(self.instants.iter().copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_past_the_limit_are_dropped_and_duplicates_kept() {
        let mut a = Invites::default();
        a.record(0, 5, Some(4));
        a.record(0, 3, Some(4));
        a.record(0, 3, Some(4));
        let mut b = Invites::default();
        b.record(0, 9, None);
        b.record(1, 9, None);
        a.merge(b, &UserRemap { to: vec![1, 0], user_count: 2 }, |u| (u == 0).then_some(4));
        assert_eq!(a.iter().collect::<Vec<_>>(), vec![(0, 3), (0, 3), (1, 9)]);
        assert!(a.any() && !Invites::default().any());
    }
}
