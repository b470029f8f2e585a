//! Building blocks of the cohort metrics (acquisition, paying conversion, activation,
//! retention, LTV): the period of an instant, the earliest event at or after the
//! acquisition, breakdown groups, and the `complete` rule of SPEC §1.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use userops_core::time::LocalDays;
use userops_core::{
    Events, FinishContext, ParamInfo, PerUser, Period, Result, TimeZone, UserLabels, UserOpsError, UserRemap, UserSets,
};

use crate::acquired::{AcquiredUser, Acquisitions};

/// Maps instants to period indices in one zone, exactly as [`Period::index`]: local
/// days through the core's cached [`LocalDays`], and the last period's day range
/// remembered so consecutive instants of one period cost a comparison.
#[derive(Debug, Clone)]
pub struct PeriodOf {
    period: Period,
    tz: TimeZone,
    days: LocalDays,
    /// The local days `first..=last` of the last period looked up, and its index.
    first: i32,
    last: i32,
    index: i32,
}

impl PeriodOf {
    /// A lookup of `period` in zone `tz`.
    pub fn new(period: Period, tz: &TimeZone) -> Self {
        PeriodOf { period, tz: tz.clone(), days: LocalDays::new(tz), first: 0, last: -1, index: 0 }
    }

    /// The period.
    pub fn period(&self) -> Period {
        self.period
    }

    /// The zone.
    pub fn tz(&self) -> &TimeZone {
        &self.tz
    }

    /// The local day of the instant `ts`.
    #[inline]
    pub fn day(&mut self, ts: i64) -> i32 {
        self.days.day(ts)
    }

    /// The period index of the instant `ts`.
    #[inline]
    pub fn index(&mut self, ts: i64) -> i32 {
        let day = self.day(ts);
        if day < self.first || day > self.last {
            self.index = self.period.index_of_day(day);
            self.first = self.period.start_day(self.index);
            self.last = self.period.start_day(self.index + 1) - 1;
        }
        self.index
    }

    /// Whether the instant `earlier`, at or before the instant last given to
    /// [`PeriodOf::index`], is in that same period.
    #[inline]
    pub fn in_last_period(&mut self, earlier: i64) -> bool {
        self.day(earlier) >= self.first
    }

    /// Whether period `index` is fully observed: its last instant is at or before `end`.
    pub fn complete(&self, index: i32, end: i64) -> bool {
        self.period.is_complete(index, &self.tz, end)
    }

    /// Whether period `index` has begun by `end` (observed, at least in part).
    pub fn begun(&self, index: i32, end: i64) -> bool {
        self.period.start_instant(index, &self.tz) <= end
    }
}

/// An instant that is `i64::MAX` ("none yet") by default, for per-user columns of
/// earliest instants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Earliest(pub i64);

impl Default for Earliest {
    fn default() -> Self {
        Earliest(i64::MAX)
    }
}

/// Per user, the earliest instant of some event at or after the user's acquisition,
/// when the acquisition is not final yet. It keeps the earliest row at or after the
/// acquisition known so far (`after`, 8 bytes a user) and every row before it
/// (`before`, rare, as compact sets): the acquisition only moves earlier as rows and
/// states are folded in, so nothing else can ever matter.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FirstFrom {
    after: PerUser<Earliest>,
    before: UserSets,
}

impl FirstFrom {
    /// Grows to `user_count` users.
    pub fn grow(&mut self, user_count: usize) {
        self.after.grow(user_count);
    }

    /// Adds a row of `user` at `ts`, the user's acquisition known so far being
    /// `acquired` (`i64::MAX`: none; the vector must have grown to include `user`).
    #[inline]
    pub fn insert(&mut self, user: u32, ts: i64, acquired: i64) {
        if ts >= acquired {
            let after = self.after.get_mut(user);
            after.0 = after.0.min(ts);
        } else {
            self.before.insert(user, ts);
        }
    }

    /// Folds `other` in, its user `i` into user `remap.to[i]`; call [`FirstFrom::settle`]
    /// with the merged acquisitions afterwards.
    pub fn merge_from(&mut self, other: FirstFrom, remap: &UserRemap) {
        self.after.merge_from(other.after, remap, |a, b| a.0 = a.0.min(b.0));
        self.before.merge_from(other.before, remap);
    }

    /// Moves the rows at or after `acquired(user)` out of `before`.
    pub fn settle(&mut self, acquired: impl Fn(u32) -> i64) {
        let after = &mut self.after;
        self.before.retain(|user, values, kept| {
            let a = acquired(user);
            let split = values.partition_point(|t| *t < a);
            kept.extend_from_slice(&values[..split]);
            if let Some(&t) = values.get(split) {
                let first = after.get_mut(user);
                first.0 = first.0.min(t);
            }
        });
    }

    /// The earliest row of `user` at or after its acquisition, once settled with the
    /// final acquisitions.
    pub fn first_from(&self, user: u32) -> Option<i64> {
        self.after.get(user).map(|t| t.0).filter(|t| *t != i64::MAX)
    }
}

/// A per-batch lookup of which rows have an event among `names` (`None`: every row).
pub struct EventFilter<'a> {
    events: Option<(&'a userops_core::CodedStrings, Vec<bool>)>,
    all: bool,
}

impl<'a> EventFilter<'a> {
    /// The rows of `events` whose event is in `names` (every row when `names` is `None`).
    pub fn new(events: &'a Events, names: Option<&[String]>) -> Self {
        match (names, &events.event) {
            (None, _) => EventFilter { events: None, all: true },
            (Some(_), None) => EventFilter { events: None, all: false },
            (Some(names), Some(e)) => EventFilter { events: Some((e, e.membership(names))), all: false },
        }
    }

    /// Whether no row can match.
    pub fn is_empty(&self) -> bool {
        !self.all && self.events.as_ref().is_none_or(|(_, t)| !t.iter().any(|m| *m))
    }

    /// Whether row `row` matches.
    #[inline]
    pub fn matches(&self, row: usize) -> bool {
        self.all || self.events.as_ref().is_some_and(|(e, t)| e.is_member(t, row))
    }
}

/// The documentation of the `breakdown` parameter of retention and LTV.
pub const BREAKDOWN_DOC: ParamInfo = ParamInfo {
    name: "breakdown",
    doc: "\"channel\" to break cohorts down by acquisition channel (a `channel` column); null (default) for none. \
          A segmenter's output (user_id, segment) is given as the run's breakdown instead (a `segment` column)",
};

/// Checks a `breakdown` parameter: `None` or `"channel"`.
pub fn check_breakdown(plugin: &str, breakdown: &Option<String>) -> Result<()> {
    match breakdown.as_deref() {
        None | Some("channel") => Ok(()),
        Some(other) => Err(UserOpsError::param(
            plugin,
            "breakdown",
            format!(
                "`{other}` is not a column this metric breaks down by; use \"channel\", or pass a segmenter's \
                 output table (user_id, segment) as the breakdown"
            ),
        )),
    }
}

/// How acquired users are grouped: one group, by channel, or by a segmenter's labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Groups {
    /// The breakdown column's name (`channel` or `segment`), `None` without a breakdown.
    pub column: Option<&'static str>,
    /// The group labels, in output order (a null segment last).
    pub labels: Vec<Option<String>>,
    /// The group of each acquired user, by position in [`Acquisitions::users`].
    pub of: Vec<u32>,
}

impl Groups {
    /// Groups `acquired` by `channel` (when `by_channel`), by the run's breakdown labels
    /// (users without a label form a null segment), or not at all.
    pub fn new(plugin: &str, acquired: &Acquisitions, by_channel: bool, ctx: &FinishContext<'_>) -> Result<Self> {
        match (by_channel, ctx.breakdown) {
            (true, Some(_)) => Err(UserOpsError::param(
                plugin,
                "breakdown",
                "give either breakdown=\"channel\" or a segment table, not both",
            )),
            (true, None) => Ok(Groups {
                column: Some("channel"),
                labels: acquired.channels.iter().cloned().map(Some).collect(),
                of: acquired.users.iter().map(|u| u.channel).collect(),
            }),
            (false, Some(labels)) => Ok(Self::segments(acquired, labels)),
            (false, None) => Ok(Groups { column: None, labels: vec![None], of: vec![0; acquired.users.len()] }),
        }
    }

    fn segments(acquired: &Acquisitions, labels: &UserLabels) -> Self {
        let null = labels.names.len() as u32;
        let mut of: Vec<u32> = acquired
            .users
            .iter()
            .map(|u| match labels.of_user.get(u.user as usize) {
                Some(&code) if code != userops_core::NULL_CODE => code,
                _ => null,
            })
            .collect();
        // Keep only labels in use, in sorted order (names are sorted), null last.
        let mut used = vec![false; labels.names.len() + 1];
        for g in &of {
            used[*g as usize] = true;
        }
        let mut rank = HashMap::new();
        let mut out = Vec::new();
        for (code, is_used) in used.iter().enumerate() {
            if *is_used {
                rank.insert(code as u32, out.len() as u32);
                out.push(labels.names.get(code).cloned());
            }
        }
        for g in &mut of {
            *g = rank[g];
        }
        Groups { column: Some("segment"), labels: out, of }
    }

    /// The breakdown column for output rows of the given groups (`None` without a breakdown).
    pub fn column_array(&self, groups: &[u32]) -> Option<(&'static str, arrow_array::ArrayRef)> {
        let column = self.column?;
        let array: arrow_array::StringArray = groups.iter().map(|g| self.labels[*g as usize].as_deref()).collect();
        Some((column, std::sync::Arc::new(array)))
    }
}

/// Acquired users with their group and cohort, sorted by (group, cohort).
pub fn by_cohort<'a>(
    acquired: &'a Acquisitions,
    groups: &Groups,
    periods: &mut PeriodOf,
) -> Vec<(u32, i32, &'a AcquiredUser)> {
    let mut rows: Vec<(u32, i32, &AcquiredUser)> =
        acquired.users.iter().zip(&groups.of).map(|(u, g)| (*g, periods.index(u.ts), u)).collect();
    rows.sort_by_key(|(g, c, _)| (*g, *c));
    rows
}

/// Consecutive runs of `rows` with the same (group, cohort).
pub fn runs<T>(rows: &[(u32, i32, T)]) -> impl Iterator<Item = &[(u32, i32, T)]> {
    rows.chunk_by(|a, b| (a.0, a.1) == (b.0, b.1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use userops_core::time::{days_from_civil, MICROS_PER_DAY};

    #[test]
    fn period_lookup_matches_the_core() {
        for name in ["UTC", "+08:00", "Asia/Shanghai", "America/New_York", "Asia/Kathmandu"] {
            let tz = TimeZone::parse(name).unwrap();
            for period in [Period::Day, Period::Week, Period::Month] {
                let mut of = PeriodOf::new(period, &tz);
                let start = days_from_civil(2023, 12, 20) as i64 * MICROS_PER_DAY;
                let mut ts = start;
                while ts < start + 400 * MICROS_PER_DAY {
                    assert_eq!(of.index(ts), period.index(ts, &tz), "{name} {period:?} at {ts}");
                    ts += 97 * 60 * 1_000_000 + 7;
                }
            }
        }
    }

    #[test]
    fn first_from_is_the_earliest_row_at_or_after_the_final_acquisition() {
        // Rows 5, 20, 30; acquisition first thought to be 25, then found to be 10.
        let mut f = FirstFrom::default();
        f.grow(1);
        f.insert(0, 30, 25);
        f.insert(0, 5, 25);
        f.insert(0, 20, 25);
        let mut g = f.clone();
        g.settle(|_| 25);
        assert_eq!(g.first_from(0), Some(30));
        f.settle(|_| 10);
        assert_eq!(f.first_from(0), Some(20));
        // Another state: its user 0 is user 1 here, its user 1 is user 0.
        let mut other = FirstFrom::default();
        other.grow(2);
        other.insert(1, 12, i64::MAX);
        other.insert(0, 3, 4);
        f.merge_from(other, &UserRemap { to: vec![1, 0], user_count: 2 });
        f.settle(|u| [10, 1][u as usize]);
        assert_eq!((f.first_from(0), f.first_from(1)), (Some(12), Some(3)));
        assert_eq!(FirstFrom::default().first_from(0), None);
    }
}
