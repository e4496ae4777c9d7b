//! Checks that run `cargo` itself, part of the suite so that CI (which runs exactly the README's
//! test command) runs them: the documentation a user reads builds without a warning (also as
//! docs.rs builds it), the library code neither unwraps nor expects (clippy), the workspace
//! builds without a warning against the newest dependencies a fresh resolve picks, and a
//! user's crate needs one dependency for every type integration.
//!
//! They build into `target/ci-checks` (not the suite's own target directory, which the running
//! `cargo test` holds), one at a time.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

fn target_dir() -> PathBuf {
    workspace().join("target").join("ci-checks")
}

/// Runs `cargo args…` in `dir` with `env`; panics with its output if it fails or warns.
fn cargo(dir: &Path, args: &[&str], env: &[(&str, &str)]) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(args).current_dir(dir).env("CARGO_TARGET_DIR", target_dir());
    // What the outer `cargo test` set for its own build must not leak into these builds.
    for var in ["RUSTFLAGS", "RUSTDOCFLAGS", "CARGO_ENCODED_RUSTFLAGS", "RUSTC_BOOTSTRAP"] {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied());
    let out = cmd.output().expect("run cargo");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "cargo {args:?} failed:\n{stderr}");
    let warnings: Vec<&str> = stderr.lines().filter(|l| l.starts_with("warning")).collect();
    assert!(warnings.is_empty(), "cargo {args:?} warned:\n{stderr}");
}

const DOCUMENTED: [&str; 14] = [
    "-p",
    "pgsans",
    "-p",
    "pgsans-client",
    "-p",
    "pgsans-std",
    "-p",
    "pgsans-tokio",
    "-p",
    "pgsans-smol",
    "-p",
    "pgsans-derive",
    "-p",
    "pgsans-postgres-types",
];

#[test]
fn documentation_builds_without_warnings() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut args = vec!["doc", "--no-deps", "--all-features"];
    args.extend(DOCUMENTED);
    cargo(&workspace(), &args, &[("RUSTDOCFLAGS", "-D warnings")]);
    // As docs.rs builds it: nightly features (feature labels) through RUSTC_BOOTSTRAP.
    cargo(&workspace(), &args, &[("RUSTDOCFLAGS", "--cfg docsrs -D warnings"), ("RUSTC_BOOTSTRAP", "1")]);
    // Every public item a transport crate reaches has a page: the client's types, inlined.
    let doc = target_dir().join("doc");
    for page in ["pgsans_tokio/pgsans_client/struct.CopyIn.html", "pgsans_smol/pgsans_client/struct.RowStream.html"] {
        assert!(doc.join(page).exists(), "no page {page}");
    }
}

/// The library code of every crate a user depends on never calls `unwrap` or `expect`: a path
/// the server's bytes or the caller's input reach ends in a typed error, not a panic. (The few
/// provably infallible `expect`s carry an `allow` with the reason; tests may unwrap.)
#[test]
fn library_code_neither_unwraps_nor_expects() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let mut args = vec!["clippy", "--lib", "--all-features"];
    args.extend(DOCUMENTED);
    args.extend(["--", "-D", "clippy::unwrap_used", "-D", "clippy::expect_used"]);
    cargo(&workspace(), &args, &[]);
}

/// Copies the workspace's sources (no `target`, no `.git`) to `to`.
fn copy_sources(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name == "target" || name == ".git" {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            copy_sources(&path, &to.join(&name));
        } else {
            std::fs::copy(&path, to.join(&name)).unwrap();
        }
    }
}

#[test]
fn builds_without_warnings_with_the_newest_compatible_dependencies() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let scratch = std::env::temp_dir().join(format!("pgsans-newest-deps-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    copy_sources(&workspace(), &scratch);
    // What a user depending on pgsans gets from a fresh resolve.
    let cargo_bin = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let update = Command::new(cargo_bin).arg("update").current_dir(&scratch).output().expect("cargo update");
    assert!(update.status.success(), "cargo update: {}", String::from_utf8_lossy(&update.stderr));
    cargo(&scratch, &["build", "--workspace", "--all-targets"], &[("RUSTFLAGS", "-D warnings")]);
    std::fs::remove_dir_all(&scratch).ok();
}

#[test]
fn a_user_crate_needs_one_dependency() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = std::env::temp_dir().join(format!("pgsans-user-crate-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("src")).unwrap();
    let tokio_path = workspace().join("transport-tokio");
    std::fs::write(
        dir.join("Cargo.toml"),
        format!(
            r#"[package]
name = "user-app"
version = "0.1.0"
edition = "2021"

[dependencies]
pgsans-tokio = {{ path = "{}", features = ["chrono", "time", "uuid", "serde_json", "rust_decimal"] }}
tokio = {{ version = "1", features = ["macros", "rt-multi-thread"] }}
chrono = "0.4"
uuid = "1"
serde_json = "1"
rust_decimal = "1"
time = "0.3"

[workspace]
"#,
            tokio_path.display()
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("src/main.rs"),
        r#"use pgsans_tokio::pgsans::{Error, FromRow, FromSql, ToSql};

// The derives, reached through the transport crate alone.
#[derive(FromRow)]
#[pgsans(crate = "pgsans_tokio::pgsans")]
struct Item {
    id: i64,
    mood: Mood,
}

#[derive(Debug, ToSql, FromSql)] // ToSql values are Debug (parameters are shown in errors)
#[pgsans(crate = "pgsans_tokio::pgsans")]
enum Mood {
    Sad,
    Ok,
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let mut conn = pgsans_tokio::Connection::connect("postgresql://app@localhost/shop").await?;
    let when = chrono::Utc::now().fixed_offset();
    let id = uuid::Uuid::nil();
    let doc = serde_json::json!({"a": 1});
    let price = rust_decimal::Decimal::new(1999, 2);
    let date = time::Date::from_calendar_date(2026, time::Month::December, 7).unwrap();
    let row = conn.query_one("SELECT $1::timestamptz, $2::uuid, $3::jsonb, $4::numeric, $5::date", &[&when, &id, &doc, &price, &date]).await?;
    let _: chrono::DateTime<chrono::Local> = row.get(0)?;
    let _: uuid::Uuid = row.get(1)?;
    let _: serde_json::Value = row.get(2)?;
    let _: rust_decimal::Decimal = row.get(3)?;
    let _: time::Date = row.get(4)?;
    let items: Vec<Item> = conn.query_as("SELECT id, mood FROM items WHERE mood = $1", &[&Mood::Ok]).await?;
    let _ = items.first().map(|i| (i.id, matches!(i.mood, Mood::Sad)));
    conn.commit().await
}
"#,
    )
    .unwrap();
    cargo(&dir, &["check"], &[("RUSTFLAGS", "-D warnings")]);
    std::fs::remove_dir_all(&dir).ok();
}

/// Every fuzz target runs for a short fixed time on its committed seeds (`fuzz/run-all`),
/// with the limits the project holds them to; cargo-fuzz is installed first where missing.
#[test]
fn every_fuzz_target_runs_on_its_seeds() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let clean = |cmd: &mut Command| {
        for var in ["RUSTFLAGS", "RUSTDOCFLAGS", "CARGO_ENCODED_RUSTFLAGS", "CARGO_TARGET_DIR"] {
            cmd.env_remove(var);
        }
    };
    let mut probe = Command::new(&cargo);
    probe.args(["fuzz", "--version"]);
    clean(&mut probe);
    if !probe.output().is_ok_and(|o| o.status.success()) {
        let mut install = Command::new(&cargo);
        install.args(["install", "cargo-fuzz", "--locked"]);
        clean(&mut install);
        let out = install.output().expect("run cargo install");
        assert!(out.status.success(), "cargo install cargo-fuzz failed:\n{}", String::from_utf8_lossy(&out.stderr));
    }
    let mut run = Command::new(workspace().join("fuzz/run-all"));
    run.arg("10").env("CARGO", &cargo);
    clean(&mut run);
    let out = run.output().expect("run fuzz/run-all");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "fuzz/run-all failed:\n{stdout}\n{stderr}");
    let targets = std::fs::read_dir(workspace().join("fuzz/seeds")).unwrap().count();
    let ran: Vec<&str> = stdout.lines().filter(|l| l.starts_with("Done ")).collect();
    assert_eq!(ran.len(), targets, "every target ran:\n{stdout}\n{stderr}");
    assert!(!stdout.contains("SUMMARY") && !stdout.contains("panicked"), "{stdout}");
}
