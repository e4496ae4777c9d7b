//! Property tests over every type pgsans encodes: `FromSql(ToSql(x)) == x` in the binary
//! format, and again through the text the server would print for it (`Row::text`'s renderer
//! read back by the type's own text parser).

use proptest::prelude::*;

use super::oid::*;
use super::*;

/// `value` encoded for its natural type reads back equal, from the binary and from its text.
fn round_trip<T>(value: &T) -> Result<(), TestCaseError>
where
    T: ToSql + for<'a> FromSql<'a> + PartialEq + std::fmt::Debug,
{
    round_trip_as(value, value.natural_type())
}

/// `round_trip` for a parameter of type `oid`.
fn round_trip_as<T>(value: &T, oid: u32) -> Result<(), TestCaseError>
where
    T: ToSql + for<'a> FromSql<'a> + PartialEq + std::fmt::Debug,
{
    let mut bytes = Vec::new();
    prop_assert_eq!(value.encode(oid, &mut bytes).unwrap(), IsNull::No);
    let format = value.binary(oid) as i16;
    let back = T::from_sql(oid, format, &bytes).unwrap();
    prop_assert_eq!(&back, value, "binary {:?}", bytes);
    if format == 1 {
        let text = text::render(Encoding::UTF8, oid, 1, &bytes).unwrap();
        let back = T::from_sql(oid, 0, text.as_bytes()).unwrap();
        prop_assert_eq!(&back, value, "text {}", text);
    }
    Ok(())
}

fn point() -> impl Strategy<Value = Point> {
    (-1e300f64..1e300, -1e6f64..1e6).prop_map(|(x, y)| Point { x, y })
}

proptest! {
    #[test]
    fn scalars(a in any::<i16>(), b in any::<i32>(), c in any::<i64>(), d in any::<bool>(), e in ".{0,20}",
               f in proptest::collection::vec(any::<u8>(), 0..20), g in any::<u32>()) {
        round_trip(&a)?;
        round_trip(&b)?;
        round_trip(&c)?;
        round_trip(&d)?;
        round_trip(&e)?;
        round_trip(&f)?;
        let mut oid_bytes = Vec::new();
        g.encode(OID, &mut oid_bytes).unwrap();
        prop_assert_eq!(u32::from_sql(OID, 1, &oid_bytes).unwrap(), g);
    }

    #[test]
    fn floats(a in any::<f64>().prop_filter("not NaN", |v| !v.is_nan()), b in any::<f32>().prop_filter("not NaN", |v| !v.is_nan())) {
        round_trip(&a)?;
        round_trip(&b)?;
    }

    #[test]
    fn network_and_wal(v4 in any::<[u8; 4]>(), v6 in any::<[u8; 16]>(), p4 in 0u8..=32, p6 in 0u8..=128,
                       mac in any::<[u8; 6]>(), mac8 in any::<[u8; 8]>(), lsn in any::<u64>(), xid in any::<u64>(),
                       money in any::<i64>()) {
        round_trip(&Inet { addr: core::net::IpAddr::from(v4), prefix: p4 })?;
        round_trip(&Inet { addr: core::net::IpAddr::from(v6), prefix: p6 })?;
        round_trip(&core::net::IpAddr::from(v6))?;
        round_trip(&MacAddr(mac))?;
        round_trip(&MacAddr8(mac8))?;
        round_trip(&PgLsn(lsn))?;
        round_trip(&Xid8(xid))?;
        round_trip(&Money(money))?;
    }

    #[test]
    fn bits_and_geometry(bits in proptest::collection::vec(any::<bool>(), 0..40), a in point(), b in point(),
                         pts in proptest::collection::vec(point(), 0..6), closed in any::<bool>(), r in 0f64..1e9) {
        round_trip(&Bits::from_bools(bits))?;
        round_trip(&a)?;
        round_trip(&Lseg { start: a, end: b })?;
        round_trip(&Line { a: a.x, b: a.y, c: b.x })?;
        round_trip(&Path { closed, points: pts.clone() })?;
        round_trip(&Polygon { points: pts })?;
        round_trip(&Circle { center: a, radius: r })?;
        // A box is kept with its upper right corner first.
        let (hi, lo) = (Point { x: a.x.max(b.x), y: a.y.max(b.y) }, Point { x: a.x.min(b.x), y: a.y.min(b.y) });
        round_trip(&PgBox { high: hi, low: lo })?;
    }

    #[test]
    fn arrays(v in proptest::collection::vec(proptest::option::of(any::<i32>()), 0..10),
              s in proptest::collection::vec("[a-zA-Z ,{}é]{0,8}", 0..6), p in proptest::collection::vec(any::<u64>(), 1..5)) {
        round_trip_as(&v, INT4_ARRAY)?;
        round_trip_as(&s, TEXT_ARRAY)?;
        round_trip_as(&p.into_iter().map(PgLsn).collect::<Vec<_>>(), PG_LSN_ARRAY)?;
    }
}
