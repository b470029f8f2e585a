//! Per-user acquisitions (SPEC §2): the first acquisition instant, the smallest channel
//! of the rows at it and every referrer of the rows tied at `(instant, channel)`.
//!
//! ```text
//!  users: PerUser<Acquisition>   16 B per user: ts, channel code, one referrer
//!  more_referrers: user ─▶ [..]  the rare extra distinct referrers tied with it
//!  channels: [name]              the codes' dictionary, translated on merge
//! ```
//!
//! ## Correctness
//! - Candidates are ordered by `(ts, channel)` with a null channel last; channels
//!   compare as strings, so the order is the same on every worker. The referrers of
//!   every row tied at the minimum are kept as a set of dense indices: the smallest by
//!   key is chosen in `finish` with `UserDict::compare`, because dense indices differ
//!   between workers. Merge remaps them (`remap.to`).
//! - Codes never leave their state: merge translates them through the names.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use userops_core::{PerUser, UserRemap, NULL_CODE};

/// No user: a missing referrer.
pub const NO_USER: u32 = u32::MAX;

/// The channel code of a user without an acquisition (never a dictionary code).
const NOT_ACQUIRED: u32 = NULL_CODE - 1;

/// One user's acquisition candidate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct Acquisition {
    /// The earliest acquisition instant (µs UTC); meaningless while not acquired.
    ts: i64,
    /// The smallest channel among the rows at `ts` (a code into the channel
    /// dictionary), [`NULL_CODE`] when they all have a null channel, [`NOT_ACQUIRED`]
    /// while the user has no acquisition row.
    channel: u32,
    /// One non-null referrer of the rows at `(ts, channel)` (a dense index), [`NO_USER`]
    /// when they have none; the others are in [`Acquisitions::more_referrers`].
    referrer: u32,
}

impl Default for Acquisition {
    fn default() -> Self {
        Acquisition { ts: 0, channel: NOT_ACQUIRED, referrer: NO_USER }
    }
}

/// Every user's acquisition candidate.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Acquisitions {
    /// Channel names seen on acquisition rows; per-user codes point here.
    channels: Vec<String>,
    /// Per user: the candidate.
    users: PerUser<Acquisition>,
    /// Per user with more than one distinct referrer tied at the candidate: the others,
    /// in no particular order (almost always empty).
    more_referrers: BTreeMap<u32, Vec<u32>>,
}

/// Orders two channel codes of one dictionary by name, a null channel last.
fn channel_order(channels: &[String], a: u32, b: u32) -> Ordering {
    match (a == NULL_CODE, b == NULL_CODE) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        (false, false) if a == b => Ordering::Equal,
        (false, false) => channels[a as usize].cmp(&channels[b as usize]),
    }
}

impl Acquisitions {
    /// Grows to `user_count` users (call before [`Acquisitions::offer`]).
    pub fn grow(&mut self, user_count: usize) {
        self.users.grow(user_count);
    }

    /// The code of channel `name`, added to the dictionary if new.
    pub fn channel_code(&mut self, name: &str) -> u32 {
        match self.channels.iter().position(|c| c == name) {
            Some(i) => i as u32,
            None => {
                self.channels.push(name.to_string());
                (self.channels.len() - 1) as u32
            }
        }
    }

    /// Offers an acquisition row (or a merged candidate) of user `user`: keeps the
    /// minimum `(ts, channel)` and the union of the referrers tied at it.
    pub fn offer(&mut self, user: u32, ts: i64, channel: u32, referrers: impl IntoIterator<Item = u32>) {
        let a = self.users.get_mut(user);
        let replace = a.channel == NOT_ACQUIRED
            || match ts.cmp(&a.ts).then_with(|| channel_order(&self.channels, channel, a.channel)) {
                Ordering::Less => true,
                Ordering::Equal => false,
                Ordering::Greater => return,
            };
        if replace {
            *a = Acquisition { ts, channel, referrer: NO_USER };
            self.more_referrers.remove(&user);
        }
        for r in referrers {
            if a.referrer == NO_USER {
                a.referrer = r;
            } else if a.referrer != r {
                let more = self.more_referrers.entry(user).or_default();
                if !more.contains(&r) {
                    more.push(r);
                }
            }
        }
    }

    /// Folds `other` in: user `i` of `other` is user `remap.to[i]` here, and so is every
    /// referrer index it holds.
    pub fn merge(&mut self, other: Acquisitions, remap: &UserRemap) {
        let Acquisitions { channels, users, mut more_referrers } = other;
        let channel_to: Vec<u32> = channels.iter().map(|c| self.channel_code(c)).collect();
        self.grow(remap.user_count);
        for (user, b) in users.iter().filter(|(_, b)| b.channel != NOT_ACQUIRED) {
            let channel = if b.channel == NULL_CODE { NULL_CODE } else { channel_to[b.channel as usize] };
            let more = more_referrers.remove(&user).unwrap_or_default();
            let referrers = (b.referrer != NO_USER).then_some(b.referrer).into_iter().chain(more);
            self.offer(remap.to[user as usize], b.ts, channel, referrers.map(|r| remap.to[r as usize]));
        }
    }

    /// The number of users the state has room for.
    pub fn user_count(&self) -> usize {
        self.users.len()
    }

    /// User `user`'s acquisition instant, `None` while not acquired.
    pub fn at(&self, user: u32) -> Option<i64> {
        self.users.get(user).filter(|a| a.channel != NOT_ACQUIRED).map(|a| a.ts)
    }

    /// The distinct non-null referrers tied at user `user`'s acquisition, as dense
    /// indices in no particular order.
    pub fn referrers(&self, user: u32) -> impl Iterator<Item = u32> + '_ {
        let first = self.users.get(user).map_or(NO_USER, |a| a.referrer);
        let more = self.more_referrers.get(&user).into_iter().flatten().copied();
        (first != NO_USER).then_some(first).into_iter().chain(more)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(a: &Acquisitions) -> (Option<i64>, u32, Vec<u32>) {
        let mut referrers: Vec<u32> = a.referrers(0).collect();
        referrers.sort_unstable();
        (a.at(0), a.users.get(0).map_or(NOT_ACQUIRED, |x| x.channel), referrers)
    }

    #[test]
    fn the_smallest_channel_wins_ties_and_nulls_come_last() {
        let mut a = Acquisitions::default();
        a.grow(1);
        let (social, ads) = (a.channel_code("social"), a.channel_code("ads"));
        assert_eq!(seen(&a), (None, NOT_ACQUIRED, vec![]));
        a.offer(0, 10, NULL_CODE, Some(7));
        assert_eq!(seen(&a), (Some(10), NULL_CODE, vec![7]));
        a.offer(0, 10, social, Some(3));
        assert_eq!(seen(&a), (Some(10), social, vec![3]));
        a.offer(0, 10, ads, None);
        assert_eq!(seen(&a), (Some(10), ads, vec![]));
        a.offer(0, 10, ads, Some(9));
        a.offer(0, 10, ads, Some(9));
        a.offer(0, 10, ads, Some(2));
        a.offer(0, 10, ads, Some(5));
        a.offer(0, 10, ads, Some(2));
        a.offer(0, 10, social, Some(4));
        assert_eq!(seen(&a), (Some(10), ads, vec![2, 5, 9]));
        a.offer(0, 9, NULL_CODE, None);
        assert_eq!(seen(&a), (Some(9), NULL_CODE, vec![]));
        assert!(a.more_referrers.is_empty());
        a.offer(0, 11, ads, Some(1));
        assert_eq!(a.at(0), Some(9));
    }

    #[test]
    fn merge_translates_channels_and_referrers() {
        let mut a = Acquisitions::default();
        a.grow(2);
        let social = a.channel_code("social");
        a.offer(0, 5, social, [1]);
        let mut b = Acquisitions::default();
        b.grow(3);
        let (ads, b_social) = (b.channel_code("ads"), b.channel_code("social"));
        b.offer(0, 5, ads, [1, 2]);
        b.offer(2, 5, b_social, [0, 1]);
        // b's users 0, 1, 2 are a's 1, 2, 0.
        a.merge(b, &UserRemap { to: vec![1, 2, 0], user_count: 3 });
        assert_eq!(seen(&a), (Some(5), social, vec![1, 2]));
        let mut referrers: Vec<u32> = a.referrers(1).collect();
        referrers.sort_unstable();
        assert_eq!((a.at(1), referrers, a.at(2)), (Some(5), vec![0, 2], None));
    }
}
