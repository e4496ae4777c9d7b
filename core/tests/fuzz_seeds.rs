//! Every fuzz target's committed seeds (`fuzz/seeds/<target>/`, the corpora the fuzzer grew,
//! minimized with `cargo fuzz cmin`) replayed through the same entry points the targets call:
//! each input a finding of the past, or a path the fuzzer reached, that must still end in a
//! typed result without a panic. The `finding-*` files are the inputs that found defects (each
//! named after it): the regression tests of those fixes. `fuzz/run-all` runs the fuzzer itself
//! on them.

use std::path::Path;

#[test]
fn every_targets_seeds_still_pass() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/seeds");
    for (name, target) in pgsans::fuzzing::targets::ALL {
        let dir = root.join(name);
        let mut seeds: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e} (every target keeps its seeds)", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        seeds.sort();
        assert!(seeds.len() >= 50, "{name}: only {} seeds", seeds.len());
        for seed in seeds {
            let data = std::fs::read(&seed).unwrap();
            let outcome = std::panic::catch_unwind(|| target(&data));
            assert!(outcome.is_ok(), "{name}: {} panics", seed.display());
        }
    }
}

#[test]
fn every_fuzz_target_is_listed() {
    let toml = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/Cargo.toml")).unwrap();
    let declared: Vec<&str> =
        toml.lines().filter_map(|l| l.strip_prefix("name = \"")).filter_map(|l| l.strip_suffix('"')).collect();
    let listed: Vec<&str> = pgsans::fuzzing::targets::ALL.iter().map(|(n, _)| *n).collect();
    for name in &declared {
        if *name != "pgsans-fuzz" {
            assert!(listed.contains(name), "fuzz target {name} has no entry in fuzzing::targets::ALL");
        }
    }
}
