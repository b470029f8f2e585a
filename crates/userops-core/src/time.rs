//! Calendar arithmetic in one time zone (SPEC §1): timestamps are `i64` microseconds
//! since the Unix epoch (UTC instants); a day is a calendar day in the zone, a week an
//! ISO week starting Monday, a month a calendar month.

use chrono::{NaiveDate, Offset, TimeZone as _};
use serde::{Deserialize, Serialize};

use crate::error::{Result, UserOpsError};

/// Microseconds in one day of elapsed time (24 h).
pub const MICROS_PER_DAY: i64 = 86_400_000_000;
/// Microseconds in one hour.
pub const MICROS_PER_HOUR: i64 = 3_600_000_000;
/// Microseconds in one second.
pub const MICROS_PER_SECOND: i64 = 1_000_000;

/// The zone in which instants are bucketed into days, weeks and months.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum TimeZone {
    /// Coordinated Universal Time (the default).
    #[default]
    Utc,
    /// A fixed offset east of UTC, in seconds (from `+08:00`-style names).
    Fixed(i32),
    /// An IANA zone such as `Asia/Shanghai`, with its daylight-saving rules.
    Named(chrono_tz::Tz),
}

impl TimeZone {
    /// Parses `UTC`, an IANA name (`Asia/Shanghai`) or a fixed offset (`+08:00`, `-0530`).
    pub fn parse(name: &str) -> Result<Self> {
        let trimmed = name.trim();
        if trimmed.eq_ignore_ascii_case("utc") || trimmed == "Z" || trimmed.is_empty() {
            return Ok(TimeZone::Utc);
        }
        if let Some(seconds) = parse_fixed_offset(trimmed) {
            return Ok(if seconds == 0 { TimeZone::Utc } else { TimeZone::Fixed(seconds) });
        }
        trimmed.parse::<chrono_tz::Tz>().map(TimeZone::Named).map_err(|_| UserOpsError::InvalidOption {
            option: "tz",
            message: format!(
                "unknown time zone `{name}`; use `UTC`, an IANA name such as `Asia/Shanghai`, or an offset such as `+08:00`"
            ),
        })
    }

    /// The zone's canonical name (round-trips through [`TimeZone::parse`]).
    pub fn name(&self) -> String {
        match self {
            TimeZone::Utc => "UTC".to_string(),
            TimeZone::Fixed(seconds) => {
                let sign = if *seconds < 0 { '-' } else { '+' };
                let abs = seconds.unsigned_abs();
                format!("{sign}{:02}:{:02}", abs / 3600, (abs % 3600) / 60)
            }
            TimeZone::Named(tz) => tz.name().to_string(),
        }
    }

    /// The zone's offset from UTC, in microseconds, at the UTC instant `ts`.
    pub fn offset_micros(&self, ts: i64) -> i64 {
        match self {
            TimeZone::Utc => 0,
            TimeZone::Fixed(seconds) => *seconds as i64 * MICROS_PER_SECOND,
            TimeZone::Named(tz) => {
                let seconds = ts.div_euclid(MICROS_PER_SECOND);
                let naive = chrono::DateTime::from_timestamp(seconds, 0).map(|d| d.naive_utc()).unwrap_or_default();
                tz.offset_from_utc_datetime(&naive).fix().local_minus_utc() as i64 * MICROS_PER_SECOND
            }
        }
    }

    /// The local calendar day of the instant `ts`, as days since 1970-01-01.
    pub fn local_day(&self, ts: i64) -> i32 {
        (ts + self.offset_micros(ts)).div_euclid(MICROS_PER_DAY) as i32
    }

    /// The UTC instant at which local day `day` begins. In a daylight-saving gap at
    /// midnight, the first local instant that exists that day.
    pub fn day_start(&self, day: i32) -> i64 {
        let local_midnight = day as i64 * MICROS_PER_DAY;
        match self {
            TimeZone::Utc => local_midnight,
            TimeZone::Fixed(seconds) => local_midnight - *seconds as i64 * MICROS_PER_SECOND,
            TimeZone::Named(tz) => {
                let date = NaiveDate::from_num_days_from_ce_opt(day + 719_163).unwrap_or_default();
                // Walk forward through a gap (at most a few hours) to the first valid local time.
                for minutes in (0..=180).step_by(15) {
                    let local = date.and_hms_opt(0, 0, 0).unwrap_or_default() + chrono::Duration::minutes(minutes);
                    if let Some(instant) = tz.from_local_datetime(&local).earliest() {
                        return instant.timestamp() * MICROS_PER_SECOND;
                    }
                }
                local_midnight - self.offset_micros(local_midnight) // unreachable in practice
            }
        }
    }

    /// The last microsecond of local day `day`: a bare date given as `as_of` means this.
    pub fn day_end(&self, day: i32) -> i64 {
        self.day_start(day + 1) - 1
    }
}

impl Serialize for TimeZone {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.name())
    }
}

impl<'de> Deserialize<'de> for TimeZone {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        TimeZone::parse(&name).map_err(serde::de::Error::custom)
    }
}

fn parse_fixed_offset(text: &str) -> Option<i32> {
    let text = text.strip_prefix("UTC").unwrap_or(text);
    let (sign, rest) = match text.as_bytes().first()? {
        b'+' => (1, &text[1..]),
        b'-' => (-1, &text[1..]),
        _ => return None,
    };
    let digits: String = rest.chars().filter(|c| *c != ':').collect();
    if digits.is_empty() || digits.len() > 4 || !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let (hours, minutes) = if digits.len() <= 2 {
        (digits.parse::<i32>().ok()?, 0)
    } else {
        let split = digits.len() - 2;
        (digits[..split].parse::<i32>().ok()?, digits[split..].parse::<i32>().ok()?)
    };
    if hours > 18 || minutes > 59 {
        return None;
    }
    Some(sign * (hours * 3600 + minutes * 60))
}

/// Hours remembered by a [`LocalDays`] of a named zone (a direct-mapped table: about
/// 3.7 years of hours without a collision).
const CACHED_HOURS: usize = 1 << 15;

/// Local calendar days of instants in one zone, fast for any row order: the zone's
/// offset is looked up once per UTC hour and remembered in a direct-mapped table (an
/// hour in which the offset changes is never remembered), so a named zone costs little
/// more than UTC. Exact: always the day of [`TimeZone::local_day`]. A plugin state keeps
/// one for its whole life (it is not part of the serialized state).
#[derive(Debug, Clone)]
pub struct LocalDays {
    tz: TimeZone,
    fixed: Option<i64>,
    /// `hours[i]` is the UTC hour whose offset is `offsets[i]` (`i64::MIN` when empty).
    hours: Vec<i64>,
    offsets: Vec<i64>,
    day: i32,
    period: Option<(Period, i32)>,
}

impl LocalDays {
    /// A lookup for zone `tz`.
    pub fn new(tz: &TimeZone) -> Self {
        let fixed = match tz {
            TimeZone::Utc => Some(0),
            TimeZone::Fixed(_) => Some(tz.offset_micros(0)),
            TimeZone::Named(_) => None,
        };
        LocalDays { tz: tz.clone(), fixed, hours: Vec::new(), offsets: Vec::new(), day: i32::MIN, period: None }
    }

    /// The local day of `ts` (days since 1970-01-01).
    #[inline]
    pub fn day(&mut self, ts: i64) -> i32 {
        if let Some(offset) = self.fixed {
            return (ts + offset).div_euclid(MICROS_PER_DAY) as i32;
        }
        let hour = ts.div_euclid(MICROS_PER_HOUR);
        let slot = hour.rem_euclid(CACHED_HOURS as i64) as usize;
        if self.hours.get(slot) == Some(&hour) {
            return (ts + self.offsets[slot]).div_euclid(MICROS_PER_DAY) as i32;
        }
        let start = hour * MICROS_PER_HOUR;
        let offset = self.tz.offset_micros(start);
        if offset != self.tz.offset_micros(start + MICROS_PER_HOUR - 1) {
            return self.tz.local_day(ts); // the offset changes within this hour
        }
        if self.hours.is_empty() {
            self.hours = vec![i64::MIN; CACHED_HOURS];
            self.offsets = vec![0; CACHED_HOURS];
        }
        self.hours[slot] = hour;
        self.offsets[slot] = offset;
        (ts + offset).div_euclid(MICROS_PER_DAY) as i32
    }

    /// The index of the local period of `ts` ([`Period::index`]).
    #[inline]
    pub fn period(&mut self, period: Period, ts: i64) -> i32 {
        let day = self.day(ts);
        match self.period {
            Some((p, index)) if p == period && day == self.day => index,
            _ => {
                let index = period.index_of_day(day);
                self.day = day;
                self.period = Some((period, index));
                index
            }
        }
    }
}

/// A calendar period for bucketing: day, ISO week (Monday start) or month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Period {
    /// A calendar day.
    Day,
    /// An ISO week, Monday to Sunday.
    Week,
    /// A calendar month.
    Month,
}

impl Period {
    /// The period containing local day `day`, as a dense index (consecutive periods
    /// have consecutive indices, so offsets are differences of indices).
    pub fn index_of_day(self, day: i32) -> i32 {
        match self {
            Period::Day => day,
            // 1970-01-01 was a Thursday; 1969-12-29 (day -3) a Monday.
            Period::Week => (day + 3).div_euclid(7),
            Period::Month => {
                let (year, month, _) = civil_from_days(day);
                year * 12 + (month as i32 - 1)
            }
        }
    }

    /// The period containing the instant `ts` in zone `tz`.
    pub fn index(self, ts: i64, tz: &TimeZone) -> i32 {
        self.index_of_day(tz.local_day(ts))
    }

    /// The first local day of period `index`, as days since 1970-01-01 (an Arrow Date32).
    pub fn start_day(self, index: i32) -> i32 {
        match self {
            Period::Day => index,
            Period::Week => index * 7 - 3,
            Period::Month => days_from_civil(index.div_euclid(12), (index.rem_euclid(12) + 1) as u32, 1),
        }
    }

    /// The UTC instant at which period `index` begins in zone `tz`.
    pub fn start_instant(self, index: i32, tz: &TimeZone) -> i64 {
        tz.day_start(self.start_day(index))
    }

    /// The UTC instant at which period `index` ends (exclusive: the next one's start).
    pub fn end_instant(self, index: i32, tz: &TimeZone) -> i64 {
        self.start_instant(index + 1, tz)
    }

    /// Whether period `index` is fully observed by the end of data `end`: its last
    /// instant is at or before `end`, so `as_of` given as a bare date completes the
    /// period that ends with that day (SPEC §1 `complete`).
    pub fn is_complete(self, index: i32, tz: &TimeZone, end: i64) -> bool {
        self.end_instant(index, tz) - 1 <= end
    }

    /// The length of a rolling window for this period: 1, 7 or 30 days (SPEC §4).
    pub fn rolling_micros(self) -> i64 {
        match self {
            Period::Day => MICROS_PER_DAY,
            Period::Week => 7 * MICROS_PER_DAY,
            Period::Month => 30 * MICROS_PER_DAY,
        }
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
pub fn days_from_civil(year: i32, month: u32, day: u32) -> i32 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = month as i32;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day as i32 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The (year, month, day) of days since 1970-01-01 (H. Hinnant's algorithm).
pub fn civil_from_days(days: i32) -> (i32, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + if month <= 2 { 1 } else { 0 };
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        for day in -800_000..800_000 {
            let (y, m, d) = civil_from_days(day);
            assert_eq!(days_from_civil(y, m, d), day);
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(days_from_civil(2024, 2, 29), 19_782);
    }

    #[test]
    fn weeks_start_on_monday() {
        let monday = days_from_civil(2024, 1, 1); // a Monday
        let sunday = days_from_civil(2024, 1, 7);
        assert_eq!(Period::Week.index_of_day(monday), Period::Week.index_of_day(sunday));
        assert_eq!(Period::Week.index_of_day(sunday) + 1, Period::Week.index_of_day(sunday + 1));
        assert_eq!(Period::Week.start_day(Period::Week.index_of_day(sunday)), monday);
    }

    #[test]
    fn months_are_calendar_months() {
        let jan31 = days_from_civil(2024, 1, 31);
        let feb1 = days_from_civil(2024, 2, 1);
        assert_eq!(Period::Month.index_of_day(jan31) + 1, Period::Month.index_of_day(feb1));
        assert_eq!(Period::Month.start_day(Period::Month.index_of_day(jan31)), days_from_civil(2024, 1, 1));
        let dec = Period::Month.index_of_day(days_from_civil(1969, 12, 5));
        assert_eq!(Period::Month.start_day(dec), days_from_civil(1969, 12, 1));
    }

    #[test]
    fn zones_shift_the_local_day() {
        let tz = TimeZone::parse("Asia/Shanghai").unwrap();
        // 2024-01-01T20:00Z is 2024-01-02 04:00 in Shanghai.
        let ts = (days_from_civil(2024, 1, 1) as i64) * MICROS_PER_DAY + 20 * MICROS_PER_HOUR;
        assert_eq!(tz.local_day(ts), days_from_civil(2024, 1, 2));
        assert_eq!(TimeZone::parse("+08:00").unwrap().local_day(ts), days_from_civil(2024, 1, 2));
        assert_eq!(TimeZone::Utc.local_day(ts), days_from_civil(2024, 1, 1));
        let start = tz.day_start(days_from_civil(2024, 1, 2));
        assert_eq!(start, (days_from_civil(2024, 1, 1) as i64) * MICROS_PER_DAY + 16 * MICROS_PER_HOUR);
        assert!(TimeZone::parse("Mars/Olympus").is_err());
        assert_eq!(TimeZone::parse("-05:30").unwrap().name(), "-05:30");
    }

    #[test]
    fn cached_local_days_match_the_zone() {
        for name in ["UTC", "+05:30", "Asia/Shanghai", "America/New_York", "Australia/Lord_Howe"] {
            let tz = TimeZone::parse(name).unwrap();
            let mut days = LocalDays::new(&tz);
            let mut cold = LocalDays::new(&tz);
            // Every 7 minutes over 2024, across every DST change, forwards and back.
            let start = 19_723 * MICROS_PER_DAY;
            let step = 7 * 60 * MICROS_PER_SECOND;
            for i in (0..75_000).chain((0..75_000).rev()) {
                let ts = start + i * step;
                assert_eq!(days.day(ts), tz.local_day(ts), "{name} at {ts}");
                assert_eq!(days.day(ts + 3 * MICROS_PER_DAY), cold.day(ts + 3 * MICROS_PER_DAY));
                assert_eq!(days.period(Period::Month, ts), Period::Month.index(ts, &tz));
                assert_eq!(days.period(Period::Week, ts), Period::Week.index(ts, &tz));
            }
        }
    }

    #[test]
    fn cached_local_days_handle_far_apart_instants() {
        for name in ["UTC", "+08:00", "Asia/Shanghai", "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu"] {
            let tz = TimeZone::parse(name).unwrap();
            let mut days = LocalDays::new(&tz);
            let start = days_from_civil(2023, 1, 1) as i64 * MICROS_PER_DAY;
            let mut ts = start;
            while ts < start + 800 * MICROS_PER_DAY {
                assert_eq!(days.day(ts), tz.local_day(ts), "{name} at {ts}");
                ts += 7 * 60 * MICROS_PER_SECOND + 13;
            }
            // Out of order and far apart: slots are shared by hours 2^14 apart.
            let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
            for _ in 0..20_000 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let ts = start - 40 * 365 * MICROS_PER_DAY + (x % (80 * 365 * MICROS_PER_DAY as u64)) as i64;
                assert_eq!(days.day(ts), tz.local_day(ts), "{name} at {ts}");
            }
        }
    }

    #[test]
    fn dst_days_start_at_their_first_instant() {
        let tz = TimeZone::parse("America/New_York").unwrap();
        let day = days_from_civil(2024, 3, 10); // spring forward at 02:00
        let next = days_from_civil(2024, 3, 11);
        assert_eq!(tz.day_start(next) - tz.day_start(day), 23 * MICROS_PER_HOUR);
        assert_eq!(tz.local_day(tz.day_start(day)), day);
        assert_eq!(tz.local_day(tz.day_end(day)), day);
    }
}
