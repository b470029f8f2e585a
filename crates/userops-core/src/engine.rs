//! The engine: runs any set of plugins over a stream of Arrow batches in one pass, on
//! all cores, and finishes them into one table each.
//!
//! ```text
//!  reader ─┬─▶ worker 1: Partial { UserDict, states, stats } ─┐
//!          └─▶ worker 2: Partial { ... }                    ─┴─ tree merge ─▶ Partial ─▶ finish
//! ```
//!
//! A [`Partial`] is a user dictionary, one state per plugin and the scan counters. It
//! serializes to bytes ([`Analysis::partial_to_bytes`]) that carry a format version,
//! the plugins with their parameters, and the scan options, so partials made in other
//! processes merge the same way, and mismatched ones are refused.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arrow_array::{RecordBatch, RecordBatchReader};
use arrow_schema::{ArrowError, Schema};
use serde::{Deserialize, Serialize};

use crate::bind::Binding;
use crate::columns::{Column, ColumnNames, ColumnNeeds};
use crate::error::{Result, UserOpsError};
use crate::labels::UserLabels;
use crate::plugin::{FinishContext, PartialState, Plugin, PluginKind, ScanContext};
use crate::registry::Registry;
use crate::stats::ScanStats;
use crate::users::UserDict;

/// The version of the partial-state byte format; bumped on any incompatible change.
pub const FORMAT_VERSION: u32 = 2;
const MAGIC: &[u8; 8] = b"USEROPS\0";
/// Large input batches are cut into slices of at most this many rows, so every worker
/// gets work even from a single-batch table.
pub const MAX_SLICE_ROWS: usize = 1 << 16;

/// Where a metric's breakdown labels come from.
#[derive(Debug, Clone)]
pub enum Breakdown {
    /// The output of a segmenter run in the same analysis, by its result name.
    Segmenter(String),
    /// A table with `user_id` and `segment` columns (a segmenter's output from earlier).
    Table(Vec<RecordBatch>),
}

/// One plugin to run: its name, its parameters, the name of its result, and an
/// optional breakdown.
#[derive(Debug, Clone)]
pub struct PluginSpec {
    /// The registered plugin name.
    pub name: String,
    /// Its parameters (JSON object; missing keys take defaults).
    pub params: serde_json::Value,
    /// The key of its result (defaults to `name`).
    pub output: String,
    /// Labels to break the result down by.
    pub breakdown: Option<Breakdown>,
}

impl PluginSpec {
    /// A spec for plugin `name` with `params`, its result named after it.
    pub fn new(name: &str, params: serde_json::Value) -> Self {
        PluginSpec { name: name.to_string(), params, output: name.to_string(), breakdown: None }
    }
}

/// Options of a run.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// The caller's column names.
    pub columns: ColumnNames,
    /// Time zone and `as_of`.
    pub scan: ScanContext,
    /// Worker threads; 0 means one per core.
    pub threads: usize,
}

/// Progress of a scan, reported after every slice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// Rows processed so far.
    pub rows: u64,
    /// Slices processed so far.
    pub batches: u64,
}

/// A partial result of a run: the users seen, one state per plugin, the counters.
pub struct Partial {
    /// The users seen, keyed to the dense indices the states use.
    pub users: UserDict,
    /// One state per plugin, in the analysis' order.
    pub states: Vec<Box<dyn PartialState>>,
    /// What the scan saw.
    pub stats: ScanStats,
}

#[derive(Serialize, Deserialize, PartialEq, Debug)]
struct Header {
    version: u32,
    /// `(plugin name, parameters with defaults filled in, result name)` per plugin.
    plugins: Vec<(String, serde_json::Value, String)>,
    scan: ScanContext,
    columns: ColumnNames,
}

/// A set of plugins with their parameters and the run options: scans, merges and
/// finishes partial results.
pub struct Analysis {
    specs: Vec<PluginSpec>,
    canonical: Vec<serde_json::Value>,
    plugins: Vec<Box<dyn Plugin>>,
    needs: ColumnNeeds,
    events: Option<Vec<String>>,
    options: RunOptions,
}

fn overlay(defaults: serde_json::Value, given: &serde_json::Value) -> serde_json::Value {
    match (defaults, given) {
        (serde_json::Value::Object(mut d), serde_json::Value::Object(g)) => {
            for (k, v) in g {
                d.insert(k.clone(), v.clone());
            }
            serde_json::Value::Object(d)
        }
        (d, serde_json::Value::Null) => d,
        (_, g) => g.clone(),
    }
}

impl Analysis {
    /// Builds the plugins of `specs` from `registry`. Unknown plugins, bad parameters,
    /// duplicate result names and breakdowns of plugins that take none are errors.
    pub fn new(registry: &Registry, specs: Vec<PluginSpec>, options: RunOptions) -> Result<Self> {
        let mut plugins = Vec::with_capacity(specs.len());
        let mut canonical = Vec::with_capacity(specs.len());
        let mut needs = ColumnNeeds::new(&[], &[]);
        // The union of the plugins' events; `None` as soon as one reads every row.
        let mut events: Option<Vec<String>> = Some(Vec::new());
        for (i, spec) in specs.iter().enumerate() {
            if specs[..i].iter().any(|s| s.output == spec.output) {
                return Err(UserOpsError::InvalidOption {
                    option: "plugins",
                    message: format!("two plugins write the result `{}`; give one another output name", spec.output),
                });
            }
            let registration = registry.get(&spec.name)?;
            let plugin = (registration.build)(spec.params.clone())?;
            if spec.breakdown.is_some() && !plugin.supports_breakdown() {
                return Err(UserOpsError::param(&spec.name, "breakdown", "this metric takes no breakdown"));
            }
            if let Some(Breakdown::Segmenter(source)) = &spec.breakdown {
                let ok = specs.iter().any(|s| {
                    &s.output == source
                        && s.breakdown.is_none()
                        && registry.get(&s.name).map(|r| r.kind == PluginKind::Segmenter).unwrap_or(false)
                });
                if !ok {
                    return Err(UserOpsError::param(
                        &spec.name,
                        "breakdown",
                        format!("`{source}` is not a segmenter (without a breakdown of its own) in this analysis"),
                    ));
                }
            }
            needs = needs.union(plugin.requires());
            events = match (events, plugin.events()) {
                (Some(mut all), Some(mine)) => {
                    all.extend(mine.into_iter().filter(|e| !all.contains(e)).collect::<Vec<_>>());
                    Some(all)
                }
                _ => None,
            };
            canonical.push(overlay((registration.defaults)(), &spec.params));
            plugins.push(plugin);
        }
        if options.threads > 1024 {
            return Err(UserOpsError::InvalidOption { option: "threads", message: "at most 1024".into() });
        }
        if specs.is_empty() {
            events = None;
        }
        Ok(Analysis { specs, canonical, plugins, needs, events, options })
    }

    /// The columns this analysis reads (the union of its plugins' needs).
    pub fn needs(&self) -> ColumnNeeds {
        self.needs
    }

    /// The run options.
    pub fn options(&self) -> &RunOptions {
        &self.options
    }

    /// The caller's names of the input columns this analysis reads, present or not:
    /// a Parquet reader reads only these.
    pub fn column_names(&self) -> Vec<String> {
        self.needs
            .required
            .union(self.needs.optional)
            .iter()
            .map(|c| self.options.columns.name(c).to_string())
            .collect()
    }

    /// An empty partial result (the identity of [`Analysis::merge`]).
    pub fn new_partial(&self) -> Partial {
        Partial {
            users: UserDict::new(),
            states: self.plugins.iter().map(|p| p.new_state(&self.options.scan)).collect(),
            stats: ScanStats::default(),
        }
    }

    /// Checks an input schema and binds the needed columns.
    pub fn bind(&self, schema: &Schema) -> Result<Binding> {
        Ok(Binding::new(schema, &self.options.columns, self.needs, &self.options.scan.tz, self.options.scan.as_of)?
            .with_event_filter(self.events.clone()))
    }

    /// Folds one batch into `partial`.
    pub fn update(&self, partial: &mut Partial, binding: &Binding, batch: &RecordBatch) -> Result<()> {
        let events = binding.normalize(batch, &mut partial.users, &mut partial.stats)?;
        for state in &mut partial.states {
            state.update(&events)?;
        }
        Ok(())
    }

    /// Scans `batches` on the calling thread into one partial result.
    pub fn scan_batches(&self, schema: &Schema, batches: &[RecordBatch]) -> Result<Partial> {
        let binding = self.bind(schema)?;
        let mut partial = self.new_partial();
        for batch in batches {
            self.update(&mut partial, &binding, batch)?;
        }
        Ok(partial)
    }

    /// Scans a stream of batches on all workers in one pass and merges their partials.
    /// `progress` is called after every slice with the running totals.
    pub fn scan(
        &self,
        reader: Box<dyn RecordBatchReader + Send>,
        progress: Option<&(dyn Fn(Progress) + Sync)>,
    ) -> Result<Partial> {
        let binding = self.bind(reader.schema().as_ref())?;
        let threads = match self.options.threads {
            0 => std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            n => n,
        };
        let source = Mutex::new(SliceSource { reader, pending: None });
        let shared = SharedPartial::new(threads > 1);
        let rows = AtomicU64::new(0);
        let batches = AtomicU64::new(0);
        let failed = AtomicBool::new(false);
        let worker = || -> Result<()> {
            let mut partial = self.new_partial();
            while !failed.load(Ordering::Relaxed) {
                let next = source.lock().map_err(|_| internal("the input reader lock was poisoned"))?.next_slice();
                // Any failure (reading, updating or folding) stops every worker at its next slice.
                let step = next.transpose().map_err(UserOpsError::from).and_then(|batch| match batch {
                    Some(batch) => {
                        self.update(&mut partial, &binding, &batch)?;
                        shared.maybe_fold(self, &mut partial)?;
                        Ok(Some(batch))
                    }
                    None => Ok(None),
                });
                let batch = match step {
                    Ok(Some(batch)) => batch,
                    Ok(None) => break,
                    Err(e) => {
                        failed.store(true, Ordering::Relaxed);
                        return Err(e);
                    }
                };
                let done = Progress {
                    rows: rows.fetch_add(batch.num_rows() as u64, Ordering::Relaxed) + batch.num_rows() as u64,
                    batches: batches.fetch_add(1, Ordering::Relaxed) + 1,
                };
                if let Some(report) = progress {
                    report(done);
                }
            }
            shared.fold(self, partial)
        };
        let results: Vec<Result<()>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads).map(|_| scope.spawn(worker)).collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|panic| Err(internal(&panic_message(&panic)))))
                .collect()
        });
        results.into_iter().collect::<Result<Vec<()>>>()?;
        Ok(shared.into_inner()?.unwrap_or_else(|| self.new_partial()))
    }

    /// Merges two partial results of this analysis.
    pub fn merge(&self, a: Partial, b: Partial) -> Result<Partial> {
        // Absorb the smaller dictionary into the larger: merge is commutative.
        let (mut into, from) = if b.users.len() > a.users.len() { (b, a) } else { (a, b) };
        let remap = into.users.absorb(&from.users)?;
        for (state, other) in into.states.iter_mut().zip(from.states) {
            state.merge(other, &remap)?;
        }
        into.stats.merge(&from.stats);
        Ok(into)
    }

    /// Merges any number of partial results as a balanced tree, pairs in parallel.
    pub fn merge_all(&self, mut parts: Vec<Partial>) -> Result<Partial> {
        use rayon::prelude::*;
        while parts.len() > 1 {
            let odd = if parts.len() % 2 == 1 { parts.pop() } else { None };
            let mut pairs = Vec::with_capacity(parts.len() / 2);
            let mut it = parts.into_iter();
            while let (Some(a), Some(b)) = (it.next(), it.next()) {
                pairs.push((a, b));
            }
            parts = pairs.into_par_iter().map(|(a, b)| self.merge(a, b)).collect::<Result<Vec<_>>>()?;
            parts.extend(odd);
        }
        Ok(parts.pop().unwrap_or_else(|| self.new_partial()))
    }

    fn header(&self) -> Header {
        Header {
            version: FORMAT_VERSION,
            plugins: self
                .specs
                .iter()
                .zip(&self.canonical)
                .map(|(s, p)| (s.name.clone(), p.clone(), s.output.clone()))
                .collect(),
            scan: self.options.scan.clone(),
            columns: self.options.columns.clone(),
        }
    }

    /// Serializes a partial result with a header naming the format version, the plugins
    /// with their parameters, and the scan options.
    pub fn partial_to_bytes(&self, partial: &Partial) -> Result<Vec<u8>> {
        let mut sections = vec![serde_json::to_vec(&self.header()).map_err(|e| UserOpsError::Decode(e.to_string()))?];
        sections.push(partial.users.to_bytes()?);
        sections.push(bincode::serialize(&partial.stats).map_err(|e| UserOpsError::Decode(e.to_string()))?);
        for state in &partial.states {
            sections.push(state.to_bytes()?);
        }
        let mut out = MAGIC.to_vec();
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        for s in &sections {
            out.extend_from_slice(&(s.len() as u64).to_le_bytes());
            out.extend_from_slice(s);
        }
        Ok(out)
    }

    /// Reads a partial result written by [`Analysis::partial_to_bytes`] of an analysis
    /// with the same plugins, parameters and options; anything else is a clear error.
    pub fn partial_from_bytes(&self, bytes: &[u8]) -> Result<Partial> {
        let sections = split_sections(bytes)?;
        let header: Header =
            serde_json::from_slice(sections[0]).map_err(|e| UserOpsError::Decode(format!("header: {e}")))?;
        let mine = self.header();
        if header != mine {
            return Err(UserOpsError::IncompatibleStates(describe_mismatch(&header, &mine)));
        }
        if sections.len() != 3 + self.plugins.len() {
            return Err(UserOpsError::Decode("wrong number of state sections".into()));
        }
        let users = UserDict::from_bytes(sections[1])?;
        let stats: ScanStats =
            bincode::deserialize(sections[2]).map_err(|e| UserOpsError::Decode(format!("stats: {e}")))?;
        let states = self
            .plugins
            .iter()
            .zip(&sections[3..])
            .map(|(p, b)| p.state_from_bytes(b, &self.options.scan))
            .collect::<Result<Vec<_>>>()?;
        Ok(Partial { users, states, stats })
    }

    /// Rebuilds the analysis a partial state was made by (plugins, parameters, result
    /// names, time zone, `as_of`, column names: all in its header) and reads the
    /// state. This is how a driver finishes states made by workers it never configured.
    pub fn from_partial_bytes(registry: &Registry, bytes: &[u8]) -> Result<(Analysis, Partial)> {
        let sections = split_sections(bytes)?;
        let header: Header =
            serde_json::from_slice(sections[0]).map_err(|e| UserOpsError::Decode(format!("header: {e}")))?;
        let specs = header
            .plugins
            .into_iter()
            .map(|(name, params, output)| PluginSpec { name, params, output, breakdown: None })
            .collect();
        let options = RunOptions { columns: header.columns, scan: header.scan, threads: 0 };
        let analysis = Analysis::new(registry, specs, options)?;
        let partial = analysis.partial_from_bytes(bytes)?;
        Ok((analysis, partial))
    }

    /// Merges serialized partial states of one analysis (as a balanced tree) into one
    /// serialized state. States of different plugins, parameters, options or format
    /// versions are refused with an error naming the difference.
    pub fn merge_bytes(registry: &Registry, states: &[&[u8]]) -> Result<Vec<u8>> {
        let Some(first) = states.first() else {
            return Err(UserOpsError::InvalidOption { option: "states", message: "no partial states to merge".into() });
        };
        let (analysis, head) = Analysis::from_partial_bytes(registry, first)?;
        use rayon::prelude::*;
        let mut parts = vec![head];
        parts.extend(states[1..].par_iter().map(|b| analysis.partial_from_bytes(b)).collect::<Result<Vec<_>>>()?);
        let merged = analysis.merge_all(parts)?;
        analysis.partial_to_bytes(&merged)
    }

    /// Replaces the breakdown of the plugin whose result is `output` (e.g. labels given
    /// only when finishing states made elsewhere).
    pub fn set_breakdown(&mut self, output: &str, breakdown: Breakdown) -> Result<()> {
        let i = self.specs.iter().position(|s| s.output == output).ok_or_else(|| UserOpsError::InvalidOption {
            option: "breakdown",
            message: format!("no result named `{output}` in this analysis"),
        })?;
        if !self.plugins[i].supports_breakdown() {
            return Err(UserOpsError::param(&self.specs[i].name, "breakdown", "this metric takes no breakdown"));
        }
        self.specs[i].breakdown = Some(breakdown);
        Ok(())
    }

    /// Finishes a partial result into one table per plugin, keyed by result name, in
    /// the order the plugins were given. Segmenters used as breakdowns finish first.
    pub fn finish(&self, partial: Partial) -> Result<Vec<(String, RecordBatch)>> {
        let Partial { users, states, stats } = partial;
        if stats.non_finite_amount > 0 && self.needs.required.union(self.needs.optional).contains(Column::Amount) {
            return Err(UserOpsError::NonFiniteAmount {
                column: self.options.columns.amount.clone(),
                rows: stats.non_finite_amount,
            });
        }
        let end = self.options.scan.as_of.or(stats.max_ts);
        let metadata: std::collections::HashMap<String, String> = stats.metadata().into_iter().collect();
        let mut results: Vec<Option<RecordBatch>> = vec![None; states.len()];
        let mut states: Vec<Option<Box<dyn PartialState>>> = states.into_iter().map(Some).collect();
        // Two rounds: plugins without a breakdown, then those with one.
        for round in 0..2 {
            for (i, spec) in self.specs.iter().enumerate() {
                if (spec.breakdown.is_some()) != (round == 1) {
                    continue;
                }
                let labels = match &spec.breakdown {
                    None => None,
                    Some(Breakdown::Table(batches)) => {
                        Some(UserLabels::from_batches(batches, "user_id", "segment", &users)?)
                    }
                    Some(Breakdown::Segmenter(source)) => {
                        let table = self
                            .specs
                            .iter()
                            .position(|s| &s.output == source && s.breakdown.is_none())
                            .and_then(|j| results[j].as_ref())
                            .ok_or_else(|| {
                                UserOpsError::InvalidBreakdown(format!(
                                    "`{source}` is not a segmenter without a breakdown of its own in this analysis"
                                ))
                            })?;
                        Some(UserLabels::from_batches(std::slice::from_ref(table), "user_id", "segment", &users)?)
                    }
                };
                let ctx = FinishContext {
                    users: &users,
                    end,
                    scan: &self.options.scan,
                    stats: &stats,
                    breakdown: labels.as_ref(),
                };
                let state = states[i].take().expect("each state finishes once");
                let batch = state.finish(&ctx)?;
                let schema = Arc::new(batch.schema().as_ref().clone().with_metadata(metadata.clone()));
                results[i] = Some(batch.with_schema(schema)?);
            }
        }
        Ok(self
            .specs
            .iter()
            .map(|s| s.output.clone())
            .zip(results.into_iter().map(|r| r.expect("all finished")))
            .collect())
    }

    /// Scans and finishes in one call.
    pub fn run(
        &self,
        reader: Box<dyn RecordBatchReader + Send>,
        progress: Option<&(dyn Fn(Progress) + Sync)>,
    ) -> Result<Vec<(String, RecordBatch)>> {
        let partial = self.scan(reader, progress)?;
        self.finish(partial)
    }
}

/// The result the workers of a scan fold their partials into, so memory stays near
/// one state of all users rather than one per worker (on a time-ordered log every
/// worker sees nearly every user).
///
/// A worker folds its partial in once it holds an eighth as many users as the shared
/// result (and at least [`FOLD_MIN_USERS`]), then starts afresh: workers never hold
/// more than a fraction of the users, and as each fold is paid for by at least that
/// many users scanned since the last one, folding stays linear in the input even for a
/// state whose merge is linear in the larger side. Merge is associative and
/// commutative, so when and in which order workers fold never changes the result.
struct SharedPartial {
    /// Whether workers fold before they finish (pointless with one worker).
    early: bool,
    merged: Mutex<Option<Partial>>,
    /// The shared result's user count, read without the lock.
    users: AtomicU64,
}

/// The fewest users a worker holds before it folds its partial in early.
const FOLD_MIN_USERS: usize = 1 << 16;

impl SharedPartial {
    fn new(early: bool) -> Self {
        SharedPartial { early, merged: Mutex::new(None), users: AtomicU64::new(0) }
    }

    /// Folds `partial` in (leaving a fresh one) when it has grown enough.
    fn maybe_fold(&self, analysis: &Analysis, partial: &mut Partial) -> Result<()> {
        let held = partial.users.len();
        if self.early && held >= FOLD_MIN_USERS && held as u64 >= self.users.load(Ordering::Relaxed) / 8 {
            self.fold(analysis, std::mem::replace(partial, analysis.new_partial()))?;
        }
        Ok(())
    }

    /// Merges `partial` into the shared result.
    fn fold(&self, analysis: &Analysis, partial: Partial) -> Result<()> {
        let mut merged = self.merged.lock().map_err(|_| internal("the shared partial lock was poisoned"))?;
        let folded = match merged.take() {
            None => partial,
            Some(mine) => analysis.merge(mine, partial)?,
        };
        self.users.store(folded.users.len() as u64, Ordering::Relaxed);
        *merged = Some(folded);
        Ok(())
    }

    fn into_inner(self) -> Result<Option<Partial>> {
        self.merged.into_inner().map_err(|_| internal("the shared partial lock was poisoned"))
    }
}

struct SliceSource {
    reader: Box<dyn RecordBatchReader + Send>,
    pending: Option<(RecordBatch, usize)>,
}

impl SliceSource {
    fn next_slice(&mut self) -> Option<Result<RecordBatch, ArrowError>> {
        loop {
            if let Some((batch, offset)) = self.pending.take() {
                let len = (batch.num_rows() - offset).min(MAX_SLICE_ROWS);
                let slice = batch.slice(offset, len);
                if offset + len < batch.num_rows() {
                    self.pending = Some((batch, offset + len));
                }
                return Some(Ok(slice));
            }
            match self.reader.next()? {
                Ok(batch) if batch.num_rows() == 0 => continue,
                Ok(batch) => self.pending = Some((batch, 0)),
                Err(e) => return Some(Err(e)),
            }
        }
    }
}

fn split_sections(bytes: &[u8]) -> Result<Vec<&[u8]>> {
    if bytes.len() < 12 || &bytes[..8] != MAGIC {
        return Err(UserOpsError::Decode("not a userops partial state (bad magic bytes)".into()));
    }
    let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
    if version != FORMAT_VERSION {
        return Err(UserOpsError::IncompatibleStates(format!(
            "format version {version}, but this build reads version {FORMAT_VERSION}"
        )));
    }
    let mut rest = &bytes[12..];
    let mut sections = Vec::new();
    while !rest.is_empty() {
        if rest.len() < 8 {
            return Err(UserOpsError::Decode("truncated section length".into()));
        }
        let len = u64::from_le_bytes(rest[..8].try_into().expect("8 bytes")) as usize;
        rest = &rest[8..];
        if rest.len() < len {
            return Err(UserOpsError::Decode("truncated section".into()));
        }
        sections.push(&rest[..len]);
        rest = &rest[len..];
    }
    if sections.len() < 3 {
        return Err(UserOpsError::Decode("missing sections".into()));
    }
    Ok(sections)
}

fn describe_mismatch(theirs: &Header, mine: &Header) -> String {
    if theirs.version != mine.version {
        format!("format version {} vs {}", theirs.version, mine.version)
    } else if theirs.plugins != mine.plugins {
        format!("the states are of plugins {:?}, this analysis has {:?}", theirs.plugins, mine.plugins)
    } else if theirs.scan != mine.scan {
        format!("scan options differ: {:?} vs {:?}", theirs.scan, mine.scan)
    } else {
        format!("column names differ: {:?} vs {:?}", theirs.columns, mine.columns)
    }
}

fn internal(message: &str) -> UserOpsError {
    UserOpsError::Internal(message.to_string())
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a worker panicked".to_string())
}
