//! Conversions between `spin:postgres` values and PostgreSQL, with exactly the rules of
//! Spin (4.1): a component tested on this host must not meet a refusal first on Spin.
//! The rules were read off the real Spin binary; `tests/pg_differential.rs` checks
//! each of them against it.
//!
//! - Column types ([`data_type`]): `bool`, `bytea`, `float4/8`, `int2/4/8`,
//!   `text`/`varchar`/`bpchar` (`str`), `timestamp` and `timestamptz` (`datetime`),
//!   `date`, `time`, `uuid`, `jsonb`, `numeric` (`decimal`), `int4range`, `int8range`,
//!   `numrange`, `int4[]`, `int8[]`, `numeric[]`, `text[]`/`varchar[]`/`bpchar[]`
//!   (`array-str`) and `interval`. Every other type (`json`, `name`, `"char"`, enums,
//!   `inet`, `int2[]`, ...) is `other(<type name>)`, its values `unsupported(<raw
//!   binary value>)`.
//! - Values ([`decode`]) go through the same Rust types as in Spin, with their refusals:
//!   a `timestamptz` column fails to decode, even when NULL (Spin reads it as a naive
//!   timestamp); `numeric` goes through `rust_decimal` (NaN, ±Infinity and values above
//!   2^96 fail; more than 28 decimals are rounded); `jsonb` is parsed and serialised
//!   again (keys sorted, no whitespace, numbers as `serde_json` prints them). A value
//!   that fails fails the query (`query-failed` text; through `query-async`, the rows
//!   before it still arrive).
//! - Parameters ([`to_sql`]) become the Rust value Spin makes of them, and
//!   tokio-postgres accepts it only for the placeholder types that Rust type accepts:
//!   `int8` only `"char"`, `int16` `int2`, `int32` `int4`, `int64` `int8`,
//!   `floating32` `float4`, `floating64` `float8`, `str` the text types (`text`,
//!   `varchar`, `bpchar`, `name`, unknown, `citext`, ...: not enums), `binary` `bytea`,
//!   `date`, `time`, `datetime` only `timestamp`, `timestamp` only `timestamptz`, `uuid`,
//!   `jsonb` `json` and `jsonb` (re-serialised), `decimal` `numeric` (plain decimal
//!   text only: no exponent, NaN or infinity), the ranges their range types, the
//!   arrays `int4[]`, `int8[]`, `numeric[]` and text arrays, `interval`, and `db-null`
//!   anything. No widening: an `int32` for an `int8` placeholder is refused
//!   (`query-failed` text, from tokio-postgres). A value that cannot be made at all (a
//!   bad date, time, UUID, JSON or decimal, an epoch timestamp out of range) is refused
//!   before the statement is even prepared: `bad-parameter` from a query,
//!   `value-conversion-failed` from an execute. An integer range bound at the type's
//!   maximum that would need normalising makes Spin's host panic, so it traps here
//!   ([`traps_in_spin`]).

use super::codecs::{DecimalBound, Interval, Null, Raw};
use super::wit::{DbDataType, DbValue, ParameterValue, RangeBoundKind};
use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike, Utc};
use postgres_range::{BoundType, Normalizable, Range, RangeBound};
use rust_decimal::Decimal;
use tokio_postgres::Row;
use tokio_postgres::types::{FromSql, ToSql, Type};

/// The WIT data type reported for a column of PostgreSQL type `ty`.
pub fn data_type(ty: &Type) -> DbDataType {
    match *ty {
        Type::BOOL => DbDataType::Boolean,
        Type::BYTEA => DbDataType::Binary,
        Type::FLOAT4 => DbDataType::Floating32,
        Type::FLOAT8 => DbDataType::Floating64,
        Type::INT2 => DbDataType::Int16,
        Type::INT4 => DbDataType::Int32,
        Type::INT8 => DbDataType::Int64,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR => DbDataType::Str,
        Type::TIMESTAMP | Type::TIMESTAMPTZ => DbDataType::Datetime,
        Type::DATE => DbDataType::Date,
        Type::TIME => DbDataType::Time,
        Type::UUID => DbDataType::Uuid,
        Type::JSONB => DbDataType::Jsonb,
        Type::NUMERIC => DbDataType::Decimal,
        Type::INT4_RANGE => DbDataType::RangeInt32,
        Type::INT8_RANGE => DbDataType::RangeInt64,
        Type::NUM_RANGE => DbDataType::RangeDecimal,
        Type::INT4_ARRAY => DbDataType::ArrayInt32,
        Type::INT8_ARRAY => DbDataType::ArrayInt64,
        Type::NUMERIC_ARRAY => DbDataType::ArrayDecimal,
        Type::TEXT_ARRAY | Type::VARCHAR_ARRAY | Type::BPCHAR_ARRAY => DbDataType::ArrayStr,
        Type::INTERVAL => DbDataType::Interval,
        _ => DbDataType::Other(ty.name().to_owned()),
    }
}

/// Reads column `i` of `row` as a `T` (NULL as `db-null`) and wraps it.
fn get<'a, T: FromSql<'a>>(
    row: &'a Row,
    i: usize,
    wrap: impl FnOnce(T) -> DbValue,
) -> Result<DbValue, tokio_postgres::Error> {
    Ok(row
        .try_get::<_, Option<T>>(i)?
        .map_or(DbValue::DbNull, wrap))
}

/// Decodes column `i` of `row` (see the module docs); the error is tokio-postgres's
/// "error deserializing column `i`".
pub fn decode(row: &Row, i: usize) -> Result<DbValue, tokio_postgres::Error> {
    use DbValue as V;
    match *row.columns()[i].type_() {
        Type::BOOL => get(row, i, V::Boolean),
        Type::BYTEA => get(row, i, V::Binary),
        Type::FLOAT4 => get(row, i, V::Floating32),
        Type::FLOAT8 => get(row, i, V::Floating64),
        Type::INT2 => get(row, i, V::Int16),
        Type::INT4 => get(row, i, V::Int32),
        Type::INT8 => get(row, i, V::Int64),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR => get(row, i, V::Str),
        // Also for `timestamptz`, which a naive timestamp does not accept: as in Spin,
        // such a column fails.
        Type::TIMESTAMP | Type::TIMESTAMPTZ => {
            get(row, i, |v: NaiveDateTime| V::Datetime(datetime_tuple(v)))
        }
        Type::DATE => get(row, i, |v: NaiveDate| V::Date(date_tuple(v))),
        Type::TIME => get(row, i, |v: NaiveTime| V::Time(time_tuple(v))),
        Type::UUID => get(row, i, |v: uuid::Uuid| V::Uuid(v.to_string())),
        Type::JSONB => get(row, i, |v: serde_json::Value| {
            V::Jsonb(serde_json::to_vec(&v).unwrap_or_default())
        }),
        Type::NUMERIC => get(row, i, |v: Decimal| V::Decimal(v.to_string())),
        Type::INT4_RANGE => get(row, i, |v: Range<i32>| {
            V::RangeInt32(range_tuple(&v, |x| *x))
        }),
        Type::INT8_RANGE => get(row, i, |v: Range<i64>| {
            V::RangeInt64(range_tuple(&v, |x| *x))
        }),
        Type::NUM_RANGE => get(row, i, |v: Range<DecimalBound>| {
            V::RangeDecimal(range_tuple(&v, |x| x.0.to_string()))
        }),
        Type::INT4_ARRAY => get(row, i, V::ArrayInt32),
        Type::INT8_ARRAY => get(row, i, V::ArrayInt64),
        Type::NUMERIC_ARRAY => get(row, i, |v: Vec<Option<Decimal>>| {
            V::ArrayDecimal(v.iter().map(|d| d.map(|d| d.to_string())).collect())
        }),
        Type::TEXT_ARRAY | Type::VARCHAR_ARRAY | Type::BPCHAR_ARRAY => get(row, i, V::ArrayStr),
        Type::INTERVAL => get(row, i, |v: Interval| V::Interval(v.0)),
        _ => get(row, i, |v: Raw| V::Unsupported(v.0)),
    }
}

fn date_tuple(d: NaiveDate) -> (i32, u8, u8) {
    // Month and day are at most 12 and 31.
    (d.year(), d.month() as u8, d.day() as u8)
}

fn time_tuple(t: NaiveTime) -> (u8, u8, u8, u32) {
    (
        t.hour() as u8,
        t.minute() as u8,
        t.second() as u8,
        t.nanosecond(),
    )
}

fn datetime_tuple(dt: NaiveDateTime) -> (i32, u8, u8, u8, u8, u8, u32) {
    let (y, mo, d) = date_tuple(dt.date());
    let (h, mi, s, ns) = time_tuple(dt.time());
    (y, mo, d, h, mi, s, ns)
}

type WitBound<T> = Option<(T, RangeBoundKind)>;

fn wit_kind(kind: BoundType) -> RangeBoundKind {
    match kind {
        BoundType::Inclusive => RangeBoundKind::Inclusive,
        BoundType::Exclusive => RangeBoundKind::Exclusive,
    }
}

fn pg_kind(kind: RangeBoundKind) -> BoundType {
    match kind {
        RangeBoundKind::Inclusive => BoundType::Inclusive,
        RangeBoundKind::Exclusive => BoundType::Exclusive,
    }
}

/// A range as WIT bounds; the empty range is `(none, none)`, like the unbounded one.
fn range_tuple<T: PartialOrd + Normalizable, W>(
    r: &Range<T>,
    value: impl Fn(&T) -> W,
) -> (WitBound<W>, WitBound<W>) {
    (
        r.lower().map(|b| (value(&b.value), wit_kind(b.type_))),
        r.upper().map(|b| (value(&b.value), wit_kind(b.type_))),
    )
}

/// A parameter as Spin sends it: a boxed Rust value that tokio-postgres checks against
/// the placeholder's type when it binds it.
pub type Param = Box<dyn ToSql + Send + Sync>;

/// Why a parameter cannot be made into a value at all; becomes `bad-parameter`
/// (`query`) or `value-conversion-failed` (`execute`).
pub type Refused = String;

/// Makes the [`Param`] Spin makes of `value` (see the module docs).
pub fn to_sql(value: &ParameterValue) -> Result<Param, Refused> {
    use ParameterValue as P;
    Ok(match value {
        P::Boolean(v) => Box::new(*v),
        P::Int8(v) => Box::new(*v),
        P::Int16(v) => Box::new(*v),
        P::Int32(v) => Box::new(*v),
        P::Int64(v) => Box::new(*v),
        P::Floating32(v) => Box::new(*v),
        P::Floating64(v) => Box::new(*v),
        P::Str(v) => Box::new(v.clone()),
        P::Binary(v) => Box::new(v.clone()),
        P::Date(v) => Box::new(date(*v)?),
        P::Time(v) => Box::new(time(*v)?),
        P::Datetime((y, mo, d, h, mi, s, ns)) => Box::new(NaiveDateTime::new(
            date((*y, *mo, *d))?,
            time((*h, *mi, *s, *ns))?,
        )),
        P::Timestamp(secs) => Box::new(
            DateTime::<Utc>::from_timestamp(*secs, 0)
                .ok_or_else(|| format!("invalid epoch timestamp {secs}"))?,
        ),
        P::Uuid(v) => {
            Box::new(uuid::Uuid::parse_str(v).map_err(|e| format!("invalid UUID {v}: {e}"))?)
        }
        P::Jsonb(v) => Box::new(
            serde_json::from_slice::<serde_json::Value>(v)
                .map_err(|e| format!("invalid JSON {}: {e}", String::from_utf8_lossy(v)))?,
        ),
        P::Decimal(v) => Box::new(decimal(v)?),
        P::RangeInt32((lower, upper)) => Box::new(range(lower, upper, |v| Ok(*v))?),
        P::RangeInt64((lower, upper)) => Box::new(range(lower, upper, |v| Ok(*v))?),
        P::RangeDecimal((lower, upper)) => {
            Box::new(range(lower, upper, |v| decimal(v).map(DecimalBound))?)
        }
        P::ArrayInt32(v) => Box::new(v.clone()),
        P::ArrayInt64(v) => Box::new(v.clone()),
        P::ArrayDecimal(v) => Box::new(
            v.iter()
                .map(|d| d.as_deref().map(decimal).transpose())
                .collect::<Result<Vec<_>, _>>()?,
        ),
        P::ArrayStr(v) => Box::new(v.clone()),
        P::Interval(v) => Box::new(Interval(*v)),
        P::DbNull => Box::new(Null),
    })
}

fn date((y, m, d): (i32, u8, u8)) -> Result<NaiveDate, Refused> {
    NaiveDate::from_ymd_opt(y, m.into(), d.into())
        .ok_or_else(|| format!("invalid date y={y}, m={m}, d={d}"))
}

fn time((h, m, s, ns): (u8, u8, u8, u32)) -> Result<NaiveTime, Refused> {
    NaiveTime::from_hms_nano_opt(h.into(), m.into(), s.into(), ns)
        .ok_or_else(|| format!("invalid time {h}:{m}:{s}:{ns}"))
}

/// Plain decimal text only, as `rust_decimal`'s `from_str_exact` reads it.
fn decimal(text: &str) -> Result<Decimal, Refused> {
    Decimal::from_str_exact(text).map_err(|e| format!("invalid decimal {text}: {e}"))
}

/// A range from WIT bounds, as `postgres_range` makes it: integer bounds normalised to
/// `[lower, upper)`, and a lower bound above the upper one making the empty range
/// (where PostgreSQL itself would refuse it).
///
/// `postgres_range` panics when it normalises an inclusive upper (or exclusive lower)
/// bound at the type's maximum, which fails Spin's whole request (a trap, see
/// [`traps_in_spin`]); a refusal here keeps this host from panicking should it get
/// that far.
fn range<W, T: PartialOrd + Normalizable + Bounded>(
    lower: &WitBound<W>,
    upper: &WitBound<W>,
    value: impl Fn(&W) -> Result<T, Refused>,
) -> Result<Range<T>, Refused> {
    let lower = match lower {
        Some((v, kind)) => {
            let v = value(v)?;
            if *kind == RangeBoundKind::Exclusive && v.is_max() {
                return Err("an exclusive lower bound at the maximum cannot be normalised".into());
            }
            Some(RangeBound::new(v, pg_kind(*kind)))
        }
        None => None,
    };
    let upper = match upper {
        Some((v, kind)) => {
            let v = value(v)?;
            if *kind == RangeBoundKind::Inclusive && v.is_max() {
                return Err("an inclusive upper bound at the maximum cannot be normalised".into());
            }
            Some(RangeBound::new(v, pg_kind(*kind)))
        }
        None => None,
    };
    Ok(Range::new(lower, upper))
}

/// Whether Spin's host panics on these parameters, which traps the guest: an integer
/// range with an inclusive upper (or exclusive lower) bound at the type's maximum.
/// This host traps too, so a component that passes here also passes on Spin.
pub fn traps_in_spin(params: &[ParameterValue]) -> Option<&'static str> {
    fn at_max<T: Bounded>(bounds: &(WitBound<T>, WitBound<T>)) -> bool {
        let (lower, upper) = bounds;
        matches!(lower, Some((v, RangeBoundKind::Exclusive)) if v.is_max())
            || matches!(upper, Some((v, RangeBoundKind::Inclusive)) if v.is_max())
    }
    params.iter().find_map(|p| match p {
        ParameterValue::RangeInt32(r) if at_max(r) => Some("int4range"),
        ParameterValue::RangeInt64(r) if at_max(r) => Some("int8range"),
        _ => None,
    })
}

/// Whether a range bound value is the largest of its type (only integers are
/// normalised by adding one).
pub trait Bounded {
    fn is_max(&self) -> bool;
}

impl Bounded for i32 {
    fn is_max(&self) -> bool {
        *self == i32::MAX
    }
}

impl Bounded for i64 {
    fn is_max(&self) -> bool {
        *self == i64::MAX
    }
}

impl Bounded for DecimalBound {
    fn is_max(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_types_are_spins() {
        assert!(matches!(
            data_type(&Type::TIMESTAMPTZ),
            DbDataType::Datetime
        ));
        assert!(matches!(
            data_type(&Type::BPCHAR_ARRAY),
            DbDataType::ArrayStr
        ));
        for (ty, name) in [
            (Type::JSON, "json"),
            (Type::NAME, "name"),
            (Type::CHAR, "char"),
            (Type::INT2_ARRAY, "_int2"),
            (Type::INET, "inet"),
        ] {
            assert!(
                matches!(data_type(&ty), DbDataType::Other(ref n) if n == name),
                "{ty}"
            );
        }
    }

    #[test]
    fn parameters_accept_only_spins_placeholder_types() {
        let accepts = |p: ParameterValue, ty: Type| {
            let mut out = bytes::BytesMut::new();
            to_sql(&p).unwrap().to_sql_checked(&ty, &mut out).is_ok()
        };
        assert!(accepts(ParameterValue::Int32(1), Type::INT4));
        assert!(!accepts(ParameterValue::Int32(1), Type::INT8));
        assert!(accepts(ParameterValue::Int8(1), Type::CHAR));
        assert!(!accepts(
            ParameterValue::Datetime((2024, 1, 1, 0, 0, 0, 0)),
            Type::TIMESTAMPTZ
        ));
        assert!(accepts(ParameterValue::Timestamp(0), Type::TIMESTAMPTZ));
        assert!(accepts(ParameterValue::Str("x".into()), Type::NAME));
        assert!(accepts(ParameterValue::DbNull, Type::INET));
        assert!(to_sql(&ParameterValue::Decimal("1e3".into())).is_err());
        assert!(to_sql(&ParameterValue::Uuid("nope".into())).is_err());
    }

    #[test]
    fn ranges_normalise_and_trap_like_spin() {
        use RangeBoundKind::{Exclusive, Inclusive};
        let max = ParameterValue::RangeInt32((Some((1, Inclusive)), Some((i32::MAX, Inclusive))));
        assert_eq!(traps_in_spin(&[max]), Some("int4range"));
        let fine = ParameterValue::RangeInt64((Some((i64::MAX, Inclusive)), None));
        assert_eq!(traps_in_spin(&[fine]), None);
        let r = range(&Some((5, Inclusive)), &Some((1, Exclusive)), |v: &i32| {
            Ok(*v)
        })
        .unwrap();
        assert!(r.is_empty(), "a reversed range is the empty range");
    }
}
