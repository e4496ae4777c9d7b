use super::*;

fn p(s: &str) -> Config {
    Config::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

#[test]
fn keyword_value_quoting_and_escapes() {
    let c = p(r"host=localhost  port = 5433 user='we ird\'o' password=a\ b dbname='' options='-c search_path=x\\y'");
    assert_eq!(c.get("host"), Some("localhost"));
    assert_eq!(c.get("port"), Some("5433"));
    assert_eq!(c.user(), Some("we ird'o"));
    assert_eq!(c.password(), Some("a b"));
    assert_eq!(c.get("dbname"), Some(""));
    assert_eq!(c.options(), Some(r"-c search_path=x\y"));
    assert_eq!(c.dbname(), Some("we ird'o"), "empty dbname falls back to the user");
}

#[test]
fn keyword_value_errors_name_the_problem() {
    assert_eq!(Config::parse("host"), Err(ConfigError::MissingEquals { key: "host".into() }));
    assert_eq!(Config::parse("host='abc"), Err(ConfigError::UnterminatedQuote));
    assert_eq!(Config::parse("hots=x"), Err(ConfigError::UnknownOption("hots".into())));
    assert_eq!(
        Config::parse("sslmode=maybe"),
        Err(ConfigError::InvalidValue { key: "sslmode".into(), value: "maybe".into() })
    );
    assert_eq!(Config::parse("port=99999"), Err(ConfigError::InvalidPort("99999".into())));
    assert_eq!(
        Config::parse("connect_timeout=soon"),
        Err(ConfigError::InvalidInteger { key: "connect_timeout".into(), value: "soon".into() })
    );
    assert_eq!(Config::parse("host=a,b,c port=1,2"), Err(ConfigError::PortCount { ports: 2, hosts: 3 }));
}

#[test]
fn later_keyword_wins_and_requiressl_maps() {
    let c = p("user=a user=b requiressl=1");
    assert_eq!(c.user(), Some("b"));
    assert_eq!(c.ssl_mode(), SslMode::Require);
}

#[test]
fn uri_full_form() {
    let c = p("postgresql://us%40er:p%3Ass@db.example.com:6543/my%20db?application_name=app&sslmode=disable");
    assert_eq!(c.user(), Some("us@er"));
    assert_eq!(c.password(), Some("p:ss"));
    assert_eq!(c.get("host"), Some("db.example.com"));
    assert_eq!(c.get("port"), Some("6543"));
    assert_eq!(c.dbname(), Some("my db"));
    assert_eq!(c.application_name(), Some("app"));
    assert_eq!(c.ssl_mode(), SslMode::Disable);
}

#[test]
fn uri_hosts_ipv6_and_sockets() {
    let c = p("postgres://[::1]:5433,[fe80::1%25eth0],host3:7/db");
    let t = c.targets().unwrap();
    assert_eq!(t.len(), 3);
    assert_eq!(t[0], Target::new(Host::Tcp("::1".into()), None, 5433));
    // Percent-decoded inside the brackets too, as libpq (its PQconninfoParse gives `fe80::1%eth0`).
    assert_eq!(t[1].host, Host::Tcp("fe80::1%eth0".into()));
    assert_eq!(t[1].port, 5432, "empty port entry means the default");
    assert_eq!(t[2].port, 7);

    let c = p("postgresql://%2Fvar%2Frun%2Fpostgresql/db");
    assert_eq!(c.targets().unwrap()[0].host, Host::Unix("/var/run/postgresql".into()));
    let c = p("postgresql:///db?host=/tmp&port=5999");
    let t = &c.targets().unwrap()[0];
    assert_eq!(t.socket_path().unwrap(), std::path::PathBuf::from("/tmp/.s.PGSQL.5999"));

    let c = p("postgresql://host1:5432,host2");
    assert_eq!(c.get("host"), Some("host1,host2"));
    assert_eq!(c.get("port"), Some("5432,"));
}

#[test]
fn uri_errors() {
    assert!(matches!(Config::parse("postgresql://[]/db"), Err(ConfigError::InvalidUri { .. })));
    assert!(matches!(Config::parse("postgresql://[::1/db"), Err(ConfigError::InvalidUri { .. })));
    assert!(matches!(Config::parse("postgresql://[::1]x/db"), Err(ConfigError::InvalidUri { .. })));
    assert!(matches!(Config::parse("postgresql://h/db?x"), Err(ConfigError::UriMissingSeparator(_))));
    assert!(matches!(Config::parse("postgresql://h/db?a=b=c"), Err(ConfigError::UriExtraSeparator(_))));
    assert_eq!(Config::parse("postgresql://h/db?nope=1"), Err(ConfigError::UnknownUriParameter("nope".into())));
    assert!(matches!(Config::parse("postgresql://h/d%zzb"), Err(ConfigError::InvalidPercentEncoding { .. })));
    assert!(matches!(Config::parse("postgresql://h/d%00"), Err(ConfigError::PercentEncodedNul(_))));
    assert!(matches!(Config::parse("postgresql://h:0/db"), Err(ConfigError::InvalidPort(_))));
}

#[test]
fn plus_is_not_a_space() {
    assert_eq!(p("postgresql://h/a+b").dbname(), Some("a+b"));
}

#[test]
fn dsn_obscures_the_password() {
    assert_eq!(p("host=h dbname=d").dsn(), "host=h dbname=d");
    let uri = "postgres://someone:whateva@localhost/nosuch";
    let mut tokens: Vec<String> = p(uri).dsn().split(' ').map(String::from).collect();
    tokens.sort();
    assert_eq!(tokens, vec!["dbname=nosuch", "host=localhost", "password=xxx", "user=someone"]);
    assert!(!p("password='a b' user=u").dsn().contains("a b"));
    assert!(p("password=s user=u").dsn_parameters().iter().all(|(k, _)| *k != "password"));
}

#[test]
fn env_fills_only_what_is_missing() {
    let mut c = p("host=explicit");
    c.apply_env(|k| match k {
        "PGHOST" => Some("fromenv".into()),
        "PGUSER" => Some("envuser".into()),
        "PGPORT" => Some("6000".into()),
        _ => None,
    })
    .unwrap();
    assert_eq!(c.get("host"), Some("explicit"));
    assert_eq!(c.user(), Some("envuser"));
    assert_eq!(c.targets().unwrap()[0].port, 6000);
    assert_eq!(c.dsn(), "host=explicit");
}

#[test]
fn pgpass_matching() {
    let file = "# comment\nother:*:*:*:nope\nlocalhost:5432:*:bob:pw\\:1:ignored\n*:*:*:*:fallback\n";
    assert_eq!(pgpass_lookup(file, "localhost", 5432, "db", "bob").as_deref(), Some("pw:1"));
    assert_eq!(pgpass_lookup(file, "localhost", 5433, "db", "bob").as_deref(), Some("fallback"));
    assert_eq!(pgpass_lookup("h:1:d:u", "h", 1, "d", "u"), None);
}

#[test]
fn host_attempts_follow_libpq() {
    let c = Config::parse("host=a,b,c port=1,2,3 target_session_attrs=prefer-standby").unwrap();
    let got: Vec<_> = c.host_attempts(7).unwrap().into_iter().map(|a| (a.target.port, a.attrs)).collect();
    use crate::config::TargetSessionAttrs::{Any, PreferStandby};
    assert_eq!(got, [(1, PreferStandby), (2, PreferStandby), (3, PreferStandby), (1, Any), (2, Any), (3, Any)]);
    // Shuffled by the seed: every order shows up, each host exactly once.
    let c = Config::parse("host=a,b,c port=1,2,3 load_balance_hosts=random").unwrap();
    let mut orders = std::collections::HashSet::new();
    for seed in 0..200 {
        let mut ports: Vec<u16> = c.host_attempts(seed).unwrap().into_iter().map(|a| a.target.port).collect();
        orders.insert(ports.clone());
        ports.sort();
        assert_eq!(ports, [1, 2, 3]);
    }
    assert_eq!(orders.len(), 6);
    assert_eq!(c.host_attempts(5).unwrap(), c.host_attempts(5).unwrap());
}

#[test]
fn service_file_sections() {
    use crate::config::sources::service_lookup;
    let file = "# comment\n[other]\nport=1\n\n[mydb]\nhost = db.example\n port=5433\ndbname=app\n[after]\nport=9\n";
    let got = service_lookup(file, "f", "mydb").unwrap().unwrap();
    let want = [("host", "db.example"), ("port", "5433"), ("dbname", "app")];
    assert_eq!(got, want.map(|(k, v)| (k.to_owned(), v.to_owned())));
    assert_eq!(service_lookup(file, "f", "missing").unwrap(), None);
    for (bad, line) in [("[s]\nnonsense\n", 2), ("[s]\nfoo=1\n", 2), ("[s]\nservice=t\n", 2), ("[s\n", 1)] {
        match service_lookup(bad, "f", "s") {
            Err(ConfigError::ServiceFile { line: l, .. }) => assert_eq!(l, line, "{bad:?}"),
            other => panic!("{bad:?}: {other:?}"),
        }
    }
}

#[test]
fn load_balancing_shuffles_each_hosts_addresses() {
    let c = Config::parse("host=a port=1 load_balance_hosts=random").unwrap();
    let mut orders = std::collections::HashSet::new();
    for seed in 0..100 {
        let attempt = &c.host_attempts(seed).unwrap()[0];
        let mut addrs = [1, 2, 3, 4];
        attempt.target.order_addresses(&mut addrs);
        orders.insert(addrs);
    }
    assert!(orders.len() > 10, "{orders:?}");
    // Without it, the resolver's order.
    let c = Config::parse("host=a port=1").unwrap();
    let mut addrs = [1, 2, 3, 4];
    c.host_attempts(9).unwrap()[0].target.order_addresses(&mut addrs);
    assert_eq!(addrs, [1, 2, 3, 4]);
}

#[test]
fn sslpassword_is_as_secret_as_the_password() {
    let c = Config::parse("host=h user=u sslkey=/k sslpassword=hunter2").unwrap();
    assert!(!c.dsn().contains("hunter2"), "{}", c.dsn());
    assert!(c.dsn().contains("sslpassword=xxx"));
    assert!(c.dsn_parameters().iter().all(|(k, _)| *k != "sslpassword"));
    assert!(!format!("{c:?}").contains("hunter2"));
}
