//! `.pgpass` and service files: the first line is what is looked up, the rest the file. Never a
//! panic; a line written for any password reads back that password.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| pgsans::fuzzing::targets::files(data));
