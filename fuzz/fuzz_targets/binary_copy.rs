//! Arbitrary bytes as a binary COPY stream: rows or a typed error, the same however the
//! stream is cut.
//!
//! Input layout: a byte giving how many column types follow (at most 4; an odd byte also
//! means "the stream carries its own header", else the valid 19-byte header is put in front),
//! the types, a byte giving how many cut sizes follow (at most 6), the cuts, then the stream.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&n, rest)) = data.split_first() else { return };
    let n = n as usize;
    let (picks, rest) = rest.split_at((n % 5).min(rest.len()));
    let Some((&m, rest)) = rest.split_first() else { return };
    let m = (m as usize % 7).min(rest.len());
    let (cuts, body) = rest.split_at(m);
    let mut stream = Vec::new();
    if n % 2 == 0 {
        stream.extend_from_slice(b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0");
    }
    stream.extend_from_slice(body);
    let whole = pgsans::fuzzing::binary_copy(picks, &[0], &stream);
    assert_eq!(pgsans::fuzzing::binary_copy(picks, cuts, &stream), whole);
});
