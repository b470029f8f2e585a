//! An operator's own tiers (用户分层 with their own rules, SPEC §11): per-user features
//! over the last `period_days` before D, an ordered list of `(label, condition)` rules,
//! the first that holds wins, `other` when none does.
//!
//! The window is elapsed time, `[D − period_days · 24 h, D]` (an event exactly
//! `period_days` before D counts); `period_days = null` means all events up to D.
//! The state keeps only what the rules' features read: a bit per user (who has a
//! row), each user's latest event if `days_since_last` is read, and
//! - with a window, one state-level list of the rows that can still be in it (rows of
//!   names no feature reads are skipped unless `events` or `active_days` is read): a
//!   row more than `period_days` before the latest instant seen so far (a lower bound
//!   of D) never can, and is pruned. Exact, and merged by multiset union;
//! - without a window, per-user totals of the features read (compact sums, and a
//!   [`UserSets`] of days for `active_days`).

use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch, StringArray};
use serde::{Deserialize, Serialize};
use userops_core::money::micros_to_f64;
use userops_core::output::table;
use userops_core::time::LocalDays;
use userops_core::time::MICROS_PER_DAY;
use userops_core::{Events, FinishContext, Result, UserOpsError, UserRemap, UserSets};

use crate::expr::{parse, Condition, Feature};
use userops_core::UserSums;

/// One rule from its JSON form, `["label", "condition"]` or
/// `{"label": "...", "condition": "..."}`; an error names the rule.
fn rule_parts<'a>(plugin: &str, i: usize, rule: &'a serde_json::Value) -> Result<(&'a str, &'a str)> {
    let parts = match rule {
        serde_json::Value::Array(a) if a.len() == 2 => a[0].as_str().zip(a[1].as_str()),
        serde_json::Value::Object(o) if o.len() == 2 => {
            o.get("label").and_then(|l| l.as_str()).zip(o.get("condition").and_then(|c| c.as_str()))
        }
        _ => None,
    };
    parts.ok_or_else(|| {
        UserOpsError::param(
            plugin,
            &format!("rules[{i}]"),
            format!("each rule is [label, condition] or {{\"label\": ..., \"condition\": ...}} with two strings, got {rule}"),
        )
    })
}

/// Parameters of `tiers`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TierParams {
    /// The rules, in order; the first that holds gives the tier: each
    /// `["label", "condition"]` or `{"label": "...", "condition": "..."}`.
    pub rules: Vec<serde_json::Value>,
    /// The window in days before D (default 7); `null` for all time.
    pub period_days: Option<u32>,
    /// The tier of users no rule matches (default `other`).
    pub default_tier: String,
    /// The event whose rows are purchases and refunds, for `revenue` and `purchases` (default `order`).
    pub revenue_event: String,
}

impl Default for TierParams {
    fn default() -> Self {
        TierParams {
            rules: Vec::new(),
            period_days: Some(7),
            default_tier: "other".into(),
            revenue_event: "order".into(),
        }
    }
}

/// Compiled rules: labels, conditions, and the event names the features read.
#[derive(Debug, Clone, PartialEq)]
pub struct Rules {
    labels: Vec<String>,
    conditions: Vec<Condition>,
    /// Every feature any rule reads.
    features: Vec<Feature>,
    /// The event names counted or summed separately (the revenue event first).
    names: Vec<String>,
    /// Per tracked name: whether a feature counts its events.
    counted: Vec<bool>,
    /// Per tracked name: whether a feature sums its amounts (the revenue event for
    /// `revenue`) or counts its purchases (`purchases`).
    summed: Vec<bool>,
    params: TierParams,
}

impl Rules {
    /// Parses and checks every rule; an error names the rule and the bad part.
    pub fn compile(plugin: &str, params: &TierParams) -> Result<Self> {
        if params.period_days.is_some_and(|d| d > 36_500) {
            return Err(UserOpsError::param(plugin, "period_days", "must be at most 36500 (or null for all time)"));
        }
        if params.default_tier.is_empty() {
            return Err(UserOpsError::param(plugin, "default_tier", "must not be empty"));
        }
        let mut labels = Vec::new();
        let mut conditions = Vec::new();
        for (i, rule) in params.rules.iter().enumerate() {
            let (label, source) = rule_parts(plugin, i, rule)?;
            let name = format!("rules[{i}]");
            if label.is_empty() {
                return Err(UserOpsError::param(plugin, &name, "the label is empty"));
            }
            let condition = parse(source).map_err(|e| {
                UserOpsError::param(plugin, &name, format!("tier `{label}`: condition `{source}`: {e}"))
            })?;
            labels.push(label.to_string());
            conditions.push(condition);
        }
        let mut features: Vec<Feature> = conditions.iter().flat_map(|c| c.features.iter().cloned()).collect();
        features.sort();
        features.dedup();
        let mut names = vec![params.revenue_event.clone()];
        for f in &features {
            if let Feature::EventsOf(n) | Feature::AmountOf(n) = f {
                if !names.contains(n) {
                    names.push(n.clone());
                }
            }
        }
        let position = |n: &String| names.iter().position(|m| m == n).expect("every read name is tracked");
        let mut counted = vec![false; names.len()];
        let mut summed = vec![false; names.len()];
        summed[0] = features.contains(&Feature::Revenue) || features.contains(&Feature::Purchases);
        for f in &features {
            match f {
                Feature::EventsOf(n) => counted[position(n)] = true,
                Feature::AmountOf(n) => summed[position(n)] = true,
                _ => {}
            }
        }
        Ok(Rules { labels, conditions, features, names, counted, summed, params: params.clone() })
    }

    /// Whether some rule reads feature `f`.
    fn reads(&self, f: &Feature) -> bool {
        self.features.contains(f)
    }

    /// Whether a row of tracked name `name` (or [`UNTRACKED`]) is read by a feature:
    /// every row is when `events` or `active_days` is read.
    fn reads_row(&self, name: u16) -> bool {
        self.reads(&Feature::Events)
            || self.reads(&Feature::ActiveDays)
            || (name != UNTRACKED && (self.counted[name as usize] || self.summed[name as usize]))
    }

    /// Every feature any rule reads.
    pub fn features(&self) -> &[Feature] {
        &self.features
    }

    /// The window in microseconds (`None` for all time).
    pub fn window(&self) -> Option<i64> {
        self.params.period_days.map(|d| d as i64 * MICROS_PER_DAY)
    }

    /// The index of the first rule that holds over `values` (the number of rules when none does).
    fn tier(&self, values: &[f64], slots: &[Vec<usize>], buffer: &mut Vec<f64>) -> usize {
        for (i, condition) in self.conditions.iter().enumerate() {
            buffer.clear();
            buffer.extend(slots[i].iter().map(|&s| values[s]));
            if condition.eval(buffer) {
                return i;
            }
        }
        self.conditions.len()
    }

    /// The label of rule `i`, or the default tier past the last rule.
    fn label(&self, i: usize) -> &str {
        self.labels.get(i).unwrap_or(&self.params.default_tier)
    }
}

/// No tracked name: the row's event is not read by any feature (or is null).
const UNTRACKED: u16 = u16::MAX;

/// One row that can still be in the window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rec {
    /// Instant, µs UTC.
    pub ts: i64,
    /// Amount in micro-units (null is 0: a null-amount revenue row is a purchase adding nothing).
    pub amount: i64,
    /// The row's user (dense index).
    pub user: u32,
    /// Index into the tracked names, or [`UNTRACKED`].
    pub name: u16,
}

/// All-time totals per user of the features read (columns nobody reads stay empty).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Totals {
    /// Events of any name (`events`).
    events: UserSums,
    /// Per tracked name: its events, for `events.NAME`.
    counts: Vec<UserSums>,
    /// Per tracked name: the sum of its amounts, micro-units, for `amount.NAME` and `revenue`.
    amounts: Vec<UserSums>,
    /// Purchases of the revenue event (`purchases`).
    purchases: UserSums,
    /// Distinct local days with an event (`active_days`).
    days: UserSets,
}

impl Totals {
    fn grow(&mut self, rules: &Rules, user_count: usize) {
        let n = rules.names.len();
        self.counts.resize_with(n, UserSums::default);
        self.amounts.resize_with(n, UserSums::default);
        if rules.reads(&Feature::Events) {
            self.events.grow(user_count);
        }
        if rules.reads(&Feature::Purchases) {
            self.purchases.grow(user_count);
        }
        for i in 0..n {
            if rules.counted[i] {
                self.counts[i].grow(user_count);
            }
            if rules.summed[i] {
                self.amounts[i].grow(user_count);
            }
        }
    }

    fn add(&mut self, rules: &Rules, rec: Rec, day: impl FnOnce() -> i32) {
        if rules.reads(&Feature::Events) {
            self.events.add(rec.user, 1);
        }
        if rules.reads(&Feature::ActiveDays) {
            self.days.insert(rec.user, day() as i64);
        }
        if rec.name == UNTRACKED {
            return;
        }
        let name = rec.name as usize;
        if rules.counted[name] {
            self.counts[name].add(rec.user, 1);
        }
        if rules.summed[name] {
            self.amounts[name].add(rec.user, rec.amount.into());
        }
        if name == 0 && rec.amount >= 0 && rules.reads(&Feature::Purchases) {
            self.purchases.add(rec.user, 1);
        }
    }

    fn merge(&mut self, other: Totals, remap: &UserRemap) {
        self.events.merge_from(other.events, remap);
        self.purchases.merge_from(other.purchases, remap);
        self.days.merge_from(other.days, remap);
        // `self` has grown to every tracked name; a fresh `other` has no columns.
        for (mine, theirs) in self.counts.iter_mut().zip(other.counts) {
            mine.merge_from(theirs, remap);
        }
        for (mine, theirs) in self.amounts.iter_mut().zip(other.amounts) {
            mine.merge_from(theirs, remap);
        }
    }
}

/// The state of `tiers` (see the module docs).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TierState {
    /// A bit per user with a row.
    seen: Vec<u64>,
    /// Each user's latest row, µs UTC (`i64::MIN` for none); only if `days_since_last` is read.
    last: Vec<i64>,
    /// The latest instant of any row seen (a lower bound of D): with a window, a row
    /// more than the window before it can never be in the window before D.
    latest: Option<i64>,
    /// With a window: the rows read by a feature that can still be in it.
    rows: Vec<Rec>,
    /// Rows kept by the last pruning.
    kept: usize,
    /// Without a window: the totals.
    totals: Totals,
}

/// Rows that wait for a pruning at least this many (then as many as were kept).
const MIN_UNPRUNED: usize = 1 << 14;

impl TierState {
    fn grow(&mut self, rules: &Rules, user_count: usize) {
        self.seen.resize(user_count.div_ceil(64).max(self.seen.len()), 0);
        if rules.reads(&Feature::DaysSinceLast) && self.last.len() < user_count {
            self.last.resize(user_count, i64::MIN);
        }
        if rules.window().is_none() {
            self.totals.grow(rules, user_count);
        }
    }

    fn is_seen(&self, user: u32) -> bool {
        self.seen.get(user as usize / 64).is_some_and(|w| w >> (user % 64) & 1 == 1)
    }

    /// Drops the rows no longer in any window ending at or after the latest instant seen.
    fn prune(&mut self, window: i64) {
        let cut = self.latest.map_or(i64::MIN, |l| l.saturating_sub(window));
        self.rows.retain(|r| r.ts >= cut);
        self.kept = self.rows.len();
    }

    /// Folds one batch.
    pub fn update(&mut self, events: &Events, rules: &Rules, local: &mut LocalDays) {
        self.grow(rules, events.user_count);
        // Batch-local event codes → tracked name index.
        let coded = events.event.as_ref();
        let code_to_name: Vec<u16> = coded
            .map(|e| {
                e.names
                    .iter()
                    .map(|n| rules.names.iter().position(|m| m == n).map_or(UNTRACKED, |i| i as u16))
                    .collect()
            })
            .unwrap_or_default();
        let name_of = |row: usize| match coded {
            Some(e) if e.codes[row] != userops_core::NULL_CODE => code_to_name[e.codes[row] as usize],
            _ => UNTRACKED,
        };
        let window = rules.window();
        if let Some(batch_latest) = events.ts.iter().copied().max() {
            self.latest = self.latest.max(Some(batch_latest));
        }
        let cut = match (window, self.latest) {
            (Some(w), Some(l)) => l.saturating_sub(w),
            _ => i64::MIN,
        };
        for row in 0..events.len() {
            let (user, ts) = (events.user[row], events.ts[row]);
            self.seen[user as usize / 64] |= 1 << (user % 64);
            if let Some(last) = self.last.get_mut(user as usize) {
                *last = (*last).max(ts);
            }
            let name = name_of(row);
            if !rules.reads_row(name) {
                continue;
            }
            let amount = events.amount.as_ref().and_then(|a| a[row]).unwrap_or(0);
            let rec = Rec { ts, amount, user, name };
            match window {
                Some(_) if ts >= cut => self.rows.push(rec),
                Some(_) => {}
                None => self.totals.add(rules, rec, || local.day(ts)),
            }
        }
        if let Some(w) = window {
            if self.rows.len() >= MIN_UNPRUNED.max(2 * self.kept) {
                self.prune(w);
            }
        }
    }

    /// Folds another state in.
    pub fn merge(&mut self, other: TierState, remap: &UserRemap, rules: &Rules) {
        self.grow(rules, remap.user_count);
        self.latest = self.latest.max(other.latest);
        for (i, &to) in remap.to.iter().enumerate() {
            if other.is_seen(i as u32) {
                self.seen[to as usize / 64] |= 1 << (to % 64);
            }
            if let (Some(mine), Some(&theirs)) = (self.last.get_mut(to as usize), other.last.get(i)) {
                *mine = (*mine).max(theirs);
            }
        }
        self.rows.extend(other.rows.into_iter().map(|r| Rec { user: remap.to[r.user as usize], ..r }));
        if let Some(w) = rules.window() {
            self.prune(w);
        }
        self.totals.merge(other.totals, remap);
    }
}

/// One user's feature inputs, before they become the values the rules compare.
#[derive(Debug, Clone, Default)]
struct Inputs {
    events: i128,
    counts: Vec<i128>,
    amounts: Vec<i128>,
    purchases: i128,
    active_days: i128,
}

impl Inputs {
    fn clear(&mut self, names: usize) {
        self.events = 0;
        self.purchases = 0;
        self.active_days = 0;
        self.counts.clear();
        self.counts.resize(names, 0);
        self.amounts.clear();
        self.amounts.resize(names, 0);
    }

    /// Adds the window rows of one user (sorted by instant).
    fn add_rows(&mut self, rows: &[Rec], local: &mut LocalDays) {
        let mut previous_day = None;
        for r in rows {
            self.events += 1;
            let day = local.day(r.ts);
            if previous_day != Some(day) {
                self.active_days += 1;
                previous_day = Some(day);
            }
            if r.name != UNTRACKED {
                self.counts[r.name as usize] += 1;
                self.amounts[r.name as usize] += r.amount as i128;
                if r.name == 0 && r.amount >= 0 {
                    self.purchases += 1;
                }
            }
        }
    }

    /// Reads the totals of one user (`days` its number of active days).
    fn read_totals(&mut self, totals: &Totals, user: u32, days: u32) {
        self.events = totals.events.get(user);
        self.purchases = totals.purchases.get(user);
        self.active_days = days as i128;
        for (i, (c, a)) in totals.counts.iter().zip(&totals.amounts).enumerate() {
            self.counts[i] = c.get(user);
            self.amounts[i] = a.get(user);
        }
    }

    /// The feature values in the order of `rules.features` (`last`: the user's latest row).
    fn values(&self, rules: &Rules, name_of: &[usize], last: i64, end: i64, out: &mut Vec<f64>) {
        out.clear();
        for (f, &i) in rules.features.iter().zip(name_of) {
            out.push(match f {
                Feature::Events => self.events as f64,
                Feature::EventsOf(_) => self.counts[i] as f64,
                Feature::AmountOf(_) => micros_to_f64(self.amounts[i]),
                Feature::Revenue => micros_to_f64(self.amounts[0]),
                Feature::Purchases => self.purchases as f64,
                Feature::ActiveDays => self.active_days as f64,
                Feature::DaysSinceLast => (end - last).div_euclid(MICROS_PER_DAY) as f64,
            });
        }
    }
}

/// The `tiers` table: `user_id, tier, segment` (segment = tier), one row per user with
/// an event at or before D, sorted by user id.
pub fn tiers_table(mut state: TierState, rules: &Rules, ctx: &FinishContext<'_>) -> Result<RecordBatch> {
    let slots: Vec<Vec<usize>> = rules
        .conditions
        .iter()
        .map(|c| c.features.iter().map(|f| rules.features.iter().position(|g| g == f).unwrap_or(0)).collect())
        .collect();
    // For each feature, the index of the tracked name it reads (0 when none).
    let name_of: Vec<usize> = rules
        .features
        .iter()
        .map(|f| match f {
            Feature::EventsOf(name) | Feature::AmountOf(name) => {
                rules.names.iter().position(|m| m == name).expect("every read name is tracked")
            }
            _ => 0,
        })
        .collect();
    let user_count = state.seen.len() * 64;
    // The tier (index into the labels, or the default) of every user, by dense index.
    let mut tier_of: Vec<u32> = Vec::new();
    if let Some(end) = ctx.end {
        let mut local = LocalDays::new(&ctx.scan.tz);
        let window = rules.window();
        if let Some(w) = window {
            let cut = end.saturating_sub(w);
            state.rows.retain(|r| r.ts >= cut);
            state.rows.sort_unstable_by_key(|r| (r.user, r.ts));
        }
        let mut days = vec![0u32; if window.is_none() { user_count } else { 0 }];
        state.totals.days.for_each(|user, d| days[user as usize] = d.len() as u32);
        let (mut inputs, mut values, mut buffer) = (Inputs::default(), Vec::new(), Vec::new());
        let mut rows = state.rows.as_slice();
        for user in 0..user_count as u32 {
            let n = rows.partition_point(|r| r.user == user);
            let (mine, rest) = rows.split_at(n);
            rows = rest;
            if !state.is_seen(user) {
                tier_of.push(0);
                continue;
            }
            inputs.clear(rules.names.len());
            match window {
                Some(_) => inputs.add_rows(mine, &mut local),
                None => inputs.read_totals(&state.totals, user, days[user as usize]),
            }
            let last = state.last.get(user as usize).copied().unwrap_or(i64::MIN);
            inputs.values(rules, &name_of, last, end, &mut values);
            tier_of.push(rules.tier(&values, &slots, &mut buffer) as u32);
        }
    }
    let mut users: Vec<u32> = (0..user_count as u32).filter(|&u| state.is_seen(u)).collect();
    ctx.users.sort_by_key(&mut users);
    // Without D there are no rows, so no users.
    let tiers: Vec<&str> = users.iter().map(|&u| rules.label(tier_of[u as usize] as usize)).collect();
    let tier: ArrayRef = Arc::new(StringArray::from(tiers));
    table(vec![("user_id", ctx.users.key_array(&users)), ("tier", tier.clone()), ("segment", tier)])
}
