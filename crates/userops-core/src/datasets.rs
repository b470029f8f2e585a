//! Deterministic synthetic data: the demo shop (`userops.datasets.shop`), the embedded
//! default data of the demo, the notebooks, the tests and the benchmarks.
//!
//! Users sign up over a year through five channels (some referred by an earlier user,
//! after an invite), some visit before signing up, most activate, then visit and order
//! at their own rates over an exponentially distributed active life; some churn and
//! come back months later. About 5% of orders are refunded a few days later (a second
//! `order` row with the negative amount). The same `(users, seed)` always gives the
//! same table, on every platform.

use std::sync::Arc;

use arrow_array::types::Int8Type;
use arrow_array::{
    ArrayRef, DictionaryArray, Float64Array, Int64Array, Int8Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow_schema::{DataType, Field, Schema, TimeUnit};

use crate::error::{Result, UserOpsError};
use crate::time::{days_from_civil, MICROS_PER_DAY};

/// The event names of the shop, in dictionary order.
pub const SHOP_EVENTS: [&str; 5] = ["signup", "activate", "visit", "order", "invite"];
/// The acquisition channels of the shop, in dictionary order.
pub const SHOP_CHANNELS: [&str; 5] = ["organic", "search", "social", "ads", "referral"];
/// Days of signups; activity continues to the end of this span.
pub const SHOP_DAYS: i64 = 365;

/// A tiny deterministic generator (SplitMix64): stable across versions and platforms.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform float in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A uniform integer in `[0, n)` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    /// An exponential variate with the given mean.
    pub fn exponential(&mut self, mean: f64) -> f64 {
        -mean * (1.0 - self.unit()).ln()
    }

    /// Whether an event of probability `p` happens.
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
}

#[derive(Default)]
struct Columns {
    user: Vec<i64>,
    ts: Vec<i64>,
    event: Vec<i8>,
    amount: Vec<Option<f64>>,
    channel: Vec<Option<i8>>,
    referrer: Vec<Option<i64>>,
}

impl Columns {
    fn push(
        &mut self,
        user: i64,
        ts: i64,
        event: usize,
        amount: Option<f64>,
        channel: Option<i8>,
        referrer: Option<i64>,
    ) {
        self.user.push(user);
        self.ts.push(ts);
        self.event.push(event as i8);
        self.amount.push(amount);
        self.channel.push(channel);
        self.referrer.push(referrer);
    }
}

const SIGNUP: usize = 0;
const ACTIVATE: usize = 1;
const VISIT: usize = 2;
const ORDER: usize = 3;
const INVITE: usize = 4;

/// The schema of the shop table: `user_id` Int64, `ts` Timestamp(µs, UTC), `event`
/// and `channel` Dictionary(Int8, Utf8), `amount` Float64, `referrer_id` Int64.
pub fn shop_schema() -> Arc<Schema> {
    let dict = DataType::Dictionary(Box::new(DataType::Int8), Box::new(DataType::Utf8));
    Arc::new(Schema::new(vec![
        Field::new("user_id", DataType::Int64, false),
        Field::new("ts", DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())), false),
        Field::new("event", dict.clone(), false),
        Field::new("amount", DataType::Float64, true),
        Field::new("channel", dict, true),
        Field::new("referrer_id", DataType::Int64, true),
    ]))
}

/// Generates the shop's event log for `users` users (ids 1..=users) from `seed`.
/// About 20 events per user on average.
pub fn shop(users: u64, seed: u64) -> RecordBatch {
    generate(users, seed, 1.0)
}

/// [`shop`] with every user's visit rate multiplied by `activity` (1.0 is [`shop`]'s
/// data, bit for bit; 1.75 gives about 33 events per user, so 200M events are about
/// 6M users, the shape of the scale benchmark).
/// An `activity` that is not a positive finite number is an error (it would make no
/// visits, or never stop making them).
pub fn shop_with_activity(users: u64, seed: u64, activity: f64) -> Result<RecordBatch> {
    if !(activity.is_finite() && activity > 0.0) {
        return Err(UserOpsError::InvalidOption {
            option: "activity",
            message: format!("must be a positive finite number, got {activity}"),
        });
    }
    Ok(generate(users, seed, activity))
}

fn generate(users: u64, seed: u64, activity: f64) -> RecordBatch {
    let mut rng = SplitMix64::new(seed);
    let start = days_from_civil(2024, 1, 1) as i64 * MICROS_PER_DAY;
    let end = start + SHOP_DAYS * MICROS_PER_DAY;
    let mut out = Columns::default();
    let mut signups: Vec<i64> = Vec::with_capacity(users as usize);
    for id in 1..=users as i64 {
        // Signups grow over the year; ids are in signup order.
        let frac = ((id - 1) as f64 + rng.unit()) / users as f64;
        let signup = start + (frac.powf(0.8) * (SHOP_DAYS * MICROS_PER_DAY) as f64) as i64;
        signups.push(signup);
        let referred = id > 20 && rng.chance(0.15);
        let channel = if referred { 4 } else { [0, 0, 1, 1, 2, 3][rng.below(6) as usize] };
        let referrer = referred.then(|| 1 + rng.below((id - 1) as u64) as i64);
        if let Some(r) = referrer {
            let invited = signup - (rng.exponential(2.0) * MICROS_PER_DAY as f64) as i64;
            out.push(r, invited.max(signups[(r - 1) as usize]), INVITE, None, None, None);
        }
        if rng.chance(0.1) {
            let before = signup - (rng.exponential(3.0) * MICROS_PER_DAY as f64) as i64 - 1;
            out.push(id, before, VISIT, None, None, None);
        }
        out.push(id, signup, SIGNUP, None, Some(channel), referrer);
        if rng.chance(0.65) {
            let mean_days = if rng.chance(0.8) { 1.0 } else { 10.0 };
            let after = (rng.exponential(mean_days) * MICROS_PER_DAY as f64) as i64;
            if signup + after <= end {
                out.push(id, signup + after, ACTIVATE, None, None, None);
            }
        }
        user_life(&mut rng, &mut out, id, signup, end, activity);
    }
    build(out)
}

/// Visits, orders, refunds and invites over one user's active lives.
fn user_life(rng: &mut SplitMix64, out: &mut Columns, id: i64, signup: i64, end: i64, activity: f64) {
    let visits_per_day = (0.05 + rng.exponential(0.25)) * activity;
    let buyer = rng.chance(0.6);
    let order_per_visit = if buyer { 0.05 + rng.unit() * 0.3 } else { 0.0 };
    let basket = 20.0 + rng.exponential(40.0);
    let inviter = rng.chance(0.2);
    let mut life_start = signup;
    for life in 0..3 {
        let mean_days = if life == 0 { 60.0 } else { 40.0 };
        let life_end = (life_start + (rng.exponential(mean_days) * MICROS_PER_DAY as f64) as i64).min(end);
        let mut t = life_start;
        loop {
            t += (rng.exponential(1.0 / visits_per_day) * MICROS_PER_DAY as f64) as i64 + 1;
            if t > life_end {
                break;
            }
            out.push(id, t, VISIT, None, None, None);
            if rng.chance(order_per_visit) {
                let amount = (basket * (0.5 + rng.unit()) * 100.0).round() / 100.0;
                let ordered = t + 60_000_000 + rng.below(1_800_000_000) as i64;
                out.push(id, ordered, ORDER, Some(amount), None, None);
                if rng.chance(0.05) {
                    let refunded = ordered + (1 + rng.below(10) as i64) * MICROS_PER_DAY;
                    if refunded <= end {
                        out.push(id, refunded, ORDER, Some(-amount), None, None);
                    }
                }
            }
            if inviter && rng.chance(0.05) {
                out.push(id, t + 1, INVITE, None, None, None);
            }
        }
        // Some users come back after a long break.
        if !rng.chance(0.3) {
            break;
        }
        life_start = life_end + ((60.0 + rng.exponential(60.0)) * MICROS_PER_DAY as f64) as i64;
        if life_start >= end {
            break;
        }
    }
}

fn build(out: Columns) -> RecordBatch {
    let dict = |codes: Int8Array, names: &[&str]| -> ArrayRef {
        Arc::new(
            DictionaryArray::<Int8Type>::try_new(codes, Arc::new(StringArray::from(names.to_vec())))
                .expect("valid codes"),
        )
    };
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(out.user)),
        Arc::new(TimestampMicrosecondArray::from(out.ts).with_timezone("UTC")),
        dict(Int8Array::from(out.event), &SHOP_EVENTS),
        Arc::new(Float64Array::from(out.amount)),
        dict(Int8Array::from(out.channel), &SHOP_CHANNELS),
        Arc::new(Int64Array::from(out.referrer)),
    ];
    RecordBatch::try_new(shop_schema(), columns).expect("columns match the schema")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shop_is_deterministic_and_plausible() {
        let a = shop(2_000, 7);
        let b = shop(2_000, 7);
        assert_eq!(a, b);
        assert_ne!(a, shop(2_000, 8));
        let per_user = a.num_rows() as f64 / 2_000.0;
        assert!((5.0..60.0).contains(&per_user), "{per_user} events per user");
        assert_eq!(shop_with_activity(2_000, 7, 1.0).unwrap(), a);
        assert!(shop_with_activity(2_000, 7, 2.0).unwrap().num_rows() > a.num_rows());
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(shop_with_activity(10, 7, bad).is_err(), "activity {bad}");
        }
    }
}
