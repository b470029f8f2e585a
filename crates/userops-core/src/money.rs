//! Exact money: amounts are held as integer micro-units (10^-6) and summed as `i128`,
//! so sums never depend on the order of rows (SPEC §1 "Money").

/// Micro-units per currency unit.
pub const MICROS_PER_UNIT: i64 = 1_000_000;

/// Converts a float amount to micro-units, rounding halves away from zero.
/// Returns `None` when the value is not finite or too large to hold in an `i64`.
pub fn float_to_micros(value: f64) -> Option<i64> {
    if !value.is_finite() {
        return None;
    }
    let scaled = (value * MICROS_PER_UNIT as f64).round();
    // i64::MAX as f64 rounds up to 2^63, so compare strictly.
    if scaled.abs() < 9.223_372_036_854_775e18 {
        Some(scaled as i64)
    } else {
        None
    }
}

/// Converts a decimal value with `scale` fractional digits to micro-units.
/// Scales up to 6 convert exactly; larger scales round halves away from zero.
pub fn decimal_to_micros(value: i128, scale: i8) -> Option<i64> {
    let micros = if scale <= 6 {
        let factor = 10i128.checked_pow((6 - scale as i32) as u32)?;
        value.checked_mul(factor)?
    } else {
        let divisor = 10i128.checked_pow((scale as i32 - 6) as u32)?;
        let quotient = value / divisor;
        let remainder = value % divisor;
        if remainder.abs() * 2 >= divisor {
            quotient + value.signum()
        } else {
            quotient
        }
    };
    i64::try_from(micros).ok()
}

/// Shows a micro-unit sum as a float number of currency units.
pub fn micros_to_f64(micros: i128) -> f64 {
    micros as f64 / MICROS_PER_UNIT as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_round_half_away_from_zero() {
        assert_eq!(float_to_micros(0.0000005), Some(1));
        assert_eq!(float_to_micros(-0.0000005), Some(-1));
        assert_eq!(float_to_micros(12.34), Some(12_340_000));
        assert_eq!(float_to_micros(f64::NAN), None);
        assert_eq!(float_to_micros(1e300), None);
    }

    #[test]
    fn decimals_keep_their_scale() {
        assert_eq!(decimal_to_micros(1234, 2), Some(12_340_000));
        assert_eq!(decimal_to_micros(5, 7), Some(1));
        assert_eq!(decimal_to_micros(-5, 7), Some(-1));
        assert_eq!(decimal_to_micros(4, 7), Some(0));
        assert_eq!(decimal_to_micros(7, -2), Some(700_000_000));
    }
}
