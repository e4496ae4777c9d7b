//! Connects, runs a few statements, prints what came back.
//!
//! ```text
//! cargo run --example quickstart                      # a throwaway server started for you
//! cargo run --example quickstart -- "postgresql://user:pw@host/db"
//! PGHOST=/var/run/postgresql cargo run --example quickstart   # libpq environment variables
//! ```

use pgsans_harness::{AuthMethod, TestServer};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let named = std::env::args().nth(1).or_else(|| std::env::var("DATABASE_URL").ok());
    let from_env =
        ["PGHOST", "PGHOSTADDR", "PGPORT", "PGDATABASE", "PGUSER"].iter().any(|v| std::env::var_os(v).is_some());
    let conninfo = match named {
        Some(url) => url,
        None if from_env => String::new(),
        None => {
            eprintln!("No server named (argument, DATABASE_URL or PG* variables): starting a throwaway PostgreSQL...");
            let server = TestServer::shared();
            eprintln!("  {} on 127.0.0.1:{} (data in {})", server.version, server.port, server.root_dir().display());
            server.conninfo(AuthMethod::Scram)
        }
    };

    let mut conn = pgsans_std::Connection::connect(&conninfo)?;
    println!("connected: {}", conn.dsn());
    println!(
        "server {} (server_version {}), backend pid {}, client_encoding {}",
        conn.parameter_status("server_version").unwrap_or("?"),
        conn.server_version(),
        conn.backend_pid(),
        conn.parameter_status("client_encoding").unwrap_or("?"),
    );

    let results = conn.simple_query(
        "CREATE TEMP TABLE fruit (name text, qty int);
         INSERT INTO fruit VALUES ('apple', 3), ('pear', NULL), ('', 0);
         SELECT name, qty, qty * 2 AS double FROM fruit ORDER BY qty NULLS LAST;
         SELECT 6 * 7 AS answer",
    )?;
    for rs in &results {
        println!("-- {}", rs.command_tag().unwrap_or("(empty query)"));
        if rs.returns_rows() {
            let names: Vec<&str> = rs.columns().iter().map(|c| c.name()).collect();
            println!("   {}", names.join(" | "));
            for row in rs.rows() {
                let cells: Vec<String> = (0..row.len())
                    .map(|i| match row.get_str(i) {
                        Ok(Some(v)) => format!("{v:?}"),
                        _ => "NULL".to_owned(),
                    })
                    .collect();
                println!("   {}", cells.join(" | "));
            }
        }
    }

    let batch = conn.simple_query_batch("SELECT 'before'; SELECT 1/0; SELECT 'never'")?;
    println!(
        "a failing batch kept {} result(s) and reported: {}",
        batch.results.len(),
        batch.error.map(|e| e.to_string()).unwrap_or_default()
    );
    // psycopg2 semantics: the first statement opened a transaction, the error left it failed.
    println!("transaction status: {:?} -> rollback", conn.transaction_status());
    conn.rollback()?;
    println!("transaction status: {:?}", conn.transaction_status());

    // Extended protocol: typed parameters and typed results.
    let row = conn.query_one("SELECT $1::int4 * 2 AS doubled, $2::text || '!' AS shout", &[&21i32, &"hello"])?;
    let (doubled, shout): (i32, &str) = (row.get("doubled")?, row.get("shout")?);
    println!("query_one with parameters: doubled={doubled} shout={shout:?}");
    conn.commit()?;
    conn.close()?;
    println!("closed.");
    Ok(())
}
