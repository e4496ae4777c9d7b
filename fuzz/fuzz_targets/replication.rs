//! A replication stream's messages and a pgoutput stream as a hostile server could send them:
//! the input is split into messages (2-byte big-endian lengths), each parsed as a replication
//! message and decoded by one pgoutput decoder that keeps its relations across them, and every
//! tuple read through its row. Typed errors only: never a panic, a hang or unbounded memory.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| pgsans::fuzzing::targets::replication(data));
