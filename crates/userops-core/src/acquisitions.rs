//! [`FirstAcquisitions`]: each user's acquisition candidate (SPEC §2), the state every
//! cohort and referral metric builds on: the earliest acquisition instant, the
//! smallest channel of the rows at it, and every referrer of the rows tied at
//! `(instant, channel)`.
//!
//! ```text
//!  first: PerUser<First>         9 B per user: instant, channel byte (or "none yet")
//!  referrer: PerUser<u32>        4 B per user, only when referrers are tracked
//!  wide_channels, more_referrers the rare extras (channel codes past 252, second and
//!                                later tied referrers), keyed by user
//!  channels: [name]              the state-local channel dictionary, translated on merge
//! ```
//!
//! ## Correctness
//! A user's record is the minimum of its rows under `(instant, channel with nulls
//! last)`, channels compared by name so the order is the same on every worker, plus
//! the set of referrers tied at that minimum: a semilattice, so `offer` and `merge_from`
//! are associative, commutative and idempotent and a fresh state is the identity.
//! Referrers are dense indices, remapped on merge; the smallest *by key* is chosen by
//! the caller with `UserDict::compare`, because dense indices differ between workers.
//! "No acquisition yet" is a channel byte, so every instant, `i64::MAX` included, is a
//! valid acquisition instant.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::events::{Events, NULL_CODE};
use crate::per_user::PerUser;
use crate::users::UserRemap;

/// Channel names by state-local code; codes mean nothing outside the state.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Names {
    names: Vec<String>,
    #[serde(skip)]
    index: HashMap<String, u32>,
}

impl Names {
    fn code(&mut self, name: &str) -> u32 {
        if self.index.len() != self.names.len() {
            self.index = self.names.iter().enumerate().map(|(i, n)| (n.clone(), i as u32)).collect();
        }
        if let Some(&code) = self.index.get(name) {
            return code;
        }
        self.names.push(name.to_string());
        self.index.insert(name.to_string(), (self.names.len() - 1) as u32);
        (self.names.len() - 1) as u32
    }

    /// Whether channel code `a` beats `b` at a tied instant: non-null beats null, then
    /// the smaller name wins.
    fn better(&self, a: u32, b: u32) -> bool {
        a != NULL_CODE && (b == NULL_CODE || self.names[a as usize] < self.names[b as usize])
    }
}

/// One user's candidate, packed into 9 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[repr(C, packed)]
struct First {
    /// The earliest acquisition instant; `i64::MAX` while there is none.
    ts: i64,
    /// [`NOT_ACQUIRED`]; 0 for a null channel; `1 + code` for codes below
    /// [`WIDE`] − 2; [`WIDE`] when the code is in `FirstAcquisitions::wide_channels`.
    channel: u8,
}

/// The channel byte of a user with no acquisition row yet.
const NOT_ACQUIRED: u8 = u8::MAX - 1;
/// The channel byte of a user whose channel code does not fit in it.
const WIDE: u8 = u8::MAX;
/// A batch channel code not translated to a state code yet.
const UNMAPPED: u32 = NULL_CODE - 1;

impl Default for First {
    fn default() -> Self {
        First { ts: i64::MAX, channel: NOT_ACQUIRED }
    }
}

/// Every user's acquisition candidate (see the module docs).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FirstAcquisitions {
    track_referrers: bool,
    first: PerUser<First>,
    channels: Names,
    /// Channel codes of the users whose channel byte is [`WIDE`].
    wide_channels: HashMap<u32, u32>,
    /// One distinct non-null referrer tied at the candidate, plus one (0 = none); only
    /// when referrers are tracked.
    referrer: PerUser<u32>,
    /// The other distinct tied referrers, for the few users with more than one.
    more_referrers: HashMap<u32, Vec<u32>>,
}

impl FirstAcquisitions {
    /// No acquisitions; referrers are kept when `track_referrers`.
    pub fn new(track_referrers: bool) -> Self {
        FirstAcquisitions { track_referrers, ..Self::default() }
    }

    /// Grows to `user_count` users (call before [`FirstAcquisitions::offer`]).
    pub fn grow(&mut self, user_count: usize) {
        self.first.grow(user_count);
        if self.track_referrers {
            self.referrer.grow(user_count);
        }
    }

    /// The number of users the state has room for.
    pub fn user_count(&self) -> usize {
        self.first.len()
    }

    /// The state-local code of channel `name`, added to the dictionary if new.
    pub fn channel_code(&mut self, name: &str) -> u32 {
        self.channels.code(name)
    }

    /// The channel names, indexed by state-local code.
    pub fn channel_names(&self) -> &[String] {
        &self.channels.names
    }

    /// User `user`'s acquisition instant, `None` while it has none.
    #[inline]
    pub fn ts(&self, user: u32) -> Option<i64> {
        self.first.get(user).filter(|f| f.channel != NOT_ACQUIRED).map(|f| f.ts)
    }

    /// User `user`'s acquisition instant, `i64::MAX` while it has none: it only
    /// decreases as rows and states are folded in.
    #[inline]
    pub fn ts_or_max(&self, user: u32) -> i64 {
        self.first.get(user).map_or(i64::MAX, |f| f.ts)
    }

    /// The channel code of user `user`'s acquisition ([`NULL_CODE`] for a null channel
    /// or no acquisition).
    pub fn channel(&self, user: u32) -> u32 {
        match self.first.get(user).map_or(0, |f| f.channel) {
            0 | NOT_ACQUIRED => NULL_CODE,
            WIDE => self.wide_channels[&user],
            byte => byte as u32 - 1,
        }
    }

    /// The distinct non-null referrers tied at user `user`'s acquisition, as dense
    /// indices in no particular order (none when referrers are not tracked).
    pub fn referrers(&self, user: u32) -> impl Iterator<Item = u32> + '_ {
        let first = self.referrer.get(user).and_then(|r| r.checked_sub(1));
        first.into_iter().chain(self.more_referrers.get(&user).into_iter().flatten().copied())
    }

    /// Every acquired user with its instant, by dense index.
    pub fn acquired(&self) -> impl Iterator<Item = (u32, i64)> + '_ {
        self.first.iter().filter(|(_, f)| f.channel != NOT_ACQUIRED).map(|(u, f)| (u, f.ts))
    }

    /// Offers an acquisition row (or a merged candidate) of user `user` with channel
    /// code `channel`: keeps the minimum `(ts, channel)` and the union of the referrers
    /// tied at it (ignored unless tracked).
    pub fn offer(&mut self, user: u32, ts: i64, channel: u32, referrers: impl IntoIterator<Item = u32>) {
        let current = *self.first.get_mut(user);
        let acquired = current.channel != NOT_ACQUIRED;
        let current_ts = current.ts;
        if acquired && ts > current_ts {
            return;
        }
        let current_channel = self.channel(user);
        if !acquired || ts < current_ts || self.channels.better(channel, current_channel) {
            let byte = match channel {
                NULL_CODE => 0,
                code if code < (NOT_ACQUIRED - 1) as u32 => code as u8 + 1,
                _ => WIDE,
            };
            if byte == WIDE {
                self.wide_channels.insert(user, channel);
            } else if current.channel == WIDE {
                self.wide_channels.remove(&user);
            }
            *self.first.get_mut(user) = First { ts, channel: byte };
            if self.track_referrers {
                *self.referrer.get_mut(user) = 0;
                self.more_referrers.remove(&user);
            }
        } else if channel != current_channel {
            return; // a tied instant, a worse channel
        }
        if self.track_referrers {
            for r in referrers {
                let slot = self.referrer.get_mut(user);
                if *slot == 0 {
                    *slot = r + 1;
                } else if *slot != r + 1 {
                    let more = self.more_referrers.entry(user).or_default();
                    if !more.contains(&r) {
                        more.push(r);
                    }
                }
            }
        }
    }

    /// Offers row `row` of `events` as an acquisition row: its channel, its referrer.
    /// `channels` maps the batch's channel codes to this state's: start each batch with
    /// an empty vector, it is filled as codes are met.
    #[inline]
    pub fn offer_row(&mut self, events: &Events, row: usize, channels: &mut Vec<u32>) {
        let (user, ts) = (events.user[row], events.ts[row]);
        if ts > self.ts_or_max(user) {
            return;
        }
        let channel = match &events.channel {
            Some(c) if c.codes[row] != NULL_CODE => {
                let code = c.codes[row] as usize;
                if channels.is_empty() {
                    channels.resize(c.names.len(), UNMAPPED);
                }
                if channels[code] == UNMAPPED {
                    channels[code] = self.channels.code(&c.names[code]);
                }
                channels[code]
            }
            _ => NULL_CODE,
        };
        let referrer = if self.track_referrers { events.referrer.as_ref().and_then(|r| r[row]) } else { None };
        self.offer(user, ts, channel, referrer);
    }

    /// Folds `other` in: user `i` of `other` is user `remap.to[i]` here, and so is every
    /// referrer index it holds; channel codes are translated through their names.
    pub fn merge_from(&mut self, other: FirstAcquisitions, remap: &UserRemap) {
        self.grow(remap.user_count);
        let codes: Vec<u32> = other.channels.names.iter().map(|n| self.channels.code(n)).collect();
        for (user, ts) in other.acquired() {
            let channel = match other.channel(user) {
                NULL_CODE => NULL_CODE,
                code => codes[code as usize],
            };
            self.offer(remap.to[user as usize], ts, channel, other.referrers(user).map(|r| remap.to[r as usize]));
        }
    }
}

impl FirstAcquisitions {
    /// Every acquired user's `(user, instant, channel name, sorted referrers)`.
    fn view(&self) -> Vec<(u32, i64, Option<&str>, Vec<u32>)> {
        self.acquired()
            .map(|(u, ts)| {
                let code = self.channel(u);
                let name = (code != NULL_CODE).then(|| self.channels.names[code as usize].as_str());
                let mut referrers: Vec<u32> = self.referrers(u).collect();
                referrers.sort_unstable();
                (u, ts, name, referrers)
            })
            .collect()
    }
}

impl PartialEq for FirstAcquisitions {
    /// Equal when every user has the same candidate (the channel dictionaries may list
    /// names in another order).
    fn eq(&self, other: &Self) -> bool {
        self.track_referrers == other.track_referrers && self.view() == other.view()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(a: &FirstAcquisitions, user: u32) -> (Option<i64>, u32, Vec<u32>) {
        let mut referrers: Vec<u32> = a.referrers(user).collect();
        referrers.sort_unstable();
        (a.ts(user), a.channel(user), referrers)
    }

    #[test]
    fn the_smallest_channel_wins_ties_and_nulls_come_last() {
        let mut a = FirstAcquisitions::new(true);
        a.grow(1);
        let (social, ads) = (a.channel_code("social"), a.channel_code("ads"));
        assert_eq!(seen(&a, 0), (None, NULL_CODE, vec![]));
        a.offer(0, 10, NULL_CODE, Some(7));
        assert_eq!(seen(&a, 0), (Some(10), NULL_CODE, vec![7]));
        a.offer(0, 10, social, Some(3));
        assert_eq!(seen(&a, 0), (Some(10), social, vec![3]));
        a.offer(0, 10, ads, None);
        assert_eq!(seen(&a, 0), (Some(10), ads, vec![]));
        for r in [9, 9, 2, 5, 2] {
            a.offer(0, 10, ads, Some(r));
        }
        a.offer(0, 10, social, Some(4));
        assert_eq!(seen(&a, 0), (Some(10), ads, vec![2, 5, 9]));
        assert_eq!(a.more_referrers[&0].len(), 2);
        a.offer(0, 9, NULL_CODE, None);
        assert_eq!(seen(&a, 0), (Some(9), NULL_CODE, vec![]));
        assert!(a.more_referrers.is_empty());
        a.offer(0, 11, ads, Some(1));
        assert_eq!(a.ts(0), Some(9));
        // The latest instant is a valid acquisition, not "none".
        a.grow(2);
        a.offer(1, i64::MAX, ads, None);
        assert_eq!(seen(&a, 1), (Some(i64::MAX), ads, vec![]));
    }

    #[test]
    fn merge_translates_channels_and_referrers() {
        let mut a = FirstAcquisitions::new(true);
        a.grow(2);
        let social = a.channel_code("social");
        a.offer(0, 5, social, [1]);
        let mut b = FirstAcquisitions::new(true);
        b.grow(3);
        let (ads, b_social) = (b.channel_code("ads"), b.channel_code("social"));
        b.offer(0, 5, ads, [1, 2]);
        b.offer(2, 5, b_social, [0, 1]);
        // b's users 0, 1, 2 are a's 1, 2, 0.
        a.merge_from(b, &UserRemap { to: vec![1, 2, 0], user_count: 3 });
        assert_eq!(seen(&a, 0), (Some(5), social, vec![1, 2]));
        let mut referrers: Vec<u32> = a.referrers(1).collect();
        referrers.sort_unstable();
        assert_eq!((a.ts(1), referrers, a.ts(2)), (Some(5), vec![0, 2], None));
    }

    #[test]
    fn channel_codes_past_a_byte_and_untracked_referrers() {
        let mut a = FirstAcquisitions::new(false);
        a.grow(2);
        let codes: Vec<u32> = (0..300).map(|i| a.channel_code(&format!("c{i:03}"))).collect();
        a.offer(0, 1, codes[299], [5]);
        assert_eq!(seen(&a, 0), (Some(1), codes[299], vec![]));
        a.offer(0, 1, codes[10], []);
        assert_eq!(a.channel(0), codes[10]);
        assert!(a.wide_channels.is_empty());
        a.offer(1, 1, codes[253], []);
        assert_eq!(a.wide_channels.len(), 1);
        a.offer(1, 1, codes[252], []);
        assert_eq!(a.channel(1), codes[252]);
        assert!(a.wide_channels.is_empty());
    }
}
