//! An operator's own tiers (用户分层 with their own rules, SPEC §11): per-user features
//! over the last `period_days` before D, an ordered list of `(label, condition)` rules,
//! the first that holds wins, `other` when none does.
//!
//! The window is elapsed time, `[D − period_days · 24 h, D]` (an event exactly
//! `period_days` before D counts); `period_days = null` means all events up to D.
//! While scanning, the state keeps per user only the events that can still be in the
//! window: an event more than `period_days` before the latest instant seen so far (a
//! lower bound of D) never can. Exact, and merged by multiset union; each user's
//! latest event is kept apart for `days_since_last`. With no window it keeps per-user
//! totals instead.

use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch, StringArray};
use serde::{Deserialize, Serialize};
use userops_core::money::micros_to_f64;
use userops_core::output::table;
use userops_core::time::MICROS_PER_DAY;
use userops_core::{Events, FinishContext, PerUser, Result, TimeZone, UserOpsError, UserRemap};

use crate::activity::{insert_sorted, union_sorted};
use userops_core::time::LocalDays;
use crate::expr::{parse, Condition, Feature};

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
        Ok(Rules { labels, conditions, features, names, params: params.clone() })
    }

    /// Every feature any rule reads.
    pub fn features(&self) -> &[Feature] {
        &self.features
    }

    /// The window in microseconds (`None` for all time).
    pub fn window(&self) -> Option<i64> {
        self.params.period_days.map(|d| d as i64 * MICROS_PER_DAY)
    }

    fn tier(&self, values: &[f64], slots: &[Vec<usize>], buffer: &mut Vec<f64>) -> &str {
        for (i, condition) in self.conditions.iter().enumerate() {
            buffer.clear();
            buffer.extend(slots[i].iter().map(|&s| values[s]));
            if condition.eval(buffer) {
                return &self.labels[i];
            }
        }
        &self.params.default_tier
    }
}

/// No tracked name: the row's event is not read by any feature (or is null).
const UNTRACKED: u16 = u16::MAX;

/// One event in a user's window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Rec {
    /// Instant, µs UTC.
    pub ts: i64,
    /// Index into the tracked names, or [`UNTRACKED`].
    pub name: u16,
    /// Amount in micro-units (null is 0: a null-amount revenue row is a purchase adding nothing).
    pub amount: i64,
}

/// All-time totals of one user (when there is no window).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    /// Events of any name.
    pub events: u64,
    /// Events per tracked name.
    pub counts: Vec<u64>,
    /// Amount sums per tracked name, micro-units.
    pub amounts: Vec<i128>,
    /// Purchases of the revenue event.
    pub purchases: u64,
    /// Distinct local days with an event.
    pub days: Vec<i32>,
}

/// One user's tier inputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UserTier {
    /// The latest event, µs UTC (`i64::MIN` when none).
    pub last: i64,
    /// With a window: the events that can still be in the window before D (older ones
    /// may linger until the next pruning; finish reads only the window before D).
    pub recs: Vec<Rec>,
    /// Without a window: totals.
    pub totals: Totals,
    kept: usize,
}

impl Default for UserTier {
    fn default() -> Self {
        UserTier { last: i64::MIN, recs: Vec::new(), totals: Totals::default(), kept: 0 }
    }
}

impl UserTier {
    /// Drops the events before `cut` (no event before `cut` can be in the window).
    fn prune(&mut self, cut: i64) {
        self.recs.retain(|r| r.ts >= cut);
        self.kept = self.recs.len();
    }

    fn maybe_prune(&mut self, cut: i64) {
        if self.recs.len() >= 8 && self.recs.len() > 2 * self.kept {
            self.prune(cut);
        }
    }
}

/// The state of `tiers`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TierState {
    users: PerUser<UserTier>,
    /// The latest instant of any row seen (a lower bound of D): with a window, an
    /// event more than the window before it can never be in the window before D.
    latest: Option<i64>,
}

impl TierState {
    /// The earliest instant that can still be in the window (`i64::MIN` when unknown).
    fn cut(&self, window: i64) -> i64 {
        self.latest.map_or(i64::MIN, |l| l.saturating_sub(window))
    }
}

impl TierState {
    /// Folds one batch.
    pub fn update(&mut self, events: &Events, rules: &Rules, local: &mut LocalDays) {
        self.users.grow(events.user_count);
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
        let n_names = rules.names.len();
        if let Some(batch_latest) = events.ts.iter().copied().max() {
            self.latest = Some(self.latest.map_or(batch_latest, |l| l.max(batch_latest)));
        }
        let cut = window.map_or(i64::MIN, |w| self.cut(w));
        for row in 0..events.len() {
            let ts = events.ts[row];
            let name = name_of(row);
            let amount = events.amount.as_ref().and_then(|a| a[row]);
            let user = self.users.get_mut(events.user[row]);
            user.last = user.last.max(ts);
            match window {
                Some(_) if ts < cut => {}
                Some(_) => {
                    user.recs.push(Rec { ts, name, amount: amount.unwrap_or(0) });
                    user.maybe_prune(cut);
                }
                None => {
                    let t = &mut user.totals;
                    if t.counts.is_empty() {
                        t.counts = vec![0; n_names];
                        t.amounts = vec![0; n_names];
                    }
                    t.events += 1;
                    insert_sorted(&mut t.days, local.day(ts));
                    if name != UNTRACKED {
                        t.counts[name as usize] += 1;
                        t.amounts[name as usize] += amount.unwrap_or(0) as i128;
                        if name == 0 && amount.unwrap_or(0) >= 0 {
                            t.purchases += 1;
                        }
                    }
                }
            }
        }
    }

    /// Folds another state in.
    pub fn merge(&mut self, other: TierState, remap: &UserRemap, rules: &Rules) {
        let window = rules.window();
        self.latest = match (self.latest, other.latest) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        let cut = window.map_or(i64::MIN, |w| self.cut(w));
        self.users.merge_from(other.users, remap, |a, b| {
            a.last = a.last.max(b.last);
            match window {
                Some(_) => {
                    a.recs.extend(b.recs);
                    a.prune(cut);
                }
                None => {
                    if a.totals.counts.is_empty() {
                        a.totals = b.totals;
                    } else if !b.totals.counts.is_empty() {
                        let (t, o) = (&mut a.totals, b.totals);
                        t.events += o.events;
                        t.purchases += o.purchases;
                        t.counts.iter_mut().zip(o.counts).for_each(|(x, y)| *x += y);
                        t.amounts.iter_mut().zip(o.amounts).for_each(|(x, y)| *x += y);
                        t.days = union_sorted(std::mem::take(&mut t.days), o.days);
                    }
                }
            }
        });
    }
}

/// Reused buffers for computing every user's features at finish.
struct Scratch {
    acc: Totals,
    local: LocalDays,
    values: Vec<f64>,
    /// For each feature, the index of the tracked name it reads (0 when none).
    name_of: Vec<usize>,
}

impl Scratch {
    fn new(rules: &Rules, tz: &TimeZone) -> Self {
        let n = rules.names.len();
        let name_of = rules
            .features
            .iter()
            .map(|f| match f {
                Feature::EventsOf(name) | Feature::AmountOf(name) => {
                    rules.names.iter().position(|m| m == name).expect("every read name is tracked")
                }
                _ => 0,
            })
            .collect();
        Scratch {
            acc: Totals { counts: vec![0; n], amounts: vec![0; n], ..Totals::default() },
            local: LocalDays::new(tz),
            values: Vec::with_capacity(rules.features.len()),
            name_of,
        }
    }

    /// The feature values of one user as of `end`, in the order of `rules.features`.
    fn features(&mut self, user: &UserTier, rules: &Rules, end: i64) -> &[f64] {
        let t = match rules.window() {
            None => &user.totals,
            Some(w) => {
                let cut = end.saturating_sub(w);
                let acc = &mut self.acc;
                acc.events = 0;
                acc.purchases = 0;
                acc.counts.iter_mut().for_each(|c| *c = 0);
                acc.amounts.iter_mut().for_each(|a| *a = 0);
                acc.days.clear();
                for r in user.recs.iter().filter(|r| r.ts >= cut) {
                    acc.events += 1;
                    insert_sorted(&mut acc.days, self.local.day(r.ts));
                    if r.name != UNTRACKED {
                        acc.counts[r.name as usize] += 1;
                        acc.amounts[r.name as usize] += r.amount as i128;
                        if r.name == 0 && r.amount >= 0 {
                            acc.purchases += 1;
                        }
                    }
                }
                &self.acc
            }
        };
        let count = |i: usize| t.counts.get(i).copied().unwrap_or(0) as f64;
        let amount = |i: usize| micros_to_f64(t.amounts.get(i).copied().unwrap_or(0));
        self.values.clear();
        for (f, &i) in rules.features.iter().zip(&self.name_of) {
            self.values.push(match f {
                Feature::Events => t.events as f64,
                Feature::EventsOf(_) => count(i),
                Feature::AmountOf(_) => amount(i),
                Feature::Revenue => amount(0),
                Feature::Purchases => t.purchases as f64,
                Feature::ActiveDays => t.days.len() as f64,
                Feature::DaysSinceLast => (end - user.last).div_euclid(MICROS_PER_DAY) as f64,
            });
        }
        &self.values
    }
}

/// The `tiers` table: `user_id, tier, segment` (segment = tier), one row per user with
/// an event at or before D, sorted by user id.
pub fn tiers_table(state: &TierState, rules: &Rules, ctx: &FinishContext<'_>) -> Result<RecordBatch> {
    let mut users: Vec<u32> = state.users.iter().filter(|(_, u)| u.last != i64::MIN).map(|(u, _)| u).collect();
    ctx.users.sort_by_key(&mut users);
    let slots: Vec<Vec<usize>> = rules
        .conditions
        .iter()
        .map(|c| c.features.iter().map(|f| rules.features.iter().position(|g| g == f).unwrap_or(0)).collect())
        .collect();
    let mut scratch = Scratch::new(rules, &ctx.scan.tz);
    let mut buffer = Vec::new();
    let tiers: Vec<&str> = match ctx.end {
        Some(end) => users
            .iter()
            .map(|&u| {
                let user = state.users.get(u).expect("listed users exist");
                rules.tier(scratch.features(user, rules, end), &slots, &mut buffer)
            })
            .collect(),
        None => Vec::new(),
    };
    let tier: ArrayRef = Arc::new(StringArray::from(tiers));
    table(vec![("user_id", ctx.users.key_array(&users)), ("tier", tier.clone()), ("segment", tier)])
}
