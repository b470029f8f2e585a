//! Per-user acquisition (拉新, SPEC §2), the state every cohort metric of this crate
//! builds on.
//!
//! A user's acquisition is their first row whose event is in `acquisition_events`
//! (default `["signup"]`), or their first row of any kind when the list is `None`
//! ("first seen"). Its channel is the `channel` of that row; when several acquisition
//! rows share the first instant, the row taken is the one with the smallest non-null
//! channel, then the smallest non-null `referrer_id`, so the choice never depends on
//! row order.
//!
//! ```text
//!  update (rows) ──▶ per user: earliest instant, smallest non-null channel at it,
//!                    every distinct referrer tied at (instant, channel)
//!  merge (remap) ──▶ the same rule applied to two records; referrers remapped
//!  resolve (users) ─▶ Acquisitions { ts, channel label, smallest referrer by key }
//! ```
//!
//! ## Correctness
//! The record of a user is the minimum of its rows under the order (instant, channel
//! with nulls last) plus the set of referrers tied at that minimum: a semilattice, so
//! `update` and `merge` are associative, commutative and idempotent, and a fresh state
//! is the identity. Channels are stored by name in a state-local dictionary (codes are
//! remapped on merge); referrers are dense user indices, remapped on merge and compared
//! by user key only in [`Acquired::resolve`], because dense indices differ between
//! workers.

use serde::{Deserialize, Serialize};
use userops_core::{
    Column, Events, FirstAcquisitions, ParamInfo, Result, UserDict, UserOpsError, UserRemap, NULL_CODE,
};

/// The label of the null channel in results.
pub const NO_CHANNEL: &str = "(none)";

/// The default acquisition events: `["signup"]`.
pub fn default_acquisition_events() -> Option<Vec<String>> {
    Some(vec!["signup".to_string()])
}

/// The documentation of the `acquisition_events` parameter, shared by every plugin that has it.
pub const ACQUISITION_EVENTS_DOC: ParamInfo = ParamInfo {
    name: "acquisition_events",
    doc: "events that acquire a user: the first such row is the acquisition (default [\"signup\"]); null = the \
          user's first event of any kind (first seen)",
};

/// Checks an `acquisition_events` parameter: `None`, or a non-empty list of names.
pub fn check_acquisition_events(plugin: &str, events: &Option<Vec<String>>) -> Result<()> {
    match events {
        Some(list) if list.is_empty() => Err(UserOpsError::param(
            plugin,
            "acquisition_events",
            "must name at least one event, or be null for the first event of any kind",
        )),
        _ => Ok(()),
    }
}

/// What acquires a user, and whether referrers are tracked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcquisitionConfig {
    /// The acquisition events; `None` = any event (first seen).
    pub events: Option<Vec<String>>,
    /// Whether to keep the referrer of the acquisition row (needs the `referrer_id`
    /// column; the channel never depends on it).
    pub track_referrer: bool,
}

impl AcquisitionConfig {
    /// A configuration from an `acquisition_events` parameter, without referrers.
    pub fn new(events: Option<Vec<String>>) -> Self {
        AcquisitionConfig { events, track_referrer: false }
    }

    /// The columns the acquisition reads: `(required, optional)`, to merge into a plugin's needs.
    pub fn columns(&self) -> (Vec<Column>, Vec<Column>) {
        let mut required = Vec::new();
        if self.events.is_some() {
            required.push(Column::Event);
        }
        let mut optional = vec![Column::Channel];
        if self.track_referrer {
            optional.push(Column::ReferrerId);
        }
        (required, optional)
    }
}

/// The per-user acquisition state: the core's [`FirstAcquisitions`] (9 bytes per user,
/// plus 4 when referrers are tracked), read from the rows of the configured events.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Acquired {
    config: AcquisitionConfig,
    first: FirstAcquisitions,
}

impl Acquired {
    /// An empty state (the identity of merge).
    pub fn new(config: AcquisitionConfig) -> Self {
        let first = FirstAcquisitions::new(config.track_referrer);
        Acquired { config, first }
    }

    /// The configuration.
    pub fn config(&self) -> &AcquisitionConfig {
        &self.config
    }

    /// The earliest acquisition instant of `user` seen so far (`None` if none yet). It can
    /// only decrease as more rows and states are folded in.
    #[inline]
    pub fn ts(&self, user: u32) -> Option<i64> {
        self.first.ts(user)
    }

    /// The earliest acquisition instant of `user` seen so far, `i64::MAX` if none.
    #[inline]
    pub fn ts_or_max(&self, user: u32) -> i64 {
        self.first.ts_or_max(user)
    }

    /// Folds the acquisition rows of one batch.
    pub fn update(&mut self, events: &Events) {
        self.first.grow(events.user_count);
        let membership = match (&self.config.events, &events.event) {
            (None, _) => None,
            (Some(_), None) => return,
            (Some(names), Some(e)) => {
                let table = e.membership(names);
                if !table.iter().any(|m| *m) {
                    return;
                }
                Some((e, table))
            }
        };
        let mut channels = Vec::new();
        for row in 0..events.len() {
            if let Some((e, table)) = &membership {
                if !e.is_member(table, row) {
                    continue;
                }
            }
            self.first.offer_row(events, row, &mut channels);
        }
    }

    /// Folds `other` in; user `i` of `other` is user `remap.to[i]` here (referrers too).
    pub fn merge(&mut self, other: Acquired, remap: &UserRemap) -> Result<()> {
        if other.config != self.config {
            return Err(UserOpsError::IncompatibleStates("acquisition states of different configurations".into()));
        }
        self.first.merge_from(other.first, remap);
        Ok(())
    }

    /// Resolves every acquired user: channel labels sorted, referrer ties broken by key.
    pub fn resolve(&self, users: &UserDict) -> Acquisitions {
        let names = self.first.channel_names();
        let mut used = vec![false; names.len()];
        let mut none_used = false;
        for (user, _) in self.first.acquired() {
            match self.first.channel(user) {
                NULL_CODE => none_used = true,
                code => used[code as usize] = true,
            }
        }
        let mut labels: Vec<&str> = names.iter().zip(&used).filter(|(_, u)| **u).map(|(n, _)| n.as_str()).collect();
        if none_used {
            labels.push(NO_CHANNEL);
        }
        labels.sort_unstable();
        labels.dedup();
        let label_of = |code: u32| -> u32 {
            let name = if code == NULL_CODE { NO_CHANNEL } else { names[code as usize].as_str() };
            labels.binary_search(&name).expect("every used label is listed") as u32
        };
        let mut list = Vec::new();
        let mut of_user = vec![u32::MAX; self.first.user_count()];
        for (user, ts) in self.first.acquired() {
            let referrer = self.first.referrers(user).min_by(|a, b| users.compare(*a, *b));
            of_user[user as usize] = list.len() as u32;
            list.push(AcquiredUser { user, ts, channel: label_of(self.first.channel(user)), referrer });
        }
        Acquisitions { users: list, channels: labels.into_iter().map(str::to_string).collect(), of_user }
    }
}

/// One acquired user, resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AcquiredUser {
    /// The dense user index.
    pub user: u32,
    /// The acquisition instant, microseconds UTC.
    pub ts: i64,
    /// The channel, as an index into [`Acquisitions::channels`] (null is [`NO_CHANNEL`]).
    pub channel: u32,
    /// The referrer of the acquisition row (dense index), when referrers are tracked.
    pub referrer: Option<u32>,
}

/// Every acquired user of a finished state.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Acquisitions {
    /// The acquired users, in dense-index order (sort by key or by cohort before output).
    pub users: Vec<AcquiredUser>,
    /// The channel labels in use, sorted by name (`"(none)"` for a null channel).
    pub channels: Vec<String>,
    of_user: Vec<u32>,
}

impl Acquisitions {
    /// The acquisition of dense user `user`, if acquired.
    pub fn of(&self, user: u32) -> Option<&AcquiredUser> {
        match self.of_user.get(user as usize) {
            Some(&i) if i != u32::MAX => Some(&self.users[i as usize]),
            _ => None,
        }
    }

    /// The channel label of an acquired user.
    pub fn channel_label(&self, user: &AcquiredUser) -> &str {
        &self.channels[user.channel as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use userops_core::{CodedStrings, KeyKind, KeyRef};

    fn coded(values: &[Option<&str>]) -> CodedStrings {
        let mut names: Vec<String> = Vec::new();
        let codes = values
            .iter()
            .map(|v| match v {
                None => NULL_CODE,
                Some(s) => match names.iter().position(|n| n == s) {
                    Some(i) => i as u32,
                    None => {
                        names.push(s.to_string());
                        (names.len() - 1) as u32
                    }
                },
            })
            .collect();
        CodedStrings { codes, names }
    }

    /// (user, ts, event, channel, referrer)
    type Row<'a> = (u32, i64, &'a str, Option<&'a str>, Option<u32>);

    fn batch(rows: &[Row<'_>], user_count: usize) -> Events {
        Events {
            user: rows.iter().map(|r| r.0).collect(),
            ts: rows.iter().map(|r| r.1).collect(),
            event: Some(coded(&rows.iter().map(|r| Some(r.2)).collect::<Vec<_>>())),
            amount: None,
            channel: Some(coded(&rows.iter().map(|r| r.3).collect::<Vec<_>>())),
            referrer: Some(rows.iter().map(|r| r.4).collect()),
            user_count,
        }
    }

    fn dict(n: i64) -> UserDict {
        let mut d = UserDict::new();
        d.set_kind(KeyKind::Int).unwrap();
        for k in 0..n {
            d.intern(KeyRef::Int(100 - k)).unwrap(); // keys descend as indices ascend
        }
        d
    }

    fn tracked() -> AcquisitionConfig {
        AcquisitionConfig { events: default_acquisition_events(), track_referrer: true }
    }

    #[test]
    fn first_acquisition_wins_and_ties_take_the_smallest_channel_then_referrer() {
        let rows = [
            (0, 50, "signup", Some("social"), Some(3)),
            (0, 10, "visit", Some("aaa"), None),
            (0, 50, "signup", None, Some(1)),
            (0, 50, "signup", Some("ads"), Some(2)),
            (0, 50, "signup", Some("ads"), Some(4)),
            (0, 50, "signup", Some("ads"), None),
            (0, 60, "signup", Some("a"), None),
            (1, 70, "signup", None, Some(2)),
            (1, 70, "signup", None, Some(3)),
        ];
        let users = dict(5);
        let mut state = Acquired::new(tracked());
        state.update(&batch(&rows, 5));
        let acq = state.resolve(&users);
        assert_eq!(acq.channels, vec!["(none)", "ads"]);
        let u0 = acq.of(0).unwrap();
        assert_eq!((u0.ts, acq.channel_label(u0), u0.referrer), (50, "ads", Some(4))); // key 96 < key 98
        let u1 = acq.of(1).unwrap();
        assert_eq!((u1.ts, acq.channel_label(u1), u1.referrer), (70, "(none)", Some(3)));
        assert!(acq.of(2).is_none());

        // Every split and order of the rows, merged, gives the same resolution.
        for cut in 0..=rows.len() {
            let mut a = Acquired::new(tracked());
            a.update(&batch(&rows[cut..], 5));
            let mut b = Acquired::new(tracked());
            let mut reversed = rows[..cut].to_vec();
            reversed.reverse();
            b.update(&batch(&reversed, 5));
            b.merge(a, &UserRemap { to: (0..5).collect(), user_count: 5 }).unwrap();
            assert_eq!(b.resolve(&users), acq, "cut {cut}");
        }
    }

    #[test]
    fn merge_remaps_users_and_referrers() {
        let users = dict(3);
        let mut a = Acquired::new(tracked());
        a.update(&batch(&[(0, 5, "signup", Some("ads"), Some(1))], 3));
        // In `b`, user 0 is `a`'s user 2 and user 1 is `a`'s user 0.
        let mut b = Acquired::new(tracked());
        b.update(&batch(&[(1, 5, "signup", Some("ads"), Some(0)), (0, 9, "signup", None, None)], 2));
        a.merge(b, &UserRemap { to: vec![2, 0], user_count: 3 }).unwrap();
        let acq = a.resolve(&users);
        assert_eq!(acq.of(0).unwrap().referrer, Some(2)); // key 98 < key 99
        assert_eq!(acq.of(2).unwrap().ts, 9);
    }

    #[test]
    fn channels_past_a_byte_and_tied_referrers_live_in_side_tables() {
        // 300 channels: codes past 252 go to the core's side table; user 0 moves from a wide
        // code to a narrow one and back as better ties arrive, user 1 keeps a wide one.
        let names: Vec<String> = (0..300).map(|i| format!("c{i:03}")).collect();
        let mut rows: Vec<Row<'_>> = names.iter().map(|n| (2, 1, "signup", Some(n.as_str()), None)).collect();
        rows.extend([
            (0, 9, "signup", Some("c299"), Some(1)),
            (1, 9, "signup", Some("c298"), Some(2)),
            (0, 9, "signup", Some("c100"), Some(2)),
            (0, 9, "signup", Some("c100"), Some(3)),
            (0, 9, "signup", Some("c100"), Some(1)),
            (0, 8, "signup", Some("c297"), Some(4)),
        ]);
        let users = dict(5);
        let mut whole = Acquired::new(tracked());
        whole.update(&batch(&rows, 5));
        let acq = whole.resolve(&users);
        let of = |acq: &Acquisitions, u: u32| {
            let a = acq.of(u).unwrap();
            (a.ts, acq.channel_label(a).to_string(), a.referrer)
        };
        assert_eq!(of(&acq, 0), (8, "c297".to_string(), Some(4)));
        assert_eq!(of(&acq, 1), (9, "c298".to_string(), Some(2)));
        assert_eq!(of(&acq, 2), (1, "c000".to_string(), None));
        // Without the earliest row, user 0's tie at 9 keeps referrers 1, 2 and 3.
        let mut tie = Acquired::new(tracked());
        tie.update(&batch(&rows[..rows.len() - 1], 5));
        assert_eq!(tie.resolve(&users).of(0).unwrap().referrer, Some(3)); // key 97 < 98 < 99
                                                                          // Any split, merged in either order, gives the same resolution.
        for cut in [0, 150, 300, 302, rows.len()] {
            let (mut a, mut b) = (Acquired::new(tracked()), Acquired::new(tracked()));
            a.update(&batch(&rows[..cut], 5));
            b.update(&batch(&rows[cut..], 5));
            b.merge(a, &UserRemap { to: (0..5).collect(), user_count: 5 }).unwrap();
            assert_eq!(b.resolve(&users), acq, "cut {cut}");
        }
    }

    #[test]
    fn first_seen_takes_any_event_and_empty_lists_are_refused() {
        let mut state = Acquired::new(AcquisitionConfig::new(None));
        state.update(&batch(&[(0, 7, "visit", None, None), (0, 3, "order", Some("x"), None)], 1));
        let acq = state.resolve(&dict(1));
        assert_eq!((acq.of(0).unwrap().ts, acq.channel_label(acq.of(0).unwrap())), (3, "x"));
        assert!(check_acquisition_events("p", &Some(vec![])).is_err());
        assert!(check_acquisition_events("p", &None).is_ok());
    }
}
