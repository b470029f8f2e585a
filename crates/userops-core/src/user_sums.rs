//! [`UserSums`]: exact per-user integer sums (micro-units, counts) in 4 bytes per user.
//!
//! ```text
//!  add(user, x) ─▶ small[user] + x fits an i32?  ─ yes ─▶ small[user]
//!                                                └ no ──▶ small[user] = SPILLED,
//!                                                         large[user] += old + x  (i128)
//! ```
//!
//! Almost every user's sum fits an `i32` (±2 147 currency units in micro-units, or a
//! count); the few that do not move, once, to a state-level map of exact `i128` sums.
//! A sum is the same number whichever way it is stored, so merge and the order of
//! additions cannot change any result.

use std::collections::BTreeMap;

use crate::per_user::PerUser;
use crate::users::UserRemap;
use serde::{Deserialize, Serialize};

/// Marks a user whose sum lives in the `large` map.
const SPILLED: i32 = i32::MIN;

/// One exact `i128` sum per user, 0 for a user never added to.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UserSums {
    /// Per user: the sum when it fits an `i32` (other than [`SPILLED`]), else [`SPILLED`].
    small: PerUser<i32>,
    /// The sums of spilled users, by dense user index.
    large: BTreeMap<u32, i128>,
}

impl UserSums {
    /// Grows to `user_count` users (call before [`UserSums::add`]).
    pub fn grow(&mut self, user_count: usize) {
        self.small.grow(user_count);
    }

    /// Adds `value` to user `user`'s sum (the state must have grown to include it).
    pub fn add(&mut self, user: u32, value: i128) {
        let slot = self.small.get_mut(user);
        if *slot != SPILLED {
            let fits = i32::try_from(value).ok().and_then(|v| slot.checked_add(v)).filter(|s| *s != SPILLED);
            if let Some(sum) = fits {
                *slot = sum;
                return;
            }
            self.large.insert(user, *slot as i128);
            *slot = SPILLED;
        }
        *self.large.entry(user).or_default() += value;
    }

    /// User `user`'s sum (0 when never added to or beyond the state).
    pub fn get(&self, user: u32) -> i128 {
        match self.small.get(user) {
            None => 0,
            Some(&SPILLED) => self.large[&user],
            Some(&small) => small as i128,
        }
    }

    /// Adds `other`'s sums in: user `i` of `other` is user `remap.to[i]` here.
    pub fn merge_from(&mut self, other: UserSums, remap: &UserRemap) {
        self.grow(remap.user_count);
        for (user, _) in other.small.iter() {
            let value = other.get(user);
            if value != 0 {
                self.add(remap.to[user as usize], value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_stay_exact_beyond_i32_and_i64() {
        let mut s = UserSums::default();
        s.grow(3);
        s.add(0, i32::MAX as i128);
        s.add(0, 1);
        s.add(1, -5);
        s.add(2, i64::MAX as i128);
        s.add(2, i64::MAX as i128);
        assert_eq!((s.get(0), s.get(1), s.get(2)), (i32::MAX as i128 + 1, -5, 2 * i64::MAX as i128));
        s.add(0, -(i32::MAX as i128));
        assert_eq!(s.get(0), 1);
        let mut t = UserSums::default();
        t.grow(2);
        t.add(1, i32::MIN as i128 + 1);
        t.merge_from(s, &UserRemap { to: vec![1, 0, 2], user_count: 3 });
        assert_eq!((t.get(0), t.get(1), t.get(2), t.get(9)), (-5, i32::MIN as i128 + 2, 2 * i64::MAX as i128, 0));
    }
}
