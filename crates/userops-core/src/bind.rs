//! Binding: checks the input schema once against the columns a run needs, then turns
//! each Arrow batch into a normalized [`Events`] batch (DESIGN "Bind"). All type
//! juggling happens here.

use arrow_array::cast::AsArray;
use arrow_array::types::*;
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_buffer::ArrowNativeType;
use arrow_schema::{DataType, Schema, TimeUnit};
use hashbrown::HashMap;

use crate::columns::{Column, ColumnNames, ColumnNeeds};
use crate::error::{Result, UserOpsError};
use crate::events::{CodedStrings, Events, NULL_CODE};
use crate::money::{decimal_to_micros, float_to_micros, MICROS_PER_UNIT};
use crate::stats::ScanStats;
use crate::time::{TimeZone, MICROS_PER_DAY};
use crate::users::{map_keys, KeyKind, KeyRef, UserDict, ACCEPTED_KEY_TYPES};

const ACCEPTED_TS: &str = "Timestamp (any unit, with or without time zone), Date32, Date64";
const ACCEPTED_STRINGS: &str = "Utf8, LargeUtf8, Utf8View, Dictionary(_, Utf8)";
const ACCEPTED_AMOUNT: &str = "Float64, Float32, Int64, Int32, Decimal128";

/// Where each needed column is in the input schema. Built once per input.
#[derive(Debug, Clone)]
pub struct Binding {
    names: ColumnNames,
    index: [Option<usize>; 6],
    key_kind: KeyKind,
    tz: TimeZone,
    as_of: Option<i64>,
    events: Option<Vec<String>>,
}

fn is_string_type(data_type: &DataType) -> bool {
    match data_type {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Dictionary(key, value) => key.is_integer() && is_string_type(value),
        _ => false,
    }
}

fn accepted(column: Column, data_type: &DataType) -> Option<&'static str> {
    let ok = match column {
        Column::UserId | Column::ReferrerId => KeyKind::of_type(data_type).is_some(),
        Column::Ts => matches!(data_type, DataType::Timestamp(_, _) | DataType::Date32 | DataType::Date64),
        Column::Event | Column::Channel => is_string_type(data_type),
        Column::Amount => matches!(
            data_type,
            DataType::Float64 | DataType::Float32 | DataType::Int64 | DataType::Int32 | DataType::Decimal128(_, _)
        ),
    };
    if ok {
        return None;
    }
    Some(match column {
        Column::UserId | Column::ReferrerId => ACCEPTED_KEY_TYPES,
        Column::Ts => ACCEPTED_TS,
        Column::Event | Column::Channel => ACCEPTED_STRINGS,
        Column::Amount => ACCEPTED_AMOUNT,
    })
}

impl Binding {
    /// Checks `schema` for the columns in `needs` under the caller's `names`. A missing
    /// required column or a column of an unsupported type is an error naming it.
    /// `tz` places Date32/Date64 values (a date is the start of that local day);
    /// rows after `as_of` (microseconds UTC) are left out and counted.
    pub fn new(
        schema: &Schema,
        names: &ColumnNames,
        needs: ColumnNeeds,
        tz: &TimeZone,
        as_of: Option<i64>,
    ) -> Result<Self> {
        let mut index = [None; 6];
        let present = || schema.fields().iter().map(|f| f.name().as_str()).collect::<Vec<_>>().join(", ");
        for column in needs.required.union(needs.optional).iter() {
            let name = names.name(column);
            match schema.index_of(name) {
                Ok(i) => {
                    let data_type = schema.field(i).data_type();
                    if let Some(accepted) = accepted(column, data_type) {
                        return Err(UserOpsError::UnsupportedType {
                            column: name.to_string(),
                            role: column.role(),
                            found: data_type.to_string(),
                            accepted,
                        });
                    }
                    index[column as usize] = Some(i);
                }
                Err(_) if needs.required.contains(column) => {
                    return Err(UserOpsError::MissingColumn {
                        column: name.to_string(),
                        role: column.role(),
                        present: present(),
                    })
                }
                Err(_) => {}
            }
        }
        let user_index = index[Column::UserId as usize].expect("user_id is always required");
        let key_kind = KeyKind::of_type(schema.field(user_index).data_type()).expect("checked above");
        if let Some(r) = index[Column::ReferrerId as usize] {
            let found = KeyKind::of_type(schema.field(r).data_type()).expect("checked above");
            if found != key_kind {
                return Err(UserOpsError::MismatchedKeyKind {
                    column: names.referrer_id.clone(),
                    found: found.describe(),
                    expected: key_kind.describe(),
                });
            }
        }
        Ok(Binding { names: names.clone(), index, key_kind, tz: tz.clone(), as_of, events: None })
    }

    /// Passes on only rows whose event is in `events` (`None`: every row). Rows of other
    /// events still count in the scan counters and the end of data D, but their users
    /// are not looked up: the plugins of the run declared they never read them.
    pub fn with_event_filter(mut self, events: Option<Vec<String>>) -> Self {
        self.events = events.filter(|_| self.has(Column::Event));
        self
    }

    /// The kind of user keys this input has.
    pub fn key_kind(&self) -> KeyKind {
        self.key_kind
    }

    /// Whether the input has `column` and the run reads it.
    pub fn has(&self, column: Column) -> bool {
        self.index[column as usize].is_some()
    }

    fn array<'a>(&self, batch: &'a RecordBatch, column: Column) -> Option<&'a ArrayRef> {
        self.index[column as usize].map(|i| batch.column(i))
    }

    /// Normalizes one batch, interning its users (and referrers) into `users`, and
    /// adds what it saw to `stats`.
    pub fn normalize(&self, batch: &RecordBatch, users: &mut UserDict, stats: &mut ScanStats) -> Result<Events> {
        users.set_kind(self.key_kind)?;
        let n = batch.num_rows();
        stats.batches += 1;
        stats.rows_read += n as u64;
        let user_array = self.array(batch, Column::UserId).expect("bound");
        let ts_array = self.array(batch, Column::Ts).expect("bound");
        let ts = timestamps(ts_array, &self.tz);

        // 1. Valid rows: a user, a timestamp, not after as_of. Only computed when some row is not.
        let late = |t: i64| self.as_of.is_some_and(|a| t > a);
        let mut keep = None;
        if user_array.null_count() > 0 || ts_array.null_count() > 0 || ts.iter().any(|t| late(*t)) {
            let mut valid = Vec::with_capacity(n);
            for (row, t) in ts.iter().enumerate() {
                valid.push(if user_array.is_null(row) {
                    stats.null_user_id += 1;
                    false
                } else if ts_array.is_null(row) {
                    stats.null_ts += 1;
                    false
                } else if late(*t) {
                    stats.after_as_of += 1;
                    false
                } else {
                    true
                });
            }
            keep = Some(valid);
        }
        let is_valid = |keep: &Option<Vec<bool>>, row: usize| keep.as_ref().is_none_or(|k| k[row]);
        let valid_ts = (0..n).filter(|r| is_valid(&keep, *r)).map(|r| ts[r]);
        let (lo, hi, count) = valid_ts.fold((i64::MAX, i64::MIN, 0u64), |(lo, hi, c), t| (lo.min(t), hi.max(t), c + 1));
        if count > 0 {
            stats.min_ts = Some(stats.min_ts.map_or(lo, |m| m.min(lo)));
            stats.max_ts = Some(stats.max_ts.map_or(hi, |m| m.max(hi)));
        }
        stats.rows_used += count;

        // 2. Events: null names counted over valid rows; rows of unread events left out.
        let mut event = self.array(batch, Column::Event).map(code_strings).transpose()?;
        if let Some(e) = &event {
            stats.null_event += (0..n).filter(|r| is_valid(&keep, *r) && e.codes[*r] == NULL_CODE).count() as u64;
            if let Some(wanted) = &self.events {
                let member = e.membership(wanted);
                keep = Some((0..n).map(|r| is_valid(&keep, r) && e.is_member(&member, r)).collect());
            }
        }
        let keep = keep.as_deref();

        // 3. Users and the other columns, for the rows passed on only.
        let user = intern_keys(user_array, keep, users)?.into_iter().map(|u| u.unwrap_or(0)).collect();
        let referrer = match self.array(batch, Column::ReferrerId) {
            Some(a) => Some(intern_keys(a, keep, users)?),
            None => None,
        };
        if let Some(e) = event.as_mut() {
            e.codes = select(std::mem::take(&mut e.codes), keep);
        }
        let amount = match self.array(batch, Column::Amount) {
            Some(a) => Some(amounts(a, keep, &self.names.amount, stats)?),
            None => None,
        };
        let channel = self.array(batch, Column::Channel).map(code_strings).transpose()?.map(|mut c| {
            c.codes = select(c.codes, keep);
            c
        });
        Ok(Events { user, ts: select(ts, keep), event, amount, channel, referrer, user_count: users.len() })
    }
}

/// The rows of `values` marked in `keep` (all of them when `keep` is `None`).
fn select<T: Copy>(values: Vec<T>, keep: Option<&[bool]>) -> Vec<T> {
    match keep {
        None => values,
        Some(keep) => values.into_iter().zip(keep).filter(|(_, k)| **k).map(|(v, _)| v).collect(),
    }
}

/// Interns the keys of the rows marked in `keep` (all rows when `None`); `None` for a
/// null key. Integer keys reuse the previous row's index when the key repeats, as it
/// does in logs grouped by user; dictionary values are interned once each, lazily.
fn intern_keys(array: &ArrayRef, keep: Option<&[bool]>, users: &mut UserDict) -> Result<Vec<Option<u32>>> {
    let rows = (0..array.len()).filter(|r| keep.is_none_or(|k| k[*r]));
    let mut out = Vec::with_capacity(keep.map_or(array.len(), |k| k.iter().filter(|x| **x).count()));
    macro_rules! ints {
        ($t:ty, $key:expr) => {{
            let a = array.as_primitive::<$t>();
            let mut last = None;
            for row in rows {
                out.push(if a.is_null(row) {
                    None
                } else {
                    let k = a.value(row);
                    Some(match last {
                        Some((prev, id)) if prev == k => id,
                        _ => {
                            let id = users.intern($key(k))?;
                            last = Some((k, id));
                            id
                        }
                    })
                });
            }
        }};
    }
    macro_rules! strings {
        ($a:expr) => {{
            let a = $a;
            for row in rows {
                out.push(if a.is_null(row) { None } else { Some(users.intern(KeyRef::Str(a.value(row)))?) });
            }
        }};
    }
    match array.data_type() {
        DataType::Int64 => ints!(Int64Type, KeyRef::Int),
        DataType::Int32 => ints!(Int32Type, |k: i32| KeyRef::Int(k as i64)),
        DataType::UInt64 => ints!(UInt64Type, KeyRef::UInt),
        DataType::Utf8 => strings!(array.as_string::<i32>()),
        DataType::LargeUtf8 => strings!(array.as_string::<i64>()),
        DataType::Utf8View => strings!(array.as_string_view()),
        DataType::Dictionary(_, _) => {
            // Intern each distinct dictionary value at most once, on first use.
            let keys = dictionary_keys(array)?;
            let mut ids: Vec<Option<u32>> = vec![None; keys.1.len()];
            for row in rows {
                out.push(match keys.0[row] {
                    None => None,
                    Some(k) => Some(match ids[k] {
                        Some(id) => id,
                        None => {
                            let id = map_keys(keys.1.slice(k, 1).as_ref(), |key| users.intern(key))?[0]
                                .ok_or_else(|| UserOpsError::Internal("null dictionary value".into()))?;
                            ids[k] = Some(id);
                            id
                        }
                    }),
                });
            }
        }
        other => {
            return Err(UserOpsError::UnsupportedType {
                column: String::new(),
                role: "user_id",
                found: other.to_string(),
                accepted: ACCEPTED_KEY_TYPES,
            })
        }
    }
    Ok(out)
}

/// The keys (as `usize`, `None` for null) and the values of a dictionary array.
fn dictionary_keys(array: &ArrayRef) -> Result<(Vec<Option<usize>>, ArrayRef)> {
    fn keys<K: ArrowDictionaryKeyType>(array: &ArrayRef) -> (Vec<Option<usize>>, ArrayRef) {
        let d = array.as_dictionary::<K>();
        (d.keys().iter().map(|k| k.and_then(|k| k.to_usize())).collect(), d.values().clone())
    }
    let DataType::Dictionary(key, _) = array.data_type() else {
        return Err(UserOpsError::Internal("not a dictionary".into()));
    };
    Ok(match key.as_ref() {
        DataType::Int8 => keys::<Int8Type>(array),
        DataType::Int16 => keys::<Int16Type>(array),
        DataType::Int32 => keys::<Int32Type>(array),
        DataType::Int64 => keys::<Int64Type>(array),
        DataType::UInt8 => keys::<UInt8Type>(array),
        DataType::UInt16 => keys::<UInt16Type>(array),
        DataType::UInt32 => keys::<UInt32Type>(array),
        DataType::UInt64 => keys::<UInt64Type>(array),
        other => {
            return Err(UserOpsError::InvalidOption {
                option: "columns",
                message: format!("dictionary key type {other}"),
            })
        }
    })
}

/// Timestamps as UTC microseconds (0 where null: the caller checks validity). A
/// Date32/Date64 is the start of that calendar day in `tz`.
fn timestamps(array: &ArrayRef, tz: &TimeZone) -> Vec<i64> {
    fn scale<T: ArrowPrimitiveType<Native = i64>>(array: &ArrayRef, f: impl Fn(i64) -> i64) -> Vec<i64> {
        array.as_primitive::<T>().values().iter().map(|v| f(*v)).collect()
    }
    match array.data_type() {
        DataType::Timestamp(TimeUnit::Second, _) => {
            scale::<TimestampSecondType>(array, |v| v.saturating_mul(1_000_000))
        }
        DataType::Timestamp(TimeUnit::Millisecond, _) => {
            scale::<TimestampMillisecondType>(array, |v| v.saturating_mul(1_000))
        }
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            array.as_primitive::<TimestampMicrosecondType>().values().to_vec()
        }
        DataType::Timestamp(TimeUnit::Nanosecond, _) => {
            scale::<TimestampNanosecondType>(array, |v| v.div_euclid(1_000))
        }
        DataType::Date32 => array.as_primitive::<Date32Type>().values().iter().map(|d| tz.day_start(*d)).collect(),
        DataType::Date64 => {
            scale::<Date64Type>(array, |ms| tz.day_start((ms.saturating_mul(1000)).div_euclid(MICROS_PER_DAY) as i32))
        }
        _ => unreachable!("checked by Binding::new"),
    }
}

/// Amounts as micro-units, for the rows marked in `keep` (all when `None`). NaN and
/// infinities are counted in `stats` (the run fails at finish with the total) and read
/// as null meanwhile; a value too large to hold is an error naming it.
fn amounts(array: &ArrayRef, keep: Option<&[bool]>, column: &str, stats: &mut ScanStats) -> Result<Vec<Option<i64>>> {
    let too_large = |v: String| UserOpsError::AmountOutOfRange { column: column.to_string(), value: v };
    let rows = (0..array.len()).filter(|r| keep.is_none_or(|k| k[*r]));
    let mut non_finite = 0u64;
    let mut float = |x: f64| -> Result<Option<i64>> {
        if !x.is_finite() {
            non_finite += 1;
            return Ok(None);
        }
        float_to_micros(x).map(Some).ok_or_else(|| too_large(x.to_string()))
    };
    let out = match array.data_type() {
        DataType::Float64 => {
            let a = array.as_primitive::<Float64Type>();
            rows.map(|r| if a.is_null(r) { Ok(None) } else { float(a.value(r)) }).collect()
        }
        DataType::Float32 => {
            let a = array.as_primitive::<Float32Type>();
            rows.map(|r| if a.is_null(r) { Ok(None) } else { float(a.value(r) as f64) }).collect()
        }
        DataType::Int64 => {
            let a = array.as_primitive::<Int64Type>();
            let micros = |x: i64| x.checked_mul(MICROS_PER_UNIT).ok_or_else(|| too_large(x.to_string()));
            rows.map(|r| a.is_valid(r).then(|| micros(a.value(r))).transpose()).collect()
        }
        DataType::Int32 => {
            let a = array.as_primitive::<Int32Type>();
            rows.map(|r| Ok(a.is_valid(r).then(|| a.value(r) as i64 * MICROS_PER_UNIT))).collect()
        }
        DataType::Decimal128(_, scale) => {
            let (a, scale) = (array.as_primitive::<Decimal128Type>(), *scale);
            let micros = |x: i128| decimal_to_micros(x, scale).ok_or_else(|| too_large(x.to_string()));
            rows.map(|r| a.is_valid(r).then(|| micros(a.value(r))).transpose()).collect()
        }
        _ => unreachable!("checked by Binding::new"),
    };
    stats.non_finite_amount += non_finite;
    out
}

/// Codes a string column against a batch-local dictionary.
pub fn code_strings(array: &ArrayRef) -> Result<CodedStrings> {
    fn from_iter<'a>(values: impl Iterator<Item = Option<&'a str>>) -> CodedStrings {
        let mut lookup: HashMap<&'a str, u32> = HashMap::new();
        let mut names = Vec::new();
        let codes = values
            .map(|v| match v {
                None => NULL_CODE,
                Some(s) => *lookup.entry(s).or_insert_with(|| {
                    names.push(s.to_string());
                    (names.len() - 1) as u32
                }),
            })
            .collect();
        CodedStrings { codes, names }
    }
    fn from_dict<K: ArrowDictionaryKeyType>(array: &ArrayRef) -> Result<CodedStrings> {
        let dict = array.as_dictionary::<K>();
        let values = code_strings(dict.values())?;
        let codes =
            dict.keys().iter().map(|k| k.and_then(|k| k.to_usize()).map_or(NULL_CODE, |k| values.codes[k])).collect();
        Ok(CodedStrings { codes, names: values.names })
    }
    match array.data_type() {
        DataType::Utf8 => Ok(from_iter(array.as_string::<i32>().iter())),
        DataType::LargeUtf8 => Ok(from_iter(array.as_string::<i64>().iter())),
        DataType::Utf8View => Ok(from_iter(array.as_string_view().iter())),
        DataType::Dictionary(key, _) => match key.as_ref() {
            DataType::Int8 => from_dict::<Int8Type>(array),
            DataType::Int16 => from_dict::<Int16Type>(array),
            DataType::Int32 => from_dict::<Int32Type>(array),
            DataType::Int64 => from_dict::<Int64Type>(array),
            DataType::UInt8 => from_dict::<UInt8Type>(array),
            DataType::UInt16 => from_dict::<UInt16Type>(array),
            DataType::UInt32 => from_dict::<UInt32Type>(array),
            DataType::UInt64 => from_dict::<UInt64Type>(array),
            other => {
                Err(UserOpsError::InvalidOption { option: "columns", message: format!("dictionary key type {other}") })
            }
        },
        other => {
            Err(UserOpsError::InvalidOption { option: "columns", message: format!("not a string column: {other}") })
        }
    }
}
