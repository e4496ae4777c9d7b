//! Arbitrary bytes as the server's reply to a started connection: the engine must end in events
//! or a typed error, never panic, hang or allocate without bound; and cutting the same bytes
//! into different reads must not change what the caller observes.
//!
//! Input layout: the first byte says how many of the following bytes are read-size cuts; the
//! rest is the server's stream.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| pgsans::fuzzing::targets::server_reply(data));
