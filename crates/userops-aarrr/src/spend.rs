//! Channel spend for CAC (SPEC §1, §2): a small table (`channel`, `period_start`,
//! `spend`) passed as a parameter, a JSON list of rows, and bucketed into periods at
//! finish in the run's time zone.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use userops_core::money::float_to_micros;
use userops_core::time::days_from_civil;
use userops_core::{ParamInfo, Result, UserOpsError};

use crate::acquired::NO_CHANNEL;
use crate::cohort::PeriodOf;

/// When a spend row's period starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PeriodStart {
    /// An instant, microseconds since the epoch, UTC (from a Timestamp column).
    Micros(i64),
    /// A local calendar date `YYYY-MM-DD` in the run's time zone (from a Date32 column).
    Date(String),
}

/// One spend row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpendRow {
    /// The channel (null is `"(none)"`, like a null acquisition channel).
    pub channel: Option<String>,
    /// A date or instant inside the period the spend belongs to (usually its first day).
    pub period_start: PeriodStart,
    /// The amount spent; null adds nothing but still lists the (period, channel).
    pub spend: Option<f64>,
}

/// The documentation of the `spend` parameter.
pub const SPEND_DOC: ParamInfo = ParamInfo {
    name: "spend",
    doc: "channel spend for CAC: a list of {\"channel\", \"period_start\" (\"YYYY-MM-DD\" local date, or \
          microseconds UTC), \"spend\"} rows, bucketed into the run's periods; null (default) for none",
};

/// Parses `YYYY-MM-DD` into days since 1970-01-01.
fn parse_date(text: &str) -> Option<i32> {
    let b = text.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let year: i32 = text[0..4].parse().ok()?;
    let month: u32 = text[5..7].parse().ok()?;
    let day: u32 = text[8..10].parse().ok()?;
    if !(1..=12).contains(&month) || day == 0 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    // Reject 2023-02-30 and the like: the date must round-trip.
    (userops_core::time::civil_from_days(days) == (year, month, day)).then_some(days)
}

/// Checks a `spend` parameter: valid dates and finite amounts.
pub fn check_spend(plugin: &str, spend: &Option<Vec<SpendRow>>) -> Result<()> {
    for (i, row) in spend.iter().flatten().enumerate() {
        if let PeriodStart::Date(text) = &row.period_start {
            if parse_date(text).is_none() {
                return Err(UserOpsError::param(
                    plugin,
                    "spend",
                    format!("row {i}: period_start `{text}` is not a YYYY-MM-DD date"),
                ));
            }
        }
        if let Some(s) = row.spend {
            if float_to_micros(s).is_none() {
                return Err(UserOpsError::param(plugin, "spend", format!("row {i}: spend {s} is not a finite amount")));
            }
        }
    }
    Ok(())
}

/// Spend per (period index, channel label), exact micro-units. Rows whose period begins
/// after `end` (not observed) are left out.
pub fn spend_by_period(rows: &[SpendRow], periods: &mut PeriodOf, end: Option<i64>) -> BTreeMap<(i32, String), i128> {
    let mut out = BTreeMap::new();
    for row in rows {
        let index = match &row.period_start {
            PeriodStart::Micros(ts) => periods.index(*ts),
            PeriodStart::Date(text) => periods.period().index_of_day(parse_date(text).expect("checked at build")),
        };
        if end.is_some_and(|end| !periods.begun(index, end)) {
            continue;
        }
        let channel = row.channel.clone().unwrap_or_else(|| NO_CHANNEL.to_string());
        let micros = row.spend.and_then(float_to_micros).unwrap_or(0) as i128;
        *out.entry((index, channel)).or_insert(0) += micros;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use userops_core::{Period, TimeZone};

    #[test]
    fn dates_are_checked_and_bucketed_locally() {
        assert_eq!(parse_date("2024-02-29"), Some(days_from_civil(2024, 2, 29)));
        assert_eq!(parse_date("2023-02-29"), None);
        assert_eq!(parse_date("2024-1-01"), None);
        let rows: Vec<SpendRow> = serde_json::from_str(
            r#"[{"channel": "ads", "period_start": "2024-01-01", "spend": 10.5},
                {"channel": "ads", "period_start": 1706716800000000, "spend": 1.25},
                {"channel": null, "period_start": "2024-03-01", "spend": null}]"#,
        )
        .unwrap();
        check_spend("p", &Some(rows.clone())).unwrap();
        // 2024-01-31T16:00Z is February 1st in Shanghai.
        let mut periods = PeriodOf::new(Period::Month, &TimeZone::parse("Asia/Shanghai").unwrap());
        let spend = spend_by_period(&rows, &mut periods, None);
        let jan = Period::Month.index_of_day(days_from_civil(2024, 1, 1));
        assert_eq!(spend.get(&(jan, "ads".to_string())), Some(&10_500_000));
        assert_eq!(spend.get(&(jan + 1, "ads".to_string())), Some(&1_250_000));
        assert_eq!(spend.get(&(jan + 2, "(none)".to_string())), Some(&0));
        let bad: Vec<SpendRow> =
            serde_json::from_str(r#"[{"channel": "a", "period_start": "x", "spend": 1}]"#).unwrap();
        assert!(check_spend("p", &Some(bad)).is_err());
    }
}
