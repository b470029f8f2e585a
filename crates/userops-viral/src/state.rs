//! The one state every plugin of this crate shares (SPEC §2 and §10): per user, the
//! first acquisition instant with every acquisition-row candidate tied at it; the
//! invite instants that can still fall in the user's invite window; net revenue.
//!
//! ```text
//!  row ─▶ acquisition event? ─▶ offer(ts, channel, referrer)   keep the minimum (ts, channel),
//!      │                                                       all referrers tied at it
//!      ├▶ invite event?      ─▶ push ts unless ts > acq + W    (acq only decreases: safe to drop)
//!      └▶ revenue event?     ─▶ net += amount                  (exact micro-units)
//! ```
//!
//! ## Correctness
//! - Acquisition candidates are ordered by `(ts, channel)` with a null channel last;
//!   channels compare as strings, so the order is the same on every worker. The
//!   referrers of every row tied at the minimum are kept as a set of dense indices: the
//!   smallest referrer *by key* is chosen in `finish` with `UserDict::compare`, because
//!   dense indices differ between workers. Merge remaps them (`remap.to`).
//! - Channel names are kept in a state-level dictionary; per-user codes point into it and
//!   are translated on merge, so codes never leave their state.
//! - An invite at `t` counts for a user acquired at `a` when `a <= t <= a + W`. A partial
//!   acquisition `a'` bounds the final one from above (`a <= a'`), so an invite after
//!   `a' + W` can never count and is dropped; every other invite is kept.
//! - Every summary is a set, a minimum with a string tie-break, a multiset of instants or
//!   an exact integer sum: merge is associative and commutative, a fresh state its identity.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};
use userops_core::{Events, PerUser, UserRemap, NULL_CODE};

/// What a state tracks besides acquisitions (each plugin tracks only what it reports).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Tracking {
    /// The acquisition event names; `None` means "first event of any kind".
    pub acquisition_events: Option<Vec<String>>,
    /// The invite event and the invite window W in microseconds, when invites are reported.
    pub invites: Option<(String, i64)>,
    /// The revenue event, when descendants' revenue is reported.
    pub revenue_event: Option<String>,
}

/// One user's acquisition: the first acquisition instant and the candidates tied at it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acquisition {
    /// The earliest acquisition instant (µs UTC), `None` while the user has none.
    pub ts: Option<i64>,
    /// The smallest non-null channel among the rows at `ts` (a code into the state's
    /// channel dictionary), [`NULL_CODE`] when they all have a null channel.
    pub channel: u32,
    /// One non-null referrer of the rows at `(ts, channel)` (a dense index), [`NO_USER`]
    /// when they have none.
    referrer: u32,
    /// The other distinct referrers tied with it, in no particular order (almost always
    /// empty: kept apart so the common case allocates nothing).
    more_referrers: Vec<u32>,
}

/// No user: a missing referrer.
pub const NO_USER: u32 = u32::MAX;

impl Default for Acquisition {
    fn default() -> Self {
        Acquisition { ts: None, channel: NULL_CODE, referrer: NO_USER, more_referrers: Vec::new() }
    }
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

impl Acquisition {
    /// Offers an acquisition row (or a merged candidate set): keeps the minimum
    /// `(ts, channel)` and the union of the referrers tied at it.
    fn offer(&mut self, channels: &[String], ts: i64, channel: u32, referrers: impl IntoIterator<Item = u32>) {
        let replace = match self.ts {
            None => true,
            Some(mine) => match ts.cmp(&mine).then_with(|| channel_order(channels, channel, self.channel)) {
                Ordering::Less => true,
                Ordering::Equal => false,
                Ordering::Greater => return,
            },
        };
        if replace {
            self.ts = Some(ts);
            self.channel = channel;
            self.referrer = NO_USER;
            self.more_referrers.clear();
        }
        for r in referrers {
            if self.referrer == NO_USER {
                self.referrer = r;
            } else if self.referrer != r && !self.more_referrers.contains(&r) {
                self.more_referrers.push(r);
            }
        }
    }

    /// The distinct non-null referrers tied at the acquisition, as dense indices in no
    /// particular order.
    pub fn referrers(&self) -> impl Iterator<Item = u32> + '_ {
        (self.referrer != NO_USER).then_some(self.referrer).into_iter().chain(self.more_referrers.iter().copied())
    }
}

/// The shared partial state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ViralState {
    /// Channel names seen on acquisition rows; per-user codes point here.
    channels: Vec<String>,
    /// Per user: the acquisition candidates.
    acquisitions: PerUser<Acquisition>,
    /// Per user: invite instants that may fall in the invite window (only when tracked).
    invites: PerUser<Vec<i64>>,
    /// Invite rows seen at all (only when tracked): invite columns are null when 0.
    invite_rows: u64,
    /// Per user: net revenue in micro-units (only when tracked).
    revenue: PerUser<i128>,
}

fn intern(channels: &mut Vec<String>, name: &str) -> u32 {
    match channels.iter().position(|c| c == name) {
        Some(i) => i as u32,
        None => {
            channels.push(name.to_string());
            (channels.len() - 1) as u32
        }
    }
}

const UNMAPPED: u32 = NULL_CODE - 1;

impl ViralState {
    /// Folds one normalized batch.
    pub fn update(&mut self, events: &Events, tracking: &Tracking) {
        self.acquisitions.grow(events.user_count);
        let membership: Option<Vec<bool>> = tracking
            .acquisition_events
            .as_ref()
            .map(|names| events.event.as_ref().map(|e| e.membership(names)).unwrap_or_default());
        let is_acquisition = |row: usize| match &membership {
            None => true,
            Some(table) => events.event.as_ref().is_some_and(|e| e.is_member(table, row)),
        };
        let invite = tracking.invites.as_ref().map(|(name, window)| (events.event_code(name), *window));
        if invite.is_some() {
            self.invites.grow(events.user_count);
        }
        let revenue_code = tracking.revenue_event.as_ref().map(|name| events.event_code(name));
        if revenue_code.is_some() {
            self.revenue.grow(events.user_count);
        }
        // Batch channel codes to state codes, filled on first use.
        let mut channel_map: Vec<u32> = vec![UNMAPPED; events.channel.as_ref().map_or(0, |c| c.names.len())];
        for row in 0..events.len() {
            let user = events.user[row];
            let ts = events.ts[row];
            if is_acquisition(row) {
                let channel = match &events.channel {
                    Some(c) if c.codes[row] != NULL_CODE => {
                        let code = c.codes[row] as usize;
                        if channel_map[code] == UNMAPPED {
                            channel_map[code] = intern(&mut self.channels, &c.names[code]);
                        }
                        channel_map[code]
                    }
                    _ => NULL_CODE,
                };
                let referrer = events.referrer.as_ref().and_then(|r| r[row]);
                self.acquisitions.get_mut(user).offer(&self.channels, ts, channel, referrer);
            }
            if let Some((Some(code), window)) = invite {
                if events.event_at(row) == code {
                    self.invite_rows += 1;
                    let reach =
                        self.acquisitions.get(user).and_then(|a| a.ts).is_none_or(|a| ts <= a.saturating_add(window));
                    if reach {
                        self.invites.get_mut(user).push(ts);
                    }
                }
            }
            if let Some(code) = revenue_code {
                if let Some(r) = events.revenue_row(row, code) {
                    *self.revenue.get_mut(user) += r.net_micros() as i128;
                }
            }
        }
    }

    /// Folds `other` in: user `i` of `other` is user `remap.to[i]` here, and so is every
    /// referrer index it holds.
    pub fn merge(&mut self, other: ViralState, remap: &UserRemap, tracking: &Tracking) {
        let ViralState { channels, acquisitions, invites, invite_rows, revenue } = other;
        let channel_to: Vec<u32> = channels.iter().map(|c| intern(&mut self.channels, c)).collect();
        let mine = &self.channels;
        self.acquisitions.merge_from(acquisitions, remap, |a, b| {
            if let Some(ts) = b.ts {
                let channel = if b.channel == NULL_CODE { NULL_CODE } else { channel_to[b.channel as usize] };
                a.offer(mine, ts, channel, b.referrers().map(|r| remap.to[r as usize]));
            }
        });
        if let Some((_, window)) = &tracking.invites {
            self.invites.merge_from(invites, remap, |a, b| a.extend(b));
            self.invite_rows += invite_rows;
            for user in 0..self.invites.len() as u32 {
                if let Some(Some(a)) = self.acquisitions.get(user).map(|a| a.ts) {
                    let limit = a.saturating_add(*window);
                    self.invites.get_mut(user).retain(|t| *t <= limit);
                }
            }
        }
        if tracking.revenue_event.is_some() {
            self.revenue.merge_from(revenue, remap, |a, b| *a += b);
        }
    }

    /// The channel dictionary.
    pub fn channels(&self) -> &[String] {
        &self.channels
    }

    /// The acquisition of user `user`, if the state has room for it.
    pub fn acquisition(&self, user: u32) -> Option<&Acquisition> {
        self.acquisitions.get(user)
    }

    /// The number of users the acquisition vector covers.
    pub fn user_count(&self) -> usize {
        self.acquisitions.len()
    }

    /// Whether any invite row was seen.
    pub fn has_invites(&self) -> bool {
        self.invite_rows > 0
    }

    /// User `user`'s invite instants that may fall in their window (unsorted).
    pub fn invites_of(&self, user: u32) -> &[i64] {
        self.invites.get(user).map_or(&[], |v| v.as_slice())
    }

    /// User `user`'s net revenue in micro-units (0 when untracked or unseen).
    pub fn revenue_of(&self, user: u32) -> i128 {
        self.revenue.get(user).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_smallest_channel_wins_ties_and_nulls_come_last() {
        let channels = vec!["social".to_string(), "ads".to_string()];
        let mut a = Acquisition::default();
        a.offer(&channels, 10, NULL_CODE, Some(7));
        assert_eq!((a.ts, a.channel, a.referrers().collect::<Vec<_>>()), (Some(10), NULL_CODE, vec![7]));
        a.offer(&channels, 10, 0, Some(3));
        assert_eq!((a.channel, a.referrers().collect::<Vec<_>>()), (0, vec![3]));
        a.offer(&channels, 10, 1, None);
        assert_eq!((a.channel, a.referrers().collect::<Vec<_>>()), (1, vec![]));
        a.offer(&channels, 10, 1, Some(9));
        a.offer(&channels, 10, 1, Some(9));
        a.offer(&channels, 10, 0, Some(4));
        assert_eq!((a.channel, a.referrers().collect::<Vec<_>>()), (1, vec![9]));
        a.offer(&channels, 9, NULL_CODE, None);
        assert_eq!((a.ts, a.channel, a.referrers().collect::<Vec<_>>()), (Some(9), NULL_CODE, vec![]));
        a.offer(&channels, 11, 1, Some(1));
        assert_eq!(a.ts, Some(9));
    }
}
