//! Arbitrary bytes as a binary COPY stream: rows or a typed error, the same however the
//! stream is cut.
//!
//! Input layout: a byte giving how many column types follow (at most 4; an odd byte also
//! means "the stream carries its own header", else the valid 19-byte header is put in front),
//! the types, a byte giving how many cut sizes follow (at most 6), the cuts, then the stream.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| pgsans::fuzzing::targets::binary_copy(data));
