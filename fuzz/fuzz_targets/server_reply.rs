//! Arbitrary bytes as the server's reply to a started connection: the engine must end in events
//! or a typed error, never panic, hang or allocate without bound; and cutting the same bytes
//! into different reads must not change what the caller observes.
//!
//! Input layout: the first byte says how many of the following bytes are read-size cuts; the
//! rest is the server's stream.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&n, rest)) = data.split_first() else { return };
    let n = (n as usize % 8).min(rest.len());
    let (cuts, server) = rest.split_at(n);
    let whole = pgsans::fuzzing::server_reply(server, &[0]);
    if !cuts.is_empty() {
        assert_eq!(pgsans::fuzzing::server_reply(server, cuts), whole);
    }
    assert_eq!(pgsans::fuzzing::server_reply(server, &[1]), whole);
});
