//! Caller operations in any order (queries, streams, portals, pipelines, COPY, session commands,
//! two-phase commit, abandon, terminate) against a simulated well-behaved server, the bytes
//! moved in arbitrary cuts: never a panic or a stuck engine, and every request answered once.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| pgsans::fuzzing::targets::operations(data));
