//! One backend message body per input (first byte = type), straight into its decoder, so the
//! fuzzer explores each decoder without framing overhead (pgx's per-message fuzzers).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| pgsans::fuzzing::targets::decode_message(data));
