//! Arbitrary Xid strings (psycopg2's `Xid.from_string`): an Xid whose string form reads back
//! the same, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| pgsans::fuzzing::targets::xid(data));
