//! Connection strings parsed by pgsans and by libpq's own `PQconninfoParse`, side by side
//! (libpq.so.5, loaded at run time): the same strings are accepted, with the same value for
//! every keyword. The differences are intended and listed in `intended_difference`: pgsans
//! checks values when it parses (libpq when it connects).
#![allow(unsafe_code)] // the FFI to libpq, nothing else

use std::ffi::{c_char, c_int, c_void, CStr, CString};

use proptest::prelude::*;

#[repr(C)]
struct PQconninfoOption {
    keyword: *mut c_char,
    envvar: *mut c_char,
    compiled: *mut c_char,
    val: *mut c_char,
    label: *mut c_char,
    dispchar: *mut c_char,
    dispsize: c_int,
}

struct Libpq {
    _lib: libloading::Library,
    parse: unsafe extern "C" fn(*const c_char, *mut *mut c_char) -> *mut PQconninfoOption,
    free_options: unsafe extern "C" fn(*mut PQconninfoOption),
    free: unsafe extern "C" fn(*mut c_void),
}

fn libpq() -> &'static Libpq {
    static LIBPQ: std::sync::OnceLock<Libpq> = std::sync::OnceLock::new();
    LIBPQ.get_or_init(|| unsafe {
        let lib = libloading::Library::new("libpq.so.5")
            .expect("libpq.so.5 is needed for this test: apt-get install libpq5 (PostgreSQL's packages bring it)");
        let parse = *lib.get(b"PQconninfoParse\0").unwrap();
        let free_options = *lib.get(b"PQconninfoFree\0").unwrap();
        let free = *lib.get(b"PQfreemem\0").unwrap();
        Libpq { _lib: lib, parse, free_options, free }
    })
}

/// libpq's reading of `s`: every keyword it set, or its error message.
fn libpq_parse(s: &str) -> Result<Vec<(String, String)>, String> {
    let lib = libpq();
    let Ok(c) = CString::new(s) else { return Err("NUL".into()) };
    let mut err: *mut c_char = std::ptr::null_mut();
    unsafe {
        let opts = (lib.parse)(c.as_ptr(), &mut err);
        if opts.is_null() {
            let msg = if err.is_null() { String::new() } else { CStr::from_ptr(err).to_string_lossy().into_owned() };
            if !err.is_null() {
                (lib.free)(err.cast());
            }
            return Err(msg);
        }
        let mut out = Vec::new();
        let mut p = opts;
        while !(*p).keyword.is_null() {
            if !(*p).val.is_null() {
                out.push((
                    CStr::from_ptr((*p).keyword).to_string_lossy().into_owned(),
                    CStr::from_ptr((*p).val).to_string_lossy().into_owned(),
                ));
            }
            p = p.add(1);
        }
        (lib.free_options)(opts);
        Ok(out)
    }
}

/// Where pgsans and libpq may differ on purpose: pgsans refuses a value libpq would only
/// refuse when connecting (a port that is not a number, an unknown `sslmode`, …).
fn intended_difference(e: &pgsans::ConfigError) -> bool {
    use pgsans::ConfigError::*;
    matches!(
        e,
        InvalidValue { .. }
            | InvalidInteger { .. }
            | InvalidPort(_)
            | PortCount { .. }
            | HostaddrCount { .. }
            | NoUser
            | Unsupported(_)
    )
}

/// Compares both readings of `s`; `Err` describes a difference that is not intended.
fn compare(s: &str) -> Result<(), String> {
    let theirs = libpq_parse(s);
    let ours = pgsans::Config::parse(s);
    match (&theirs, &ours) {
        (Err(_), Err(_)) => Ok(()),
        (Ok(_), Err(e)) if intended_difference(e) => Ok(()),
        // pgsans' values are UTF-8 strings: percent-encoded bytes that are not UTF-8 are refused.
        (Ok(values), Err(pgsans::ConfigError::InvalidPercentEncoding { .. }))
            if values.iter().any(|(_, v)| v.contains('\u{fffd}')) =>
        {
            Ok(())
        }
        (Err(t), Ok(_)) => Err(format!("{s:?}: libpq refuses ({t}), pgsans accepts")),
        (Ok(_), Err(e)) => Err(format!("{s:?}: libpq accepts, pgsans refuses: {e}")),
        (Ok(values), Ok(config)) => {
            for (k, v) in values {
                let mine = config.get(k);
                if mine != Some(v.as_str()) {
                    return Err(format!("{s:?}: {k} is {v:?} for libpq, {mine:?} for pgsans"));
                }
            }
            Ok(())
        }
    }
}

#[test]
fn known_strings_read_the_same() {
    for s in [
        "host=localhost port=5432 dbname=shop user=alice",
        "host='my host' password='it''s \\\\ secret' dbname = 'a b'",
        "host=a,b,c port=5432,5433,5434 target_session_attrs=read-write",
        "application_name=x\\ y options='-c search_path=s'",
        "postgresql://",
        "postgresql://alice:secret@localhost:5433/shop?sslmode=require&application_name=app",
        "postgresql://%61lice@[::1]:5432/db%20name?connect_timeout=10",
        "postgresql://host1:1,host2:2/db",
        "postgres://u@h/d?host=/tmp/sock",
        "postgresql:///db?host=/var/run/postgresql&port=5433",
        "",
        "   ",
        "host=",
        "nonsense",
        "host=a port",
        "unknownkeyword=1",
        "host='unterminated",
        "postgresql://[::1",
        "postgresql://h/d?unknown=1",
        "postgresql://h:notaport/d",
        "sslmode=sometimes",
        // Found by the properties below, fixed in pgsans (now the same as libpq):
        "postgresql://:@,/",   // a host list has a port list, empty entries and all
        "postgresql://:@[%]/", // a bracketed IPv6 host is percent-decoded (so a lone % is refused)
        "postgresql://a:1,b/",
        // An intended difference: bytes that are not UTF-8 (libpq takes them, pgsans refuses).
        "postgresql://:@%a0/",
    ] {
        compare(s).unwrap();
    }
}

/// A keyword libpq knows and a value with the characters that need quoting or escaping.
fn keyword_value() -> impl Strategy<Value = String> {
    let keys = prop::sample::select(vec![
        "host",
        "hostaddr",
        "port",
        "dbname",
        "user",
        "password",
        "options",
        "application_name",
        "connect_timeout",
        "sslmode",
        "target_session_attrs",
        "keepalives",
        "client_encoding",
        "passfile",
    ]);
    let value = "[a-z0-9 '\\\\=,./:@-]{0,12}";
    (keys, value, any::<bool>()).prop_map(|(k, v, quote)| {
        if quote || v.is_empty() || v.contains([' ', '\'', '\\']) {
            format!("{k}='{}'", v.replace('\\', "\\\\").replace('\'', "\\'"))
        } else {
            format!("{k}={v}")
        }
    })
}

fn uri() -> impl Strategy<Value = String> {
    let part = "[a-zA-Z0-9%._~-]{0,8}";
    (part, part, "[a-z0-9.,:\\[\\]%-]{0,16}", part, prop::collection::vec(("[a-z_]{1,18}", part), 0..3)).prop_map(
        |(user, pass, hosts, db, query)| {
            let mut s = format!("postgresql://{user}:{pass}@{hosts}/{db}");
            for (i, (k, v)) in query.iter().enumerate() {
                s.push(if i == 0 { '?' } else { '&' });
                s.push_str(&format!("{k}={v}"));
            }
            s
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]
    #[test]
    fn keyword_value_strings_read_the_same(pairs in prop::collection::vec(keyword_value(), 0..5), sep in "[ \\t]{1,3}") {
        let s = pairs.join(&sep);
        if let Err(e) = compare(&s) {
            prop_assert!(false, "{}", e);
        }
    }

    #[test]
    fn uris_read_the_same(s in uri()) {
        if let Err(e) = compare(&s) {
            prop_assert!(false, "{}", e);
        }
    }

    #[test]
    fn arbitrary_strings_are_refused_alike(s in "[a-z= '\\\\,:/@?&%\\[\\]]{0,30}") {
        if let Err(e) = compare(&s) {
            prop_assert!(false, "{}", e);
        }
    }
}
