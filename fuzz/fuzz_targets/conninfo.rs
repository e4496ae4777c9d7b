//! Arbitrary connection strings: a Config or a typed ConfigError, never a panic; a parsed
//! config's dsn() and targets() never panic either.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| pgsans::fuzzing::targets::conninfo(data));
