//! Arbitrary server bytes: typed errors or events, never a panic, a hang or unbounded memory;
//! and the same outcome however the bytes are cut. (The fuzz target in fuzz/ runs the same
//! function with coverage guidance.)

mod common;

use pgsans::fuzzing::server_reply;
use proptest::prelude::*;

/// A valid trust-auth startup, so the fuzzer's bytes reach the query phase.
const STARTUP: &[u8] = b"R\0\0\0\x08\0\0\0\0K\0\0\0\x0c\0\0\x30\x39\x01\x02\x03\x04Z\0\0\0\x05I";

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]
    #[test]
    fn arbitrary_bytes(data in proptest::collection::vec(any::<u8>(), 0..300), cuts in proptest::collection::vec(any::<u8>(), 1..8)) {
        let whole = server_reply(&data, &[0]);
        prop_assert_eq!(server_reply(&data, &cuts), whole);
    }

    #[test]
    fn arbitrary_bytes_after_startup(data in proptest::collection::vec(any::<u8>(), 0..300), cuts in proptest::collection::vec(any::<u8>(), 1..8)) {
        let mut input = STARTUP.to_vec();
        input.extend_from_slice(&data);
        let whole = server_reply(&input, &[0]);
        prop_assert_eq!(server_reply(&input, &cuts), whole);
    }

    #[test]
    fn mutated_transcripts(which in 0..common::SIMPLE.len(), flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6)) {
        let t = common::load(common::SIMPLE[which]);
        let mut stream = t.server_stream();
        for (at, byte) in flips {
            let i = at.index(stream.len());
            stream[i] = byte;
        }
        let whole = server_reply(&stream, &[0]);
        prop_assert_eq!(server_reply(&stream, &[1]), whole);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]
    #[test]
    fn arbitrary_connection_strings(s in ".{0,80}") {
        pgsans::fuzzing::conninfo(&s);
    }

    #[test]
    fn conninfo_shaped_strings(
        parts in proptest::collection::vec(
            prop::sample::select(vec![
                "host", "port", "user", "dbname", "password", "sslmode", "options", "=", "'", "\\", " ", ",", "@", ":",
                "/", "?", "&", "%", "%2F", "%00", "[", "]", "::1", "postgresql://", "x", "5432", "99999",
            ]),
            0..20,
        )
    ) {
        pgsans::fuzzing::conninfo(&parts.concat());
    }

    #[test]
    fn every_decoder_on_arbitrary_bodies(ty in prop::sample::select(b"RKSZTDCIEANn123tsGHWdcvV?".to_vec()), body in proptest::collection::vec(any::<u8>(), 0..64)) {
        pgsans::fuzzing::decode_message(ty, &body);
    }
}

#[test]
fn oversized_length_is_refused_without_allocating() {
    // A DataRow claiming 1 GiB: refused as soon as its header is read.
    let mut input = STARTUP.to_vec();
    input.extend_from_slice(b"D\x3f\xff\xff\xff");
    let log = server_reply(&input, &[0]);
    assert!(log.iter().any(|l| l.contains("MessageTooLarge")), "{log:?}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]
    /// Every type decoder and the text renderer on arbitrary bytes, both formats.
    #[test]
    fn arbitrary_values(pick in any::<u8>(), format in any::<u8>(), raw in proptest::collection::vec(any::<u8>(), 0..80)) {
        pgsans::fuzzing::decode_value(pick, format, &raw);
    }

    /// The binary COPY reader: the same rows or error however the stream is cut.
    #[test]
    fn arbitrary_binary_copy(picks in proptest::collection::vec(any::<u8>(), 0..4), cuts in proptest::collection::vec(any::<u8>(), 1..6),
                             body in proptest::collection::vec(any::<u8>(), 0..200)) {
        let mut data = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0".to_vec();
        data.extend_from_slice(&body);
        let whole = pgsans::fuzzing::binary_copy(&picks, &[0], &data);
        prop_assert_eq!(pgsans::fuzzing::binary_copy(&picks, &cuts, &data), whole);
    }

    #[test]
    fn arbitrary_xids(s in ".{0,60}", fmt in any::<i32>(), gtrid in "[a-z0-9_]{0,20}", bqual in "[a-z0-9_]{0,20}") {
        pgsans::fuzzing::xid(&s);
        pgsans::fuzzing::xid(&format!("{fmt}_{gtrid}_{bqual}"));
    }
}
