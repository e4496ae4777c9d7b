//! Arbitrary bytes as a value of every type pgsans decodes, in both formats: its text and
//! every Rust type that reads it give a value or a typed error, never a panic.
//!
//! Input layout: the type (an index into the engine's list), the format, then the value.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| pgsans::fuzzing::targets::decode_value(data));
