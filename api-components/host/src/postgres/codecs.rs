//! The few PostgreSQL codecs that no crate provides in the form Spin uses:
//! [`Interval`], [`Null`] (a NULL of any type), [`Raw`] (any value, undecoded) and
//! [`DecimalBound`] (a `rust_decimal` usable as a `postgres_range` bound).

use super::wit;
use bytes::{BufMut, BytesMut};
use rust_decimal::Decimal;
use std::error::Error as StdError;
use tokio_postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};

type BoxError = Box<dyn StdError + Sync + Send>;

/// An `interval`: microseconds (i64), days (i32), months (i32), in that order.
#[derive(Debug)]
pub struct Interval(pub wit::Interval);

impl ToSql for Interval {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        out.put_i64(self.0.micros);
        out.put_i32(self.0.days);
        out.put_i32(self.0.months);
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::INTERVAL
    }

    to_sql_checked!();
}

impl<'a> FromSql<'a> for Interval {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        let raw: &[u8; 16] = raw
            .try_into()
            .map_err(|_| "unexpected binary format for Postgres INTERVAL")?;
        let (micros, rest) = raw.split_at(8);
        let (days, months) = rest.split_at(4);
        Ok(Interval(wit::Interval {
            micros: i64::from_be_bytes(micros.try_into()?),
            days: i32::from_be_bytes(days.try_into()?),
            months: i32::from_be_bytes(months.try_into()?),
        }))
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::INTERVAL
    }
}

/// `db-null`: NULL, whatever the placeholder's type.
#[derive(Debug)]
pub struct Null;

impl ToSql for Null {
    fn to_sql(&self, _: &Type, _: &mut BytesMut) -> Result<IsNull, BoxError> {
        Ok(IsNull::Yes)
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// A value of any type, as the raw bytes of its binary format (`unsupported`).
pub struct Raw(pub Vec<u8>);

impl<'a> FromSql<'a> for Raw {
    fn from_sql(_: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        Ok(Raw(raw.to_vec()))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// A `numeric` range bound: `rust_decimal`'s codec, never normalised.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct DecimalBound(pub Decimal);

impl ToSql for DecimalBound {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        self.0.to_sql(ty, out)
    }

    fn accepts(ty: &Type) -> bool {
        <Decimal as ToSql>::accepts(ty)
    }

    to_sql_checked!();
}

impl<'a> FromSql<'a> for DecimalBound {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        Decimal::from_sql(ty, raw).map(DecimalBound)
    }

    fn accepts(ty: &Type) -> bool {
        <Decimal as FromSql>::accepts(ty)
    }
}

impl postgres_range::Normalizable for DecimalBound {
    fn normalize<S: postgres_range::BoundSided>(
        bound: postgres_range::RangeBound<S, Self>,
    ) -> postgres_range::RangeBound<S, Self> {
        bound
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_round_trips_and_checks_its_length() {
        let iv = wit::Interval {
            micros: -5,
            days: 3,
            months: 14,
        };
        let mut out = BytesMut::new();
        Interval(iv).to_sql(&Type::INTERVAL, &mut out).unwrap();
        assert_eq!(out.len(), 16);
        let back = Interval::from_sql(&Type::INTERVAL, &out).unwrap().0;
        assert_eq!((back.micros, back.days, back.months), (-5, 3, 14));
        assert!(Interval::from_sql(&Type::INTERVAL, &out[..15]).is_err());
        assert!(!<Interval as ToSql>::accepts(&Type::INT8));
    }

    #[test]
    fn null_and_raw_take_any_type() {
        let mut out = BytesMut::new();
        assert!(matches!(
            Null.to_sql(&Type::UUID, &mut out).unwrap(),
            IsNull::Yes
        ));
        assert!(<Null as ToSql>::accepts(&Type::INET));
        assert!(<Raw as FromSql>::accepts(&Type::JSON));
        assert_eq!(Raw::from_sql(&Type::INET, &[1, 2]).unwrap().0, vec![1, 2]);
    }
}
