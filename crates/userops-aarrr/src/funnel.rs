//! `funnel` (转化漏斗, SPEC §6): how many users reach each step of an ordered sequence
//! of events within a conversion window, with the time between steps.
//!
//! ```text
//!  update ──▶ per user: the (ts, step-name) rows of the step events, each kept at most
//!             as many times as its name appears in the steps; in strict mode also one
//!             (ts, OTHER) per instant that has no step row (any other event)
//!  merge  ──▶ concatenation (then the same capped dedup): a multiset union
//!  finish ──▶ per user, greedy matching from every start; groups; counts and quantiles
//! ```
//!
//! ## Matching (per user, in `finish`)
//! For every instant `t0` of an s1 row (a start), the steps 2..n are matched greedily:
//! step j takes the earliest unused row named s_j with `ts ≥` the previous step's `ts`
//! and `ts ≤ t0 + W` (one row serves one step: with repeated names, a second row is
//! needed, possibly at the same instant). In `strict` mode the row must also have no
//! row of the user (of any event) strictly between it and the previous step, i.e. it is
//! at the previous step's instant or at the user's next instant. The user's result is
//! the start reaching the furthest step, ties to the earliest start.
//!
//! ## Ties in timestamps
//! Rows with the same instant and the same event name are interchangeable: whichever is
//! taken, the path has the same instants. Rows with the same instant and different
//! names never compete (a step only takes rows of its own name). So the result depends
//! only on the multiset of (instant, name) rows: never on row order, batch boundaries
//! or workers. Keeping at most `count(name in steps)` copies of each (instant, name)
//! changes no path (a path uses at most that many), and in strict mode the non-step
//! rows only matter through their instants.

use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray};
use serde::{Deserialize, Serialize};
use userops_core::output::{rate, table};
use userops_core::time::MICROS_PER_DAY;
use userops_core::{
    decode_state, downcast_state, encode_state, parse_params, quantile_cont, Column, ColumnNeeds, Events,
    FinishContext, ParamInfo, PartialState, Plugin, PluginKind, Registration, Result, ScanContext, UserOpsError,
    UserRemap, UserSets, NULL_CODE,
};

use crate::acquired::{
    check_acquisition_events, default_acquisition_events, Acquired, AcquisitionConfig, ACQUISITION_EVENTS_DOC,
};
use crate::buckets::{check_param_values, MAX_WINDOW_DAYS};

/// The most steps a funnel may have.
pub const MAX_STEPS: usize = 64;
/// The code of a row that is no step event (kept in strict mode only).
const OTHER: u8 = u8::MAX;

/// The order rule between consecutive steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Each step's `ts` ≥ the previous step's; other events may come between.
    Ordered,
    /// Additionally, no event of any kind strictly between two consecutive steps.
    Strict,
}

/// Parameters of `funnel`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FunnelParams {
    /// The step event names s1…sn (n from 2 to 64; a name may repeat).
    /// The default `["signup", "activate", "order"]` exists so the plugin builds with
    /// defaults; callers name their own steps.
    pub steps: Vec<String>,
    /// The conversion window W in days (24 h each) after the start (default 14).
    pub window_days: u32,
    /// `ordered` (default) or `strict`.
    pub mode: Mode,
    /// A column to break down by: only `"channel"` (the user's acquisition channel,
    /// SPEC §2). A segmenter's labels come through the engine's breakdown instead.
    pub breakdown: Option<String>,
    /// The acquisition events of the channel breakdown (default `["signup"]`; null =
    /// first seen).
    pub acquisition_events: Option<Vec<String>>,
}

impl Default for FunnelParams {
    fn default() -> Self {
        FunnelParams {
            steps: vec!["signup".into(), "activate".into(), "order".into()],
            window_days: 14,
            mode: Mode::Ordered,
            breakdown: None,
            acquisition_events: default_acquisition_events(),
        }
    }
}

impl FunnelParams {
    fn validate(&self) -> Result<()> {
        let bad = |name: &str, message: String| Err(UserOpsError::param("funnel", name, message));
        if self.steps.len() < 2 || self.steps.len() > MAX_STEPS {
            return bad("steps", format!("needs 2 to {MAX_STEPS} event names, got {}", self.steps.len()));
        }
        if self.steps.iter().any(String::is_empty) {
            return bad("steps", "event names must be non-empty".into());
        }
        if self.window_days > MAX_WINDOW_DAYS {
            return bad("window_days", format!("must be from 0 to {MAX_WINDOW_DAYS}, got {}", self.window_days));
        }
        match self.breakdown.as_deref() {
            None | Some("channel") => {}
            Some(other) => {
                return bad(
                    "breakdown",
                    format!("`{other}` is not a column a funnel can break down by; use \"channel\", or pass a segmenter's output (user_id, segment) as the breakdown"),
                )
            }
        }
        check_acquisition_events("funnel", &self.acquisition_events)
    }
}

/// The step names, deduplicated, with the step → name code map and per-name caps.
#[derive(Debug, Clone)]
struct Steps {
    names: Vec<String>,
    code_of_step: Vec<u8>,
    caps: Vec<u32>,
}

impl Steps {
    fn new(steps: &[String]) -> Self {
        let mut names: Vec<String> = Vec::new();
        let mut code_of_step = Vec::with_capacity(steps.len());
        for s in steps {
            let code = match names.iter().position(|n| n == s) {
                Some(i) => i,
                None => {
                    names.push(s.clone());
                    names.len() - 1
                }
            };
            code_of_step.push(code as u8);
        }
        let caps = (0..names.len()).map(|c| code_of_step.iter().filter(|&&s| s as usize == c).count() as u32).collect();
        Steps { names, code_of_step, caps }
    }

    fn cap(&self, code: u8) -> usize {
        if code == OTHER {
            1
        } else {
            self.caps[code as usize] as usize
        }
    }
}

/// The kept rows of every user, by (user, instant, name code), [`OTHER`] for a non-step
/// instant. Rows whose name is kept once per instant (every name but the repeated step
/// names, and [`OTHER`]) are compact sets of `ts · K + code` (`K` = distinct names + 1,
/// [`OTHER`] coded `K − 1`), so they cost about their gap in bytes; the rows of
/// repeated step names and the few instants too far from 1970 to code are a flat list,
/// sorted and capped up to `clean`, compacted when it doubles.
#[derive(Debug, Default, Serialize, Deserialize)]
struct KeptRows {
    sets: UserSets,
    listed: Vec<(u32, i64, u8)>,
    clean: usize,
}

impl KeptRows {
    /// The set value of a row, if its name is kept once per instant and it can be coded.
    #[inline]
    fn code(ts: i64, code: u8, steps: &Steps) -> Option<i64> {
        if steps.cap(code) != 1 {
            return None;
        }
        let k = steps.names.len() as i64 + 1;
        let code = if code == OTHER { k - 1 } else { code as i64 };
        ts.checked_mul(k)?.checked_add(code)
    }

    /// The row of a set value.
    #[inline]
    fn decode(value: i64, steps: &Steps) -> (i64, u8) {
        let k = steps.names.len() as i64 + 1;
        let code = value.rem_euclid(k);
        (value.div_euclid(k), if code == k - 1 { OTHER } else { code as u8 })
    }

    #[inline]
    fn push(&mut self, user: u32, ts: i64, code: u8, steps: &Steps) {
        match Self::code(ts, code, steps) {
            Some(value) => self.sets.insert(user, value),
            None => {
                self.listed.push((user, ts, code));
                if self.listed.len() > 2 * self.clean + 16 {
                    self.compact(steps);
                }
            }
        }
    }

    /// Folds `other` in, its user `i` into user `remap.to[i]`.
    fn absorb(&mut self, other: KeptRows, remap: &UserRemap, steps: &Steps) {
        self.sets.merge_from(other.sets, remap);
        for (user, ts, code) in other.listed {
            self.push(remap.to[user as usize], ts, code, steps);
        }
    }

    /// Sorts the listed rows and keeps at most `cap` copies of each.
    fn compact(&mut self, steps: &Steps) {
        let v = &mut self.listed;
        v.sort_unstable();
        let n = v.len();
        let (mut out, mut i) = (0, 0);
        while i < n {
            let row = v[i];
            let mut j = i + 1;
            while j < n && v[j] == row {
                j += 1;
            }
            for _ in 0..(j - i).min(steps.cap(row.2)) {
                v[out] = row;
                out += 1;
            }
            i = j;
        }
        v.truncate(out);
        v.shrink_to(out * 2);
        self.clean = out;
    }

    /// Calls `f(user, rows)` for every user with rows, users ascending, rows sorted by
    /// (instant, code) and capped.
    fn for_each(&mut self, steps: &Steps, mut f: impl FnMut(u32, &[(i64, u8)])) {
        self.compact(steps);
        // One user's listed rows, alone.
        fn alone(run: &[(u32, i64, u8)], rows: &mut Vec<(i64, u8)>, f: &mut impl FnMut(u32, &[(i64, u8)])) {
            rows.clear();
            rows.extend(run.iter().map(|r| (r.1, r.2)));
            f(run[0].0, rows);
        }
        let mut listed = self.listed.chunk_by(|a, b| a.0 == b.0).peekable();
        let mut rows = Vec::new();
        self.sets.for_each(|user, values| {
            while let Some(run) = listed.next_if(|run| run[0].0 < user) {
                alone(run, &mut rows, &mut f);
            }
            rows.clear();
            rows.extend(values.iter().map(|&v| Self::decode(v, steps)));
            if let Some(run) = listed.next_if(|run| run[0].0 == user) {
                rows.extend(run.iter().map(|r| (r.1, r.2)));
                rows.sort_unstable();
            }
            f(user, &rows);
        });
        for run in listed {
            alone(run, &mut rows, &mut f);
        }
    }
}

/// The best path of one user.
#[derive(Debug, Clone, PartialEq)]
struct Path {
    /// The start instant (an s1 row).
    start: i64,
    /// Steps reached, 1..=n.
    reached: usize,
    /// `gaps[j - 1]`: micros from step j to step j + 1, for each step reached after the first.
    gaps: Vec<i64>,
}

/// Greedy matching over one user's sorted, capped rows (see the module docs), with
/// scratch buffers reused from user to user.
struct Matcher<'a> {
    steps: &'a Steps,
    window: i64,
    strict: bool,
    by_name: Vec<Vec<i64>>,
    instants: Vec<i64>,
    used: Vec<(u8, usize)>,
    gaps: Vec<i64>,
}

impl<'a> Matcher<'a> {
    fn new(steps: &'a Steps, window: i64, strict: bool) -> Self {
        let n = steps.code_of_step.len();
        Matcher {
            steps,
            window,
            strict,
            by_name: vec![Vec::new(); steps.names.len()],
            instants: Vec::new(),
            used: Vec::with_capacity(n),
            gaps: Vec::with_capacity(n),
        }
    }

    /// The user's best path, or `None` when the user has no s1 row.
    fn best_path(&mut self, rows: &[(i64, u8)]) -> Option<Path> {
        let steps = self.steps;
        let first_code = steps.code_of_step[0];
        if !rows.iter().any(|r| r.1 == first_code) {
            return None;
        }
        for list in &mut self.by_name {
            list.clear();
        }
        for &(ts, code) in rows {
            if code != OTHER {
                self.by_name[code as usize].push(ts);
            }
        }
        self.instants.clear();
        if self.strict {
            self.instants.extend(rows.iter().map(|r| r.0));
            self.instants.dedup();
        }
        let n = steps.code_of_step.len();
        let starts = &self.by_name[first_code as usize];
        let mut best: Option<Path> = None;
        let mut s = 0;
        while s < starts.len() {
            let t0 = starts[s];
            self.used.clear();
            self.gaps.clear();
            self.used.push((first_code, s));
            let deadline = t0.saturating_add(self.window);
            let mut previous = t0;
            for &code in &steps.code_of_step[1..] {
                let mut limit = deadline;
                if self.strict {
                    let next = self.instants.partition_point(|&t| t <= previous);
                    limit = limit.min(self.instants.get(next).copied().unwrap_or(previous));
                }
                let list = &self.by_name[code as usize];
                let mut k = list.partition_point(|&t| t < previous);
                while self.used.contains(&(code, k)) {
                    k += 1;
                }
                match list.get(k) {
                    Some(&ts) if ts <= limit => {
                        self.used.push((code, k));
                        self.gaps.push(ts - previous);
                        previous = ts;
                    }
                    _ => break,
                }
            }
            let reached = self.used.len();
            if best.as_ref().is_none_or(|b| reached > b.reached) {
                best = Some(Path { start: t0, reached, gaps: self.gaps.clone() });
                if reached == n {
                    break;
                }
            }
            // Rows at the same instant give the same path: go to the next instant.
            while s < starts.len() && starts[s] == t0 {
                s += 1;
            }
        }
        best
    }
}

struct FunnelPlugin {
    params: FunnelParams,
    steps: Steps,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct FunnelData {
    users: KeptRows,
    /// Per-user acquisition, for the channel breakdown only.
    acquired: Option<Acquired>,
}

struct FunnelState {
    data: FunnelData,
    params: FunnelParams,
    steps: Steps,
}

impl FunnelPlugin {
    fn by_channel(&self) -> bool {
        self.params.breakdown.as_deref() == Some("channel")
    }

    fn acquisition(&self) -> AcquisitionConfig {
        AcquisitionConfig::new(self.params.acquisition_events.clone())
    }
}

impl Plugin for FunnelPlugin {
    fn name(&self) -> &'static str {
        "funnel"
    }

    fn requires(&self) -> ColumnNeeds {
        let needs = ColumnNeeds::new(&[Column::Event], &[]);
        if self.by_channel() {
            let (required, optional) = self.acquisition().columns();
            needs.union(ColumnNeeds::new(&required, &optional))
        } else {
            needs
        }
    }

    fn new_state(&self, _scan: &ScanContext) -> Box<dyn PartialState> {
        let acquired = self.by_channel().then(|| Acquired::new(self.acquisition()));
        Box::new(FunnelState {
            data: FunnelData { users: KeptRows::default(), acquired },
            params: self.params.clone(),
            steps: self.steps.clone(),
        })
    }

    fn state_from_bytes(&self, bytes: &[u8], _scan: &ScanContext) -> Result<Box<dyn PartialState>> {
        Ok(Box::new(FunnelState { data: decode_state(bytes)?, params: self.params.clone(), steps: self.steps.clone() }))
    }

    /// Ordered funnels read the step events only (plus the acquisition events for the
    /// channel breakdown); strict funnels and first-seen channels read every row.
    fn events(&self) -> Option<Vec<String>> {
        if self.params.mode == Mode::Strict {
            return None;
        }
        let mut names = self.steps.names.clone();
        if self.by_channel() {
            names.extend(self.params.acquisition_events.clone()?);
        }
        Some(names)
    }

    fn supports_breakdown(&self) -> bool {
        true
    }
}

impl PartialState for FunnelState {
    fn update(&mut self, events: &Events) -> Result<()> {
        if let Some(acquired) = &mut self.data.acquired {
            acquired.update(events);
        }
        let strict = self.params.mode == Mode::Strict;
        let users = &mut self.data.users;
        let Some(coded) = &events.event else { return Ok(()) };
        let lookup: Vec<u8> = coded
            .names
            .iter()
            .map(|n| self.steps.names.iter().position(|m| m == n).map_or(OTHER, |i| i as u8))
            .collect();
        if !strict && lookup.iter().all(|&c| c == OTHER) {
            return Ok(());
        }
        for row in 0..events.len() {
            let code = match coded.codes[row] {
                NULL_CODE => OTHER,
                c => lookup[c as usize],
            };
            if code != OTHER || strict {
                users.push(events.user[row], events.ts[row], code, &self.steps);
            }
        }
        Ok(())
    }

    fn merge(&mut self, other: Box<dyn PartialState>, remap: &UserRemap) -> Result<()> {
        let other = downcast_state::<FunnelState>(other)?.data;
        let steps = &self.steps;
        self.data.users.absorb(other.users, remap, steps);
        match (&mut self.data.acquired, other.acquired) {
            (Some(mine), Some(theirs)) => mine.merge(theirs, remap)?,
            (None, None) => {}
            _ => {
                return Err(UserOpsError::IncompatibleStates(
                    "funnel states with and without a channel breakdown".into(),
                ))
            }
        }
        Ok(())
    }

    fn to_bytes(&self) -> Result<Vec<u8>> {
        encode_state(&self.data)
    }

    fn finish(self: Box<Self>, ctx: &FinishContext<'_>) -> Result<RecordBatch> {
        let FunnelState { mut data, params, steps } = *self;
        if ctx.breakdown.is_some() && params.breakdown.is_some() {
            return Err(UserOpsError::param(
                "funnel",
                "breakdown",
                "give one breakdown: either breakdown=\"channel\" or a segment table, not both",
            ));
        }
        let acquisitions = data.acquired.as_ref().map(|a| a.resolve(ctx.users));
        // Group labels as codes into a sorted list of names; `names.len()` is the null group.
        let names: &[String] = match (ctx.breakdown, &acquisitions) {
            (Some(labels), _) => &labels.names,
            (None, Some(acq)) => &acq.channels,
            (None, None) => &[],
        };
        let null_group = names.len();
        let group_of = |user: u32| -> usize {
            if let Some(labels) = ctx.breakdown {
                match labels.of_user.get(user as usize) {
                    Some(&code) if code != NULL_CODE => code as usize,
                    _ => null_group,
                }
            } else if let Some(acq) = &acquisitions {
                acq.of(user).map_or(null_group, |u| u.channel as usize)
            } else {
                null_group
            }
        };
        let grouped = ctx.breakdown.is_some() || acquisitions.is_some();
        let window = params.window_days as i64 * MICROS_PER_DAY;
        let strict = params.mode == Mode::Strict;
        let end = ctx.end.unwrap_or(i64::MAX);
        let n = steps.code_of_step.len();
        let mut matcher = Matcher::new(&steps, window, strict);
        let mut groups: Vec<Option<Group>> = (0..=null_group).map(|_| None).collect();
        if !grouped {
            groups[null_group] = Some(Group::new(n)); // one group, listed even when empty
        }
        data.users.for_each(&steps, |user, rows| {
            let Some(path) = matcher.best_path(rows) else { return };
            let group = groups[group_of(user)].get_or_insert_with(|| Group::new(n));
            group.add(&path, path.reached < n && path.start.saturating_add(window) > end);
        });
        // Names are sorted, so code order is label order; the null group comes last.
        let mut out = Output::default();
        for (code, group) in groups.iter_mut().enumerate() {
            if let Some(group) = group {
                group.emit(names.get(code).cloned(), &params.steps, &mut out);
            }
        }
        let mut columns: Vec<(&str, ArrayRef)> = Vec::new();
        if grouped {
            let name = if ctx.breakdown.is_some() { "segment" } else { "channel" };
            columns.push((name, Arc::new(StringArray::from(out.group))));
        }
        columns.extend([
            ("step", Arc::new(Int32Array::from(out.step)) as ArrayRef),
            ("event", Arc::new(StringArray::from(out.event))),
            ("users", Arc::new(Int64Array::from(out.users))),
            ("conversion_from_start", Arc::new(Float64Array::from(out.from_start))),
            ("conversion_from_previous", Arc::new(Float64Array::from(out.from_previous))),
            ("median_seconds_from_previous", Arc::new(Float64Array::from(out.median))),
            ("p90_seconds_from_previous", Arc::new(Float64Array::from(out.p90))),
            ("in_progress", Arc::new(Int64Array::from(out.in_progress))),
        ]);
        table(columns)
    }
}

/// Counts of one breakdown group.
struct Group {
    users: Vec<i64>,
    in_progress: Vec<i64>,
    /// `gaps[j]`: micros from step j to step j + 1 (0-based) over the finished users.
    gaps: Vec<Vec<i64>>,
}

impl Group {
    fn new(n: usize) -> Self {
        Group { users: vec![0; n], in_progress: vec![0; n], gaps: vec![Vec::new(); n] }
    }

    fn add(&mut self, path: &Path, in_progress: bool) {
        let counts = if in_progress { &mut self.in_progress } else { &mut self.users };
        for c in &mut counts[..path.reached] {
            *c += 1;
        }
        if !in_progress {
            for (j, gap) in path.gaps.iter().enumerate() {
                self.gaps[j + 1].push(*gap);
            }
        }
    }

    fn emit(&mut self, key: Option<String>, names: &[String], out: &mut Output) {
        for (j, name) in names.iter().enumerate() {
            out.group.push(key.clone());
            out.step.push(j as i32 + 1);
            out.event.push(name.clone());
            out.users.push(self.users[j]);
            out.from_start.push(rate(self.users[j] as f64, self.users[0] as f64));
            out.from_previous.push(if j == 0 { None } else { rate(self.users[j] as f64, self.users[j - 1] as f64) });
            let gaps = &mut self.gaps[j];
            gaps.sort_unstable();
            let seconds: Vec<f64> = gaps.iter().map(|&g| g as f64 / 1e6).collect();
            out.median.push(quantile_cont(&seconds, 0.5));
            out.p90.push(quantile_cont(&seconds, 0.9));
            out.in_progress.push(self.in_progress[j]);
        }
    }
}

#[derive(Default)]
struct Output {
    group: Vec<Option<String>>,
    step: Vec<i32>,
    event: Vec<String>,
    users: Vec<i64>,
    from_start: Vec<Option<f64>>,
    from_previous: Vec<Option<f64>>,
    median: Vec<Option<f64>>,
    p90: Vec<Option<f64>>,
    in_progress: Vec<i64>,
}

/// `funnel`: users reaching each step of an ordered event sequence within a window.
pub const FUNNEL: Registration = Registration {
    name: "funnel",
    kind: PluginKind::Metric,
    crate_name: env!("CARGO_PKG_NAME"),
    description: "Conversion funnel (转化漏斗): users reaching each step within the window, conversion, time between steps",
    params: &[
        ParamInfo { name: "steps", doc: "step event names s1..sn, 2 to 64, names may repeat (default [\"signup\", \"activate\", \"order\"])" },
        ParamInfo { name: "window_days", doc: "every step at most this many days after the start (default 14)" },
        ParamInfo {
            name: "mode",
            doc: "\"ordered\" (default: ts >= previous step's) or \"strict\" (also no event of any kind strictly between two steps)",
        },
        ParamInfo { name: "breakdown", doc: "null (default) or \"channel\": the user's acquisition channel" },
        ACQUISITION_EVENTS_DOC,
    ],
    defaults: userops_core::default_params::<FunnelParams>,
    build: |params| {
        check_param_values("funnel", &params, &[("mode", &["ordered", "strict"])], &["window_days"], MAX_WINDOW_DAYS)?;
        let p: FunnelParams = parse_params("funnel", params)?;
        p.validate()?;
        let steps = Steps::new(&p.steps);
        Ok(Box::new(FunnelPlugin { params: p, steps }))
    },
    law_params: &[
        r#"{"steps": ["visit", "order"], "window_days": 3, "mode": "strict"}"#,
        r#"{"steps": ["visit", "visit", "order"], "window_days": 30}"#,
        r#"{"steps": ["order", "visit", "order", "order"], "window_days": 0, "mode": "strict"}"#,
        r#"{"steps": ["signup", "visit", "order"], "breakdown": "channel"}"#,
        r#"{"steps": ["visit", "invite"], "breakdown": "channel", "acquisition_events": null, "mode": "strict"}"#,
    ],
};

userops_core::inventory::submit! { FUNNEL }

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000;

    fn path(steps: &[&str], rows: &[(i64, &str)], window_s: i64, strict: bool) -> Option<(i64, usize, Vec<i64>)> {
        let names: Vec<String> = steps.iter().map(|s| s.to_string()).collect();
        let steps = Steps::new(&names);
        let mut kept = KeptRows::default();
        for &(ts, name) in rows {
            let code = steps.names.iter().position(|n| n == name).map_or(OTHER, |i| i as u8);
            if code != OTHER || strict {
                kept.push(0, ts * S, code, &steps);
            }
        }
        let mut matcher = Matcher::new(&steps, window_s * S, strict);
        let mut found = None;
        kept.for_each(&steps, |_, rows| {
            found = matcher.best_path(rows).map(|p| (p.start / S, p.reached, p.gaps.iter().map(|g| g / S).collect()))
        });
        found
    }

    #[test]
    fn greedy_takes_the_earliest_row_and_the_furthest_start() {
        let rows = [(1, "visit"), (3, "visit"), (4, "order"), (20, "visit"), (21, "cart"), (22, "order")];
        assert_eq!(path(&["visit", "order"], &rows, 10, false), Some((1, 2, vec![3])));
        assert_eq!(path(&["visit", "cart", "order"], &rows, 10, false), Some((20, 3, vec![1, 1])));
        // Window: order at 4 is 3 s after visit 1; a window of 2 s needs the visit at 3.
        assert_eq!(path(&["visit", "order"], &rows, 2, false), Some((3, 2, vec![1])));
        assert_eq!(path(&["order", "visit"], &[(5, "visit")], 10, false), None, "never reaches step 1");
    }

    #[test]
    fn repeated_steps_need_distinct_rows() {
        let once = [(1, "visit"), (2, "order")];
        assert_eq!(path(&["visit", "visit", "order"], &once, 10, false), Some((1, 1, vec![])));
        let tied = [(1, "visit"), (1, "visit"), (1, "visit"), (2, "order")];
        assert_eq!(path(&["visit", "visit", "order"], &tied, 10, false), Some((1, 3, vec![0, 1])));
    }

    #[test]
    fn strict_mode_refuses_events_in_between() {
        let rows = [(1, "visit"), (2, "cart"), (3, "order"), (10, "visit"), (10, "cart"), (11, "order")];
        assert_eq!(path(&["visit", "order"], &rows, 5, false), Some((1, 2, vec![2])));
        // The visit at 10 has a cart at the same instant, not strictly between.
        assert_eq!(path(&["visit", "order"], &rows, 5, true), Some((10, 2, vec![1])));
        let blocked = [(1, "visit"), (2, "visit"), (3, "order")];
        assert_eq!(path(&["visit", "order"], &blocked, 5, true), Some((2, 2, vec![1])));
    }

    #[test]
    fn kept_rows_cap_copies_and_merge_coded_and_listed_rows() {
        let steps = Steps::new(&["a".to_string(), "a".to_string(), "b".to_string()]);
        let far = i64::MAX - 3; // too far from 1970 to code: listed
        let mut kept = KeptRows::default();
        for (user, ts, code) in [(1, 5, 0), (1, 5, 0), (1, 5, 0), (1, 5, OTHER), (1, 6, OTHER), (0, far, 1), (1, 7, 1)]
        {
            kept.push(user, ts, code, &steps);
        }
        let mut other = KeptRows::default();
        for (user, ts, code) in [(0, 6, OTHER), (0, 5, 0), (0, -4, 1), (1, far, 1), (1, far, 1)] {
            other.push(user, ts, code, &steps);
        }
        // `other`'s user 0 is user 1 here, its user 1 is user 2.
        kept.absorb(other, &UserRemap { to: vec![1, 2], user_count: 3 }, &steps);
        let mut seen = Vec::new();
        kept.for_each(&steps, |user, rows| seen.push((user, rows.to_vec())));
        assert_eq!(
            seen,
            vec![
                (0, vec![(far, 1)]),
                (1, vec![(-4, 1), (5, 0), (5, 0), (5, OTHER), (6, OTHER), (7, 1)]),
                (2, vec![(far, 1)]),
            ]
        );
    }
}
