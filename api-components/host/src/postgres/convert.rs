//! Conversions between `spin:postgres` values and PostgreSQL's binary wire format.
//!
//! - Results: [`data_type`] names a column's WIT type and [`Cell`] decodes any column
//!   value, so `Row::try_get::<_, Cell>` never rejects a column: types without a WIT
//!   counterpart arrive as `unsupported(raw bytes)`.
//! - Parameters: [`bind`] checks a WIT parameter against the type PostgreSQL inferred
//!   for its placeholder and turns it into a [`Bound`] value that encodes itself in that
//!   type. A value is accepted by the types Spin accepts it for, plus lossless
//!   widenings (an `int32` for an `int8` or `numeric` placeholder, a `float32` for
//!   `float8`), `datetime`/`timestamp` for both `timestamp` and `timestamptz` (both
//!   are UTC, as the WIT says), and `str` for enum types.
//! - `numeric`, `interval` and the range types use the hand-written codecs of
//!   `codecs.rs`.

use super::wit::{DbDataType, DbValue, ParameterValue};
use bytes::BytesMut;
use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, NaiveTime, Timelike, Utc};
use tokio_postgres::types::{FromSql, IsNull, Kind, ToSql, Type, to_sql_checked};

use super::codecs::{
    BoxError, Numeric, interval_from_sql, interval_to_sql, numeric_from_sql, numeric_to_sql,
    range_from_sql, range_to_sql,
};

/// The WIT data type reported for a column of PostgreSQL type `ty`.
pub fn data_type(ty: &Type) -> DbDataType {
    match *ty {
        Type::BOOL => DbDataType::Boolean,
        Type::CHAR => DbDataType::Int8,
        Type::INT2 => DbDataType::Int16,
        Type::INT4 => DbDataType::Int32,
        Type::INT8 => DbDataType::Int64,
        Type::FLOAT4 => DbDataType::Floating32,
        Type::FLOAT8 => DbDataType::Floating64,
        Type::BYTEA => DbDataType::Binary,
        Type::DATE => DbDataType::Date,
        Type::TIME => DbDataType::Time,
        Type::TIMESTAMP | Type::TIMESTAMPTZ => DbDataType::Datetime,
        Type::UUID => DbDataType::Uuid,
        Type::JSON | Type::JSONB => DbDataType::Jsonb,
        Type::NUMERIC => DbDataType::Decimal,
        Type::INTERVAL => DbDataType::Interval,
        Type::INT4_RANGE => DbDataType::RangeInt32,
        Type::INT8_RANGE => DbDataType::RangeInt64,
        Type::NUM_RANGE => DbDataType::RangeDecimal,
        Type::INT4_ARRAY => DbDataType::ArrayInt32,
        Type::INT8_ARRAY => DbDataType::ArrayInt64,
        Type::NUMERIC_ARRAY => DbDataType::ArrayDecimal,
        _ if is_text(ty) => DbDataType::Str,
        _ if is_text_array(ty) => DbDataType::ArrayStr,
        _ => DbDataType::Other(ty.name().to_owned()),
    }
}

/// Text types (`text`, `varchar`, `bpchar`, `name`, `citext`, ...) and enums, which
/// travel as their label.
fn is_text(ty: &Type) -> bool {
    <String as FromSql>::accepts(ty) || matches!(ty.kind(), Kind::Enum(_))
}

fn is_text_array(ty: &Type) -> bool {
    matches!(ty.kind(), Kind::Array(member) if <String as FromSql>::accepts(member))
}

/// A column value decoded into its WIT form; decodes every type (see the module docs).
pub struct Cell(pub DbValue);

impl<'a> FromSql<'a> for Cell {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        decode(ty, raw).map(Cell)
    }

    fn from_sql_null(_: &Type) -> Result<Self, BoxError> {
        Ok(Cell(DbValue::DbNull))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// Decodes the non-null binary value `raw` of type `ty`.
pub fn decode(ty: &Type, raw: &[u8]) -> Result<DbValue, BoxError> {
    Ok(match *ty {
        Type::BOOL => DbValue::Boolean(bool::from_sql(ty, raw)?),
        Type::CHAR => DbValue::Int8(i8::from_sql(ty, raw)?),
        Type::INT2 => DbValue::Int16(i16::from_sql(ty, raw)?),
        Type::INT4 => DbValue::Int32(i32::from_sql(ty, raw)?),
        Type::INT8 => DbValue::Int64(i64::from_sql(ty, raw)?),
        Type::FLOAT4 => DbValue::Floating32(f32::from_sql(ty, raw)?),
        Type::FLOAT8 => DbValue::Floating64(f64::from_sql(ty, raw)?),
        Type::BYTEA => DbValue::Binary(raw.to_vec()),
        Type::DATE => DbValue::Date(date_tuple(NaiveDate::from_sql(ty, raw)?)),
        Type::TIME => DbValue::Time(time_tuple(NaiveTime::from_sql(ty, raw)?)),
        Type::TIMESTAMP => DbValue::Datetime(datetime_tuple(NaiveDateTime::from_sql(ty, raw)?)),
        Type::TIMESTAMPTZ => DbValue::Datetime(datetime_tuple(
            DateTime::<Utc>::from_sql(ty, raw)?.naive_utc(),
        )),
        Type::UUID => DbValue::Uuid(uuid::Uuid::from_sql(ty, raw)?.to_string()),
        // `json` travels as its text; `jsonb` as a version byte (1) and the text.
        Type::JSON => DbValue::Jsonb(raw.to_vec()),
        Type::JSONB => match raw.split_first() {
            Some((1, text)) => DbValue::Jsonb(text.to_vec()),
            _ => return Err("unsupported jsonb version".into()),
        },
        Type::NUMERIC => DbValue::Decimal(numeric_from_sql(raw)?),
        Type::INTERVAL => DbValue::Interval(interval_from_sql(raw)?),
        Type::INT4_RANGE => {
            DbValue::RangeInt32(range_from_sql(raw, |b| i32::from_sql(&Type::INT4, b))?)
        }
        Type::INT8_RANGE => {
            DbValue::RangeInt64(range_from_sql(raw, |b| i64::from_sql(&Type::INT8, b))?)
        }
        Type::NUM_RANGE => DbValue::RangeDecimal(range_from_sql(raw, numeric_from_sql)?),
        Type::INT4_ARRAY => DbValue::ArrayInt32(Vec::from_sql(ty, raw)?),
        Type::INT8_ARRAY => DbValue::ArrayInt64(Vec::from_sql(ty, raw)?),
        Type::NUMERIC_ARRAY => DbValue::ArrayDecimal(
            Vec::<Option<Numeric>>::from_sql(ty, raw)?
                .into_iter()
                .map(|n| n.map(|n| n.0))
                .collect(),
        ),
        _ if matches!(ty.kind(), Kind::Enum(_)) => {
            DbValue::Str(std::str::from_utf8(raw)?.to_owned())
        }
        _ if is_text(ty) => DbValue::Str(String::from_sql(ty, raw)?),
        _ if is_text_array(ty) => DbValue::ArrayStr(Vec::from_sql(ty, raw)?),
        _ => DbValue::Unsupported(raw.to_vec()),
    })
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

/// A parameter value ready to be encoded in the type of its placeholder.
#[derive(Debug)]
pub enum Bound {
    Null,
    Bool(bool),
    /// PostgreSQL's one-byte `"char"`.
    Char(i8),
    I16(i16),
    I32(i32),
    I64(i64),
    F32(f32),
    F64(f64),
    Text(String),
    Bytes(Vec<u8>),
    Date(NaiveDate),
    Time(NaiveTime),
    Timestamp(NaiveDateTime),
    TimestampTz(DateTime<Utc>),
    Uuid(uuid::Uuid),
    I32Array(Vec<Option<i32>>),
    I64Array(Vec<Option<i64>>),
    TextArray(Vec<Option<String>>),
    /// Already in the binary format of the placeholder's type (numeric, interval,
    /// json, ranges).
    Raw(Encoded),
    /// An array whose elements are already encoded in its member type.
    RawArray(Vec<Option<Encoded>>),
}

/// Bytes already in the binary format of the type they are sent as.
#[derive(Debug)]
pub struct Encoded(pub Vec<u8>);

impl ToSql for Encoded {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        out.extend_from_slice(&self.0);
        Ok(IsNull::No)
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

impl ToSql for Bound {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        match self {
            Bound::Null => Ok(IsNull::Yes),
            Bound::Bool(v) => v.to_sql(ty, out),
            Bound::Char(v) => v.to_sql(ty, out),
            Bound::I16(v) => v.to_sql(ty, out),
            Bound::I32(v) => v.to_sql(ty, out),
            Bound::I64(v) => v.to_sql(ty, out),
            Bound::F32(v) => v.to_sql(ty, out),
            Bound::F64(v) => v.to_sql(ty, out),
            Bound::Text(v) => v.to_sql(ty, out),
            Bound::Bytes(v) => v.to_sql(ty, out),
            Bound::Date(v) => v.to_sql(ty, out),
            Bound::Time(v) => v.to_sql(ty, out),
            Bound::Timestamp(v) => v.to_sql(ty, out),
            Bound::TimestampTz(v) => v.to_sql(ty, out),
            Bound::Uuid(v) => v.to_sql(ty, out),
            Bound::I32Array(v) => v.to_sql(ty, out),
            Bound::I64Array(v) => v.to_sql(ty, out),
            Bound::TextArray(v) => v.to_sql(ty, out),
            Bound::Raw(v) => v.to_sql(ty, out),
            Bound::RawArray(v) => v.to_sql(ty, out),
        }
    }

    /// [`bind`] already checked the value against the placeholder's type.
    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// The WIT case name of a parameter, for error messages.
fn kind_name(value: &ParameterValue) -> &'static str {
    match value {
        ParameterValue::Boolean(_) => "boolean",
        ParameterValue::Int8(_) => "int8",
        ParameterValue::Int16(_) => "int16",
        ParameterValue::Int32(_) => "int32",
        ParameterValue::Int64(_) => "int64",
        ParameterValue::Floating32(_) => "floating32",
        ParameterValue::Floating64(_) => "floating64",
        ParameterValue::Str(_) => "str",
        ParameterValue::Binary(_) => "binary",
        ParameterValue::Date(_) => "date",
        ParameterValue::Time(_) => "time",
        ParameterValue::Datetime(_) => "datetime",
        ParameterValue::Timestamp(_) => "timestamp",
        ParameterValue::Uuid(_) => "uuid",
        ParameterValue::Jsonb(_) => "jsonb",
        ParameterValue::Decimal(_) => "decimal",
        ParameterValue::RangeInt32(_) => "range-int32",
        ParameterValue::RangeInt64(_) => "range-int64",
        ParameterValue::RangeDecimal(_) => "range-decimal",
        ParameterValue::ArrayInt32(_) => "array-int32",
        ParameterValue::ArrayInt64(_) => "array-int64",
        ParameterValue::ArrayDecimal(_) => "array-decimal",
        ParameterValue::ArrayStr(_) => "array-str",
        ParameterValue::Interval(_) => "interval",
        ParameterValue::DbNull => "db-null",
    }
}

/// Checks parameter `index` (0-based) against the type `ty` of its placeholder and
/// converts it. The error is the text of a `bad-parameter`.
pub fn bind(index: usize, value: &ParameterValue, ty: &Type) -> Result<Bound, String> {
    let n = index + 1;
    let invalid = |what: &str| format!("parameter ${n}: {what}");
    use ParameterValue as P;
    let bound = match (value, ty) {
        (P::DbNull, _) => Bound::Null,
        (P::Boolean(v), &Type::BOOL) => Bound::Bool(*v),

        (P::Int8(v), &Type::CHAR) => Bound::Char(*v),
        (P::Int8(v), &Type::INT2) => Bound::I16((*v).into()),
        (P::Int8(v), &Type::INT4) => Bound::I32((*v).into()),
        (P::Int8(v), &Type::INT8) => Bound::I64((*v).into()),
        (P::Int16(v), &Type::INT2) => Bound::I16(*v),
        (P::Int16(v), &Type::INT4) => Bound::I32((*v).into()),
        (P::Int16(v), &Type::INT8) => Bound::I64((*v).into()),
        (P::Int32(v), &Type::INT4) => Bound::I32(*v),
        (P::Int32(v), &Type::INT8) => Bound::I64((*v).into()),
        (P::Int64(v), &Type::INT8) => Bound::I64(*v),
        (P::Int8(v), &Type::NUMERIC) => integer_numeric((*v).into()).map_err(|e| invalid(&e))?,
        (P::Int16(v), &Type::NUMERIC) => integer_numeric((*v).into()).map_err(|e| invalid(&e))?,
        (P::Int32(v), &Type::NUMERIC) => integer_numeric((*v).into()).map_err(|e| invalid(&e))?,
        (P::Int64(v), &Type::NUMERIC) => integer_numeric(*v).map_err(|e| invalid(&e))?,

        (P::Floating32(v), &Type::FLOAT4) => Bound::F32(*v),
        (P::Floating32(v), &Type::FLOAT8) => Bound::F64((*v).into()),
        (P::Floating64(v), &Type::FLOAT8) => Bound::F64(*v),

        (P::Str(v), ty) if is_text(ty) => Bound::Text(v.clone()),
        (P::Binary(v), &Type::BYTEA) => Bound::Bytes(v.clone()),

        (P::Date(v), &Type::DATE) => {
            Bound::Date(date_from_wit(*v).ok_or_else(|| invalid(&format!("invalid date {v:?}")))?)
        }
        (P::Time(v), &Type::TIME) => {
            Bound::Time(time_from_wit(*v).ok_or_else(|| invalid(&format!("invalid time {v:?}")))?)
        }
        (P::Datetime(v), &Type::TIMESTAMP | &Type::TIMESTAMPTZ) => {
            let dt =
                datetime_from_wit(*v).ok_or_else(|| invalid(&format!("invalid datetime {v:?}")))?;
            if *ty == Type::TIMESTAMP {
                Bound::Timestamp(dt)
            } else {
                Bound::TimestampTz(dt.and_utc())
            }
        }
        (P::Timestamp(secs), &Type::TIMESTAMP | &Type::TIMESTAMPTZ) => {
            let dt = DateTime::<Utc>::from_timestamp(*secs, 0)
                .ok_or_else(|| invalid(&format!("timestamp {secs} is out of range")))?;
            if *ty == Type::TIMESTAMP {
                Bound::Timestamp(dt.naive_utc())
            } else {
                Bound::TimestampTz(dt)
            }
        }

        (P::Uuid(v), &Type::UUID) => Bound::Uuid(
            uuid::Uuid::parse_str(v).map_err(|e| invalid(&format!("invalid UUID {v:?}: {e}")))?,
        ),
        (P::Jsonb(v), &Type::JSON | &Type::JSONB) => {
            serde_json::from_slice::<serde::de::IgnoredAny>(v)
                .map_err(|e| invalid(&format!("invalid JSON: {e}")))?;
            let mut bytes = Vec::with_capacity(v.len() + 1);
            if *ty == Type::JSONB {
                bytes.push(1);
            }
            bytes.extend_from_slice(v);
            Bound::Raw(Encoded(bytes))
        }
        (P::Decimal(v), &Type::NUMERIC) => {
            Bound::Raw(Encoded(numeric_to_sql(v).map_err(|e| invalid(&e))?))
        }
        (P::Interval(v), &Type::INTERVAL) => Bound::Raw(Encoded(interval_to_sql(v))),

        (P::RangeInt32(v), &Type::INT4_RANGE) => Bound::Raw(Encoded(
            range_to_sql(v, |x| Ok(x.to_be_bytes().to_vec())).map_err(|e| invalid(&e))?,
        )),
        (P::RangeInt64(v), &Type::INT8_RANGE) => Bound::Raw(Encoded(
            range_to_sql(v, |x| Ok(x.to_be_bytes().to_vec())).map_err(|e| invalid(&e))?,
        )),
        (P::RangeDecimal(v), &Type::NUM_RANGE) => Bound::Raw(Encoded(
            range_to_sql(v, |x| numeric_to_sql(x)).map_err(|e| invalid(&e))?,
        )),

        (P::ArrayInt32(v), &Type::INT4_ARRAY) => Bound::I32Array(v.clone()),
        (P::ArrayInt32(v), &Type::INT8_ARRAY) => {
            Bound::I64Array(v.iter().map(|x| x.map(i64::from)).collect())
        }
        (P::ArrayInt64(v), &Type::INT8_ARRAY) => Bound::I64Array(v.clone()),
        (P::ArrayDecimal(v), &Type::NUMERIC_ARRAY) => Bound::RawArray(
            v.iter()
                .map(|x| {
                    x.as_deref()
                        .map(numeric_to_sql)
                        .transpose()
                        .map(|b| b.map(Encoded))
                })
                .collect::<Result<_, _>>()
                .map_err(|e| invalid(&e))?,
        ),
        (P::ArrayStr(v), ty) if is_text_array(ty) => Bound::TextArray(v.clone()),

        (value, ty) => {
            return Err(invalid(&format!(
                "a {} value cannot be sent as PostgreSQL type {}",
                kind_name(value),
                ty.name()
            )));
        }
    };
    Ok(bound)
}

fn integer_numeric(v: i64) -> Result<Bound, String> {
    Ok(Bound::Raw(Encoded(numeric_to_sql(&v.to_string())?)))
}

fn date_from_wit((y, m, d): (i32, u8, u8)) -> Option<NaiveDate> {
    NaiveDate::from_ymd_opt(y, m.into(), d.into())
}

fn time_from_wit((h, m, s, ns): (u8, u8, u8, u32)) -> Option<NaiveTime> {
    NaiveTime::from_hms_nano_opt(h.into(), m.into(), s.into(), ns)
}

fn datetime_from_wit(
    (y, mo, d, h, mi, s, ns): (i32, u8, u8, u8, u8, u8, u32),
) -> Option<NaiveDateTime> {
    Some(NaiveDateTime::new(
        date_from_wit((y, mo, d))?,
        time_from_wit((h, mi, s, ns))?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::postgres::codecs::RANGE_EMPTY;
    use crate::postgres::wit::{Interval, RangeBoundKind};

    fn encode(b: &Bound, ty: &Type) -> Vec<u8> {
        let mut out = BytesMut::new();
        assert!(matches!(b.to_sql(ty, &mut out).unwrap(), IsNull::No));
        out.to_vec()
    }

    fn numeric(text: &str) -> String {
        numeric_from_sql(&numeric_to_sql(text).unwrap()).unwrap()
    }

    #[test]
    fn numeric_binary_layout_matches_postgres() {
        // 12345.678 = 1|2345|.6780: ndigits 3, weight 1, sign +, dscale 3.
        let bytes = numeric_to_sql("12345.678").unwrap();
        let expected: Vec<u8> = [3i16, 1, 0, 3, 1, 2345, 6780]
            .iter()
            .flat_map(|v| v.to_be_bytes())
            .collect();
        assert_eq!(bytes, expected);
        // 0.00001 = .0000|1000: the leading zero group is dropped (weight -2).
        let bytes = numeric_to_sql("0.00001").unwrap();
        let expected: Vec<u8> = [1i16, -2, 0, 5, 1000]
            .iter()
            .flat_map(|v| v.to_be_bytes())
            .collect();
        assert_eq!(bytes, expected);
        // -100000000: 1|0000|0000, trailing zero groups dropped.
        let bytes = numeric_to_sql("-100000000").unwrap();
        let expected: Vec<u8> = [1i16, 2, 0x4000u16 as i16, 0, 1]
            .iter()
            .flat_map(|v| v.to_be_bytes())
            .collect();
        assert_eq!(bytes, expected);
    }

    #[test]
    fn numeric_round_trips() {
        for (input, output) in [
            ("0", "0"),
            ("0.0", "0.0"),
            ("-0", "0"),
            ("1", "1"),
            ("-1.50", "-1.50"),
            ("12345.678", "12345.678"),
            ("0.001", "0.001"),
            ("-0.001", "-0.001"),
            ("10000", "10000"),
            ("9999.9999", "9999.9999"),
            (
                "123456789012345678901234567890.123456789",
                "123456789012345678901234567890.123456789",
            ),
            ("1e3", "1000"),
            ("1.5E-3", "0.0015"),
            ("+7", "7"),
            (".5", "0.5"),
            ("5.", "5"),
            (" 42 ", "42"),
            ("NaN", "NaN"),
            ("infinity", "Infinity"),
            ("-Infinity", "-Infinity"),
        ] {
            assert_eq!(numeric(input), output, "{input}");
        }
    }

    #[test]
    fn numeric_rejects_garbage() {
        for input in [
            "",
            "-",
            ".",
            "1.2.3",
            "abc",
            "1e",
            "1e5000000",
            "0x10",
            "1,5",
        ] {
            assert!(numeric_to_sql(input).is_err(), "{input}");
        }
        assert!(numeric_from_sql(&[0, 1]).is_err());
    }

    #[test]
    fn data_types() {
        assert!(matches!(data_type(&Type::INT8), DbDataType::Int64));
        assert!(matches!(
            data_type(&Type::TIMESTAMPTZ),
            DbDataType::Datetime
        ));
        assert!(matches!(data_type(&Type::VARCHAR), DbDataType::Str));
        assert!(matches!(data_type(&Type::NAME), DbDataType::Str));
        assert!(matches!(data_type(&Type::JSON), DbDataType::Jsonb));
        assert!(matches!(data_type(&Type::TEXT_ARRAY), DbDataType::ArrayStr));
        assert!(matches!(data_type(&Type::INT2_ARRAY), DbDataType::Other(ref n) if n == "_int2"));
        assert!(matches!(data_type(&Type::INET), DbDataType::Other(ref n) if n == "inet"));
    }

    #[test]
    fn decodes_scalars() {
        assert!(matches!(
            decode(&Type::INT8, &42i64.to_be_bytes()).unwrap(),
            DbValue::Int64(42)
        ));
        assert!(matches!(
            decode(&Type::BOOL, &[1]).unwrap(),
            DbValue::Boolean(true)
        ));
        assert!(matches!(decode(&Type::TEXT, b"hi").unwrap(), DbValue::Str(ref s) if s == "hi"));
        assert!(
            matches!(decode(&Type::BYTEA, &[0, 255]).unwrap(), DbValue::Binary(ref b) if b == &[0, 255])
        );
        let id = uuid::Uuid::parse_str("6f1c1c4e-8a4b-4f7e-9d7e-1b2c3d4e5f60").unwrap();
        assert!(matches!(decode(&Type::UUID, id.as_bytes()).unwrap(),
            DbValue::Uuid(ref s) if s == "6f1c1c4e-8a4b-4f7e-9d7e-1b2c3d4e5f60"));
        assert!(
            matches!(decode(&Type::JSONB, b"\x01{\"a\":1}").unwrap(), DbValue::Jsonb(ref b) if b == b"{\"a\":1}")
        );
        assert!(
            matches!(decode(&Type::JSON, b"[1]").unwrap(), DbValue::Jsonb(ref b) if b == b"[1]")
        );
        assert!(
            matches!(decode(&Type::INET, &[2, 32, 0, 4, 1, 2, 3, 4]).unwrap(), DbValue::Unsupported(ref b) if b.len() == 8)
        );
    }

    #[test]
    fn timestamps_are_utc_tuples() {
        // 2024-02-29 12:34:56.789 UTC, as microseconds since 2000-01-01.
        let dt = NaiveDate::from_ymd_opt(2024, 2, 29)
            .unwrap()
            .and_hms_micro_opt(12, 34, 56, 789_000)
            .unwrap();
        let micros = (dt
            - NaiveDate::from_ymd_opt(2000, 1, 1)
                .unwrap()
                .and_hms_opt(0, 0, 0)
                .unwrap())
        .num_microseconds()
        .unwrap();
        let expected = (2024, 2, 29, 12, 34, 56, 789_000_000);
        for ty in [Type::TIMESTAMP, Type::TIMESTAMPTZ] {
            match decode(&ty, &micros.to_be_bytes()).unwrap() {
                DbValue::Datetime(t) => assert_eq!(t, expected),
                other => panic!("{other:?}"),
            }
        }
        // And back: a datetime parameter encodes the same instant for both types.
        let p = ParameterValue::Datetime(expected);
        for ty in [Type::TIMESTAMP, Type::TIMESTAMPTZ] {
            assert_eq!(
                encode(&bind(0, &p, &ty).unwrap(), &ty),
                micros.to_be_bytes()
            );
        }
        // `infinity` cannot become a tuple: an error, not a panic.
        assert!(decode(&Type::TIMESTAMPTZ, &i64::MAX.to_be_bytes()).is_err());
    }

    #[test]
    fn binds_by_placeholder_type() {
        let b = bind(0, &ParameterValue::Int32(7), &Type::INT8).unwrap();
        assert_eq!(encode(&b, &Type::INT8), 7i64.to_be_bytes());
        let b = bind(0, &ParameterValue::Int32(7), &Type::NUMERIC).unwrap();
        assert_eq!(numeric_from_sql(&encode(&b, &Type::NUMERIC)).unwrap(), "7");
        let b = bind(0, &ParameterValue::Str("x".into()), &Type::VARCHAR).unwrap();
        assert_eq!(encode(&b, &Type::VARCHAR), b"x");
        let b = bind(0, &ParameterValue::Jsonb(b"{}".to_vec()), &Type::JSONB).unwrap();
        assert_eq!(encode(&b, &Type::JSONB), b"\x01{}");
        let b = bind(0, &ParameterValue::Jsonb(b"{}".to_vec()), &Type::JSON).unwrap();
        assert_eq!(encode(&b, &Type::JSON), b"{}");
        let id = "6f1c1c4e-8a4b-4f7e-9d7e-1b2c3d4e5f60";
        let b = bind(0, &ParameterValue::Uuid(id.into()), &Type::UUID).unwrap();
        assert_eq!(
            encode(&b, &Type::UUID),
            uuid::Uuid::parse_str(id).unwrap().as_bytes()
        );
        assert!(matches!(
            bind(0, &ParameterValue::DbNull, &Type::UUID).unwrap(),
            Bound::Null
        ));
    }

    #[test]
    fn rejects_mismatched_parameters() {
        let e = bind(1, &ParameterValue::Str("x".into()), &Type::INT4).unwrap_err();
        assert_eq!(
            e,
            "parameter $2: a str value cannot be sent as PostgreSQL type int4"
        );
        let e = bind(0, &ParameterValue::Uuid("not-a-uuid".into()), &Type::UUID).unwrap_err();
        assert!(
            e.starts_with("parameter $1: invalid UUID \"not-a-uuid\""),
            "{e}"
        );
        assert!(
            bind(0, &ParameterValue::Int64(1), &Type::INT4).is_err(),
            "no narrowing"
        );
        assert!(bind(0, &ParameterValue::Jsonb(b"{".to_vec()), &Type::JSONB).is_err());
        assert!(bind(0, &ParameterValue::Date((2023, 2, 30)), &Type::DATE).is_err());
        assert!(bind(0, &ParameterValue::Decimal("1.2.3".into()), &Type::NUMERIC).is_err());
    }

    #[test]
    fn arrays_round_trip() {
        let v = vec![Some(1), None, Some(-3)];
        let b = bind(0, &ParameterValue::ArrayInt32(v.clone()), &Type::INT4_ARRAY).unwrap();
        match decode(&Type::INT4_ARRAY, &encode(&b, &Type::INT4_ARRAY)).unwrap() {
            DbValue::ArrayInt32(got) => assert_eq!(got, v),
            other => panic!("{other:?}"),
        }
        let v = vec![Some("a".to_string()), None];
        let b = bind(0, &ParameterValue::ArrayStr(v.clone()), &Type::TEXT_ARRAY).unwrap();
        match decode(&Type::TEXT_ARRAY, &encode(&b, &Type::TEXT_ARRAY)).unwrap() {
            DbValue::ArrayStr(got) => assert_eq!(got, v),
            other => panic!("{other:?}"),
        }
        let v = vec![Some("1.5".to_string()), None, Some("-2".to_string())];
        let b = bind(
            0,
            &ParameterValue::ArrayDecimal(v.clone()),
            &Type::NUMERIC_ARRAY,
        )
        .unwrap();
        match decode(&Type::NUMERIC_ARRAY, &encode(&b, &Type::NUMERIC_ARRAY)).unwrap() {
            DbValue::ArrayDecimal(got) => assert_eq!(got, v),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn intervals_and_ranges_round_trip() {
        let iv = Interval {
            micros: -5,
            days: 3,
            months: 14,
        };
        let b = bind(0, &ParameterValue::Interval(iv), &Type::INTERVAL).unwrap();
        match decode(&Type::INTERVAL, &encode(&b, &Type::INTERVAL)).unwrap() {
            DbValue::Interval(got) => assert_eq!((got.micros, got.days, got.months), (-5, 3, 14)),
            other => panic!("{other:?}"),
        }
        let r = (Some((1, RangeBoundKind::Inclusive)), None);
        let b = bind(0, &ParameterValue::RangeInt64(r), &Type::INT8_RANGE).unwrap();
        match decode(&Type::INT8_RANGE, &encode(&b, &Type::INT8_RANGE)).unwrap() {
            DbValue::RangeInt64((Some((1, RangeBoundKind::Inclusive)), None)) => {}
            other => panic!("{other:?}"),
        }
        let r = (
            Some(("1.5".to_string(), RangeBoundKind::Exclusive)),
            Some(("2".to_string(), RangeBoundKind::Inclusive)),
        );
        let b = bind(0, &ParameterValue::RangeDecimal(r), &Type::NUM_RANGE).unwrap();
        match decode(&Type::NUM_RANGE, &encode(&b, &Type::NUM_RANGE)).unwrap() {
            DbValue::RangeDecimal((
                Some((lo, RangeBoundKind::Exclusive)),
                Some((hi, RangeBoundKind::Inclusive)),
            )) => {
                assert_eq!((lo.as_str(), hi.as_str()), ("1.5", "2"))
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            decode(&Type::INT4_RANGE, &[RANGE_EMPTY]).unwrap(),
            DbValue::RangeInt32((None, None))
        ));
    }
}
