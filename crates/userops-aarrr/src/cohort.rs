//! Building blocks of the cohort metrics (acquisition, paying conversion, activation,
//! retention, LTV): the period of an instant, the earliest event at or after the
//! acquisition, breakdown groups, and the `complete` rule of SPEC §1.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use userops_core::time::LocalDays;
use userops_core::{Events, FinishContext, ParamInfo, Period, Result, TimeZone, UserLabels, UserOpsError};

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

    /// Whether period `index` is fully observed: its last instant is at or before `end`.
    pub fn complete(&self, index: i32, end: i64) -> bool {
        self.period.is_complete(index, &self.tz, end)
    }

    /// Whether period `index` has begun by `end` (observed, at least in part).
    pub fn begun(&self, index: i32, end: i64) -> bool {
        self.period.start_instant(index, &self.tz) <= end
    }
}

/// The earliest instant of some event at or after a user's acquisition, when the
/// acquisition is not final yet. It keeps the earliest row at or after the acquisition
/// known so far (`after`) and every row before it (`before`): the acquisition only
/// moves earlier as rows and states are folded in, so nothing else can ever matter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FirstFrom {
    after: i64,
    before: Vec<i64>,
    /// `before[..clean]` is sorted and distinct; the rest is compacted when it doubles.
    clean: u32,
}

impl Default for FirstFrom {
    fn default() -> Self {
        FirstFrom { after: i64::MAX, before: Vec::new(), clean: 0 }
    }
}

impl FirstFrom {
    /// Adds a row at `ts`, the user's acquisition known so far being `acquired` (`i64::MAX`: none).
    #[inline]
    pub fn insert(&mut self, ts: i64, acquired: i64) {
        if ts >= acquired {
            self.after = self.after.min(ts);
        } else if self.before.last() != Some(&ts) {
            self.before.push(ts);
            if self.before.len() > 2 * self.clean as usize + 8 {
                self.before.sort_unstable();
                self.before.dedup();
                self.clean = self.before.len() as u32;
            }
        }
    }

    /// Folds another summary of the same user in; call [`FirstFrom::settle`] with the
    /// merged acquisition afterwards.
    pub fn absorb(&mut self, other: FirstFrom) {
        self.after = self.after.min(other.after);
        for ts in other.before {
            self.insert(ts, i64::MAX);
        }
    }

    /// Moves rows at or after `acquired` out of `before`.
    pub fn settle(&mut self, acquired: i64) {
        if self.before.iter().any(|t| *t >= acquired) {
            let after = &mut self.after;
            self.before.retain(|t| {
                if *t >= acquired {
                    *after = (*after).min(*t);
                    false
                } else {
                    true
                }
            });
            self.before.sort_unstable();
            self.before.dedup();
            self.clean = self.before.len() as u32;
        }
    }

    /// The earliest row at or after `acquired` (the final acquisition).
    pub fn first_from(&self, acquired: i64) -> Option<i64> {
        let before = self.before.iter().copied().filter(|t| *t >= acquired).min();
        let first = before.map_or(self.after, |b| b.min(self.after));
        (first != i64::MAX).then_some(first)
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
        f.insert(30, 25);
        f.insert(5, 25);
        f.insert(20, 25);
        assert_eq!(f.first_from(25), Some(30));
        assert_eq!(f.first_from(10), Some(20));
        let mut g = FirstFrom::default();
        g.insert(12, i64::MAX);
        f.absorb(g);
        f.settle(10);
        assert_eq!(f.first_from(10), Some(12));
        assert_eq!(FirstFrom::default().first_from(0), None);
    }
}
