//! PostgreSQL's binary formats of `numeric`, `interval` and the range types, written by
//! hand: the WIT carries decimals as strings, so no decimal crate is needed.

use super::wit::{Interval, RangeBoundKind};
use std::error::Error as StdError;
use std::fmt::Write as _;
use tokio_postgres::types::{FromSql, Type};

pub(super) type BoxError = Box<dyn StdError + Sync + Send>;

// --- numeric ------------------------------------------------------------------------
//
// Binary format: ndigits (i16), weight (i16), sign (u16), dscale (u16), then `ndigits`
// base-10000 digits (i16 each). The value is sum(digit[i] * 10000^(weight - i)), shown
// with `dscale` decimals.

const NUMERIC_POS: u16 = 0x0000;
const NUMERIC_NEG: u16 = 0x4000;
const NUMERIC_NAN: u16 = 0xC000;
const NUMERIC_PINF: u16 = 0xD000;
const NUMERIC_NINF: u16 = 0xF000;
/// PostgreSQL's limits: 131072 digits before the decimal point, 16383 after.
const NUMERIC_MAX_INT_DIGITS: i64 = 131_072;
const NUMERIC_MAX_DSCALE: i64 = 0x3FFF;

/// A `numeric` value as decimal text, decoded by [`numeric_from_sql`].
pub struct Numeric(pub String);

impl<'a> FromSql<'a> for Numeric {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        numeric_from_sql(raw).map(Numeric)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::NUMERIC
    }
}

pub(super) fn take<'a>(raw: &mut &'a [u8], n: usize) -> Result<&'a [u8], BoxError> {
    if raw.len() < n {
        return Err("value too short".into());
    }
    let (head, tail) = raw.split_at(n);
    *raw = tail;
    Ok(head)
}

pub(super) fn take_i16(raw: &mut &[u8]) -> Result<i16, BoxError> {
    Ok(i16::from_be_bytes(take(raw, 2)?.try_into()?))
}

pub(super) fn take_i32(raw: &mut &[u8]) -> Result<i32, BoxError> {
    Ok(i32::from_be_bytes(take(raw, 4)?.try_into()?))
}

pub(super) fn take_i64(raw: &mut &[u8]) -> Result<i64, BoxError> {
    Ok(i64::from_be_bytes(take(raw, 8)?.try_into()?))
}

/// Decodes a binary `numeric` into its decimal text (`NaN`, `Infinity`, `-Infinity`
/// for the special values).
pub fn numeric_from_sql(mut raw: &[u8]) -> Result<String, BoxError> {
    let ndigits = take_i16(&mut raw)?;
    let weight = take_i16(&mut raw)?;
    let sign = take_i16(&mut raw)? as u16;
    let dscale = take_i16(&mut raw)? as u16;
    match sign {
        NUMERIC_NAN => return Ok("NaN".into()),
        NUMERIC_PINF => return Ok("Infinity".into()),
        NUMERIC_NINF => return Ok("-Infinity".into()),
        NUMERIC_POS | NUMERIC_NEG => {}
        _ => return Err("invalid numeric sign".into()),
    }
    let ndigits = usize::try_from(ndigits).map_err(|_| "invalid numeric digit count")?;
    let mut digits = Vec::with_capacity(ndigits);
    for _ in 0..ndigits {
        let d = take_i16(&mut raw)?;
        if !(0..10_000).contains(&d) {
            return Err("invalid numeric digit".into());
        }
        digits.push(d);
    }
    if !raw.is_empty() {
        return Err("trailing bytes after numeric".into());
    }
    let digit = |i: i32| -> i16 {
        usize::try_from(i)
            .ok()
            .and_then(|i| digits.get(i))
            .copied()
            .unwrap_or(0)
    };
    let mut out = String::new();
    if sign == NUMERIC_NEG {
        out.push('-');
    }
    if weight < 0 {
        out.push('0');
    } else {
        for i in 0..=i32::from(weight) {
            if i == 0 {
                write!(out, "{}", digit(i))?;
            } else {
                write!(out, "{:04}", digit(i))?;
            }
        }
    }
    if dscale > 0 {
        let dscale = usize::from(dscale);
        let mut frac = String::with_capacity(dscale + 4);
        let mut i = i32::from(weight) + 1;
        while frac.len() < dscale {
            write!(frac, "{:04}", digit(i))?;
            i += 1;
        }
        frac.truncate(dscale);
        out.push('.');
        out.push_str(&frac);
    }
    Ok(out)
}

pub(super) fn numeric_header(ndigits: i16, weight: i16, sign: u16, dscale: u16) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + 2 * ndigits.max(0) as usize);
    out.extend_from_slice(&ndigits.to_be_bytes());
    out.extend_from_slice(&weight.to_be_bytes());
    out.extend_from_slice(&sign.to_be_bytes());
    out.extend_from_slice(&dscale.to_be_bytes());
    out
}

/// Encodes decimal text (`-12.50`, `1e3`, `NaN`, `Infinity`) as a binary `numeric`.
pub fn numeric_to_sql(text: &str) -> Result<Vec<u8>, String> {
    let invalid = || format!("invalid decimal {text:?}");
    let t = text.trim();
    match t.to_ascii_lowercase().as_str() {
        "nan" => return Ok(numeric_header(0, 0, NUMERIC_NAN, 0)),
        "infinity" | "+infinity" | "inf" | "+inf" => {
            return Ok(numeric_header(0, 0, NUMERIC_PINF, 0));
        }
        "-infinity" | "-inf" => return Ok(numeric_header(0, 0, NUMERIC_NINF, 0)),
        _ => {}
    }
    let (negative, t) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let (mantissa, exponent) = match t.find(['e', 'E']) {
        Some(i) => (&t[..i], t[i + 1..].parse::<i64>().map_err(|_| invalid())?),
        None => (t, 0),
    };
    let (int_part, frac_part) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int_part.len() + frac_part.len() == 0 || !all_digits(int_part) || !all_digits(frac_part) {
        return Err(invalid());
    }
    if exponent.abs() > NUMERIC_MAX_INT_DIGITS + NUMERIC_MAX_DSCALE {
        return Err(format!("decimal {text:?} is out of range"));
    }
    // All digits, and where the decimal point falls in them once the exponent applied.
    let digits: Vec<u8> = int_part
        .bytes()
        .chain(frac_part.bytes())
        .map(|b| b - b'0')
        .collect();
    let point = int_part.len() as i64 + exponent;
    let dscale = (digits.len() as i64 - point).max(0);
    if dscale > NUMERIC_MAX_DSCALE || point > NUMERIC_MAX_INT_DIGITS {
        return Err(format!("decimal {text:?} is out of range"));
    }
    // Digit `k` (may lie outside `digits`, then it is 0) has decimal position
    // `point - 1 - k` (0 = units). Group into base 10000 around the decimal point.
    let first_pos = point - 1; // position of digits[0]
    let last_pos = point - digits.len() as i64; // position of the last digit
    let group_of = |pos: i64| pos.div_euclid(4);
    let (hi, lo) = (
        group_of(first_pos.max(last_pos)),
        group_of(last_pos.min(first_pos)),
    );
    let mut groups: Vec<i16> = Vec::new();
    let mut weight = hi;
    for g in (lo..=hi).rev() {
        let mut value: i16 = 0;
        for pos in (g * 4..g * 4 + 4).rev() {
            let k = point - 1 - pos;
            let d = usize::try_from(k)
                .ok()
                .and_then(|k| digits.get(k))
                .copied()
                .unwrap_or(0);
            value = value * 10 + i16::from(d);
        }
        groups.push(value);
    }
    while groups.first() == Some(&0) {
        groups.remove(0);
        weight -= 1;
    }
    while groups.last() == Some(&0) {
        groups.pop();
    }
    if groups.is_empty() {
        return Ok(numeric_header(0, 0, NUMERIC_POS, dscale as u16));
    }
    let ndigits =
        i16::try_from(groups.len()).map_err(|_| format!("decimal {text:?} is out of range"))?;
    let weight = i16::try_from(weight).map_err(|_| format!("decimal {text:?} is out of range"))?;
    let sign = if negative { NUMERIC_NEG } else { NUMERIC_POS };
    let mut out = numeric_header(ndigits, weight, sign, dscale as u16);
    for g in groups {
        out.extend_from_slice(&g.to_be_bytes());
    }
    Ok(out)
}

// --- interval -----------------------------------------------------------------------

/// Binary format: microseconds (i64), days (i32), months (i32).
pub(super) fn interval_from_sql(mut raw: &[u8]) -> Result<Interval, BoxError> {
    let micros = take_i64(&mut raw)?;
    let days = take_i32(&mut raw)?;
    let months = take_i32(&mut raw)?;
    if !raw.is_empty() {
        return Err("trailing bytes after interval".into());
    }
    Ok(Interval {
        micros,
        days,
        months,
    })
}

pub(super) fn interval_to_sql(v: &Interval) -> Vec<u8> {
    let mut out = Vec::with_capacity(16);
    out.extend_from_slice(&v.micros.to_be_bytes());
    out.extend_from_slice(&v.days.to_be_bytes());
    out.extend_from_slice(&v.months.to_be_bytes());
    out
}

// --- ranges -------------------------------------------------------------------------
//
// Binary format: a flags byte, then for each finite bound its length (i32) and value.

pub(super) const RANGE_EMPTY: u8 = 0x01;
const RANGE_LB_INC: u8 = 0x02;
const RANGE_UB_INC: u8 = 0x04;
const RANGE_LB_INF: u8 = 0x08;
const RANGE_UB_INF: u8 = 0x10;

type WitBound<T> = Option<(T, RangeBoundKind)>;

/// Decodes a range; an empty range becomes `(none, none)`, as in Spin.
pub(super) fn range_from_sql<T>(
    mut raw: &[u8],
    mut value: impl FnMut(&[u8]) -> Result<T, BoxError>,
) -> Result<(WitBound<T>, WitBound<T>), BoxError> {
    let flags = take(&mut raw, 1)?[0];
    if flags & RANGE_EMPTY != 0 {
        return Ok((None, None));
    }
    let mut bound = |infinite: u8, inclusive: u8| -> Result<WitBound<T>, BoxError> {
        if flags & infinite != 0 {
            return Ok(None);
        }
        let len = usize::try_from(take_i32(&mut raw)?).map_err(|_| "null range bound")?;
        let v = value(take(&mut raw, len)?)?;
        let kind = if flags & inclusive != 0 {
            RangeBoundKind::Inclusive
        } else {
            RangeBoundKind::Exclusive
        };
        Ok(Some((v, kind)))
    };
    let lower = bound(RANGE_LB_INF, RANGE_LB_INC)?;
    let upper = bound(RANGE_UB_INF, RANGE_UB_INC)?;
    if !raw.is_empty() {
        return Err("trailing bytes after range".into());
    }
    Ok((lower, upper))
}

pub(super) fn range_to_sql<T>(
    (lower, upper): &(WitBound<T>, WitBound<T>),
    mut encode: impl FnMut(&T) -> Result<Vec<u8>, String>,
) -> Result<Vec<u8>, String> {
    let mut flags = 0;
    match lower {
        None => flags |= RANGE_LB_INF,
        Some((_, RangeBoundKind::Inclusive)) => flags |= RANGE_LB_INC,
        Some((_, RangeBoundKind::Exclusive)) => {}
    }
    match upper {
        None => flags |= RANGE_UB_INF,
        Some((_, RangeBoundKind::Inclusive)) => flags |= RANGE_UB_INC,
        Some((_, RangeBoundKind::Exclusive)) => {}
    }
    let mut out = vec![flags];
    for (v, _) in [lower, upper].into_iter().flatten() {
        let bytes = encode(v)?;
        let len = i32::try_from(bytes.len()).map_err(|_| "range bound too large".to_string())?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&bytes);
    }
    Ok(out)
}
