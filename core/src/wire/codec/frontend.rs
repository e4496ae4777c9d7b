//! Encoders for every message a frontend sends (protocol 3.0).
//!
//! Each function appends one complete message to `buf`. Strings that would be sent NUL-terminated
//! are checked for interior NUL bytes first: a NUL would silently truncate them on the server, so
//! it is a [`UsageError::NulInString`] and nothing is appended.

use crate::error::UsageError;

use super::{CANCEL_REQUEST_CODE, GSSENC_REQUEST_CODE, PROTOCOL_3_0, SSL_REQUEST_CODE};

/// Largest message the server accepts (PostgreSQL's `PQ_LARGE_MESSAGE_LIMIT` is 1 GiB - 1).
const MAX_SEND_LEN: usize = 0x3fff_ffff;

fn check_str(s: &str, what: &'static str) -> Result<(), UsageError> {
    check_bytes(s.as_bytes(), what)
}

fn check_bytes(s: &[u8], what: &'static str) -> Result<(), UsageError> {
    if memchr::memchr(0, s).is_some() {
        Err(UsageError::NulInString(what))
    } else {
        Ok(())
    }
}

fn put_cstr(buf: &mut Vec<u8>, s: &str) {
    buf.extend_from_slice(s.as_bytes());
    buf.push(0);
}

/// Writes a typed message: type byte, length placeholder, body from `f`, then patches the length.
/// On error, `buf` is truncated back to where it was.
fn typed<F>(buf: &mut Vec<u8>, ty: u8, f: F) -> Result<(), UsageError>
where
    F: FnOnce(&mut Vec<u8>) -> Result<(), UsageError>,
{
    let start = buf.len();
    buf.push(ty);
    buf.extend_from_slice(&[0; 4]);
    if let Err(e) = f(buf) {
        buf.truncate(start);
        return Err(e);
    }
    patch_len(buf, start + 1, start)
}

fn untyped<F>(buf: &mut Vec<u8>, f: F) -> Result<(), UsageError>
where
    F: FnOnce(&mut Vec<u8>) -> Result<(), UsageError>,
{
    let start = buf.len();
    buf.extend_from_slice(&[0; 4]);
    if let Err(e) = f(buf) {
        buf.truncate(start);
        return Err(e);
    }
    patch_len(buf, start, start)
}

fn patch_len(buf: &mut Vec<u8>, at: usize, start: usize) -> Result<(), UsageError> {
    let len = buf.len() - at;
    if len > MAX_SEND_LEN {
        buf.truncate(start);
        return Err(UsageError::MessageTooLarge);
    }
    buf[at..at + 4].copy_from_slice(&(len as i32).to_be_bytes());
    Ok(())
}

fn count_i16(n: usize, _what: &'static str) -> Result<i16, UsageError> {
    i16::try_from(n).map_err(|_| UsageError::MessageTooLarge)
}

/// StartupMessage for protocol 3.0 with `(name, value)` parameters in order.
pub fn startup_message<'a, I>(params: I, buf: &mut Vec<u8>) -> Result<(), UsageError>
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    startup_message_version(0, params, buf)
}

/// StartupMessage asking for protocol 3.`minor` (3.2: PostgreSQL 18's longer cancel keys).
pub fn startup_message_version<'a, I>(minor: u16, params: I, buf: &mut Vec<u8>) -> Result<(), UsageError>
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    untyped(buf, |buf| {
        buf.extend_from_slice(&(PROTOCOL_3_0 | i32::from(minor)).to_be_bytes());
        for (k, v) in params {
            check_str(k, "startup parameter name")?;
            check_str(v, "startup parameter value")?;
            put_cstr(buf, k);
            put_cstr(buf, v);
        }
        buf.push(0);
        Ok(())
    })
}

/// SSLRequest: asks the server to switch to TLS.
pub fn ssl_request(buf: &mut Vec<u8>) {
    buf.extend_from_slice(&8i32.to_be_bytes());
    buf.extend_from_slice(&SSL_REQUEST_CODE.to_be_bytes());
}

/// GSSENCRequest: asks the server to switch to GSSAPI encryption.
pub fn gssenc_request(buf: &mut Vec<u8>) {
    buf.extend_from_slice(&8i32.to_be_bytes());
    buf.extend_from_slice(&GSSENC_REQUEST_CODE.to_be_bytes());
}

/// CancelRequest, sent on a new connection. The secret key is 4 bytes in protocol 3.0 and up to
/// 256 bytes in protocol 3.2.
pub fn cancel_request(process_id: i32, secret_key: &[u8], buf: &mut Vec<u8>) {
    let len = 12 + secret_key.len();
    buf.extend_from_slice(&(len as i32).to_be_bytes());
    buf.extend_from_slice(&CANCEL_REQUEST_CODE.to_be_bytes());
    buf.extend_from_slice(&process_id.to_be_bytes());
    buf.extend_from_slice(secret_key);
}

/// PasswordMessage with a cleartext or MD5-hashed password.
pub fn password_message(password: &[u8], buf: &mut Vec<u8>) -> Result<(), UsageError> {
    if memchr::memchr(0, password).is_some() {
        return Err(UsageError::NulInString("password"));
    }
    typed(buf, b'p', |buf| {
        buf.extend_from_slice(password);
        buf.push(0);
        Ok(())
    })
}

/// SASLInitialResponse: the chosen mechanism and the client-first-message.
pub fn sasl_initial_response(mechanism: &str, data: &[u8], buf: &mut Vec<u8>) -> Result<(), UsageError> {
    check_str(mechanism, "SASL mechanism")?;
    typed(buf, b'p', |buf| {
        put_cstr(buf, mechanism);
        buf.extend_from_slice(&(data.len() as i32).to_be_bytes());
        buf.extend_from_slice(data);
        Ok(())
    })
}

/// SASLResponse: the client-final-message.
pub fn sasl_response(data: &[u8], buf: &mut Vec<u8>) -> Result<(), UsageError> {
    typed(buf, b'p', |buf| {
        buf.extend_from_slice(data);
        Ok(())
    })
}

/// Query: a simple-protocol query string (one or more statements), in the client encoding.
pub fn query(sql: impl AsRef<[u8]>, buf: &mut Vec<u8>) -> Result<(), UsageError> {
    let sql = sql.as_ref();
    check_bytes(sql, "query")?;
    typed(buf, b'Q', |buf| {
        buf.extend_from_slice(sql);
        buf.push(0);
        Ok(())
    })
}

/// Parse: prepares `sql` (in the client encoding) as statement `name` (empty for the unnamed
/// statement).
pub fn parse(name: &str, sql: impl AsRef<[u8]>, param_types: &[u32], buf: &mut Vec<u8>) -> Result<(), UsageError> {
    let sql = sql.as_ref();
    check_str(name, "statement name")?;
    check_bytes(sql, "query")?;
    typed(buf, b'P', |buf| {
        put_cstr(buf, name);
        buf.extend_from_slice(sql);
        buf.push(0);
        buf.extend_from_slice(&count_i16(param_types.len(), "parameter types")?.to_be_bytes());
        for oid in param_types {
            buf.extend_from_slice(&oid.to_be_bytes());
        }
        Ok(())
    })
}

/// A value to bind: `None` is SQL NULL.
pub type BindValue<'a> = Option<&'a [u8]>;

/// Bind: binds parameter values to a prepared statement, creating a portal.
///
/// `param_formats` and `result_formats` follow the protocol: empty means all text, one entry
/// applies to all, otherwise one per parameter / column (0 text, 1 binary).
pub fn bind<'a, I>(
    portal: &str,
    statement: &str,
    param_formats: &[i16],
    params: I,
    result_formats: &[i16],
    buf: &mut Vec<u8>,
) -> Result<(), UsageError>
where
    I: IntoIterator<Item = BindValue<'a>>,
{
    check_str(portal, "portal name")?;
    check_str(statement, "statement name")?;
    typed(buf, b'B', |buf| {
        put_cstr(buf, portal);
        put_cstr(buf, statement);
        buf.extend_from_slice(&count_i16(param_formats.len(), "formats")?.to_be_bytes());
        for f in param_formats {
            buf.extend_from_slice(&f.to_be_bytes());
        }
        let count_at = buf.len();
        buf.extend_from_slice(&[0, 0]);
        let mut n = 0usize;
        for p in params {
            n += 1;
            match p {
                None => buf.extend_from_slice(&(-1i32).to_be_bytes()),
                Some(v) => {
                    let len = i32::try_from(v.len()).map_err(|_| UsageError::MessageTooLarge)?;
                    buf.extend_from_slice(&len.to_be_bytes());
                    buf.extend_from_slice(v);
                }
            }
        }
        let n = count_i16(n, "parameters")?;
        buf[count_at..count_at + 2].copy_from_slice(&n.to_be_bytes());
        buf.extend_from_slice(&count_i16(result_formats.len(), "formats")?.to_be_bytes());
        for f in result_formats {
            buf.extend_from_slice(&f.to_be_bytes());
        }
        Ok(())
    })
}

/// Bind with parameters encoded straight into the message by `encode(index, out)`, which
/// returns whether the value is NULL. No intermediate buffer per parameter.
pub fn bind_encoded<E>(
    portal: &str,
    statement: &str,
    param_formats: &[i16],
    count: usize,
    mut encode: impl FnMut(usize, &mut Vec<u8>) -> Result<super::IsNull, E>,
    result_formats: &[i16],
    buf: &mut Vec<u8>,
) -> Result<(), E>
where
    E: From<UsageError>,
{
    check_str(portal, "portal name")?;
    check_str(statement, "statement name")?;
    let start = buf.len();
    let result = (|| {
        buf.push(b'B');
        buf.extend_from_slice(&[0; 4]);
        put_cstr(buf, portal);
        put_cstr(buf, statement);
        buf.extend_from_slice(&count_i16(param_formats.len(), "formats")?.to_be_bytes());
        for f in param_formats {
            buf.extend_from_slice(&f.to_be_bytes());
        }
        buf.extend_from_slice(&count_i16(count, "parameters")?.to_be_bytes());
        for i in 0..count {
            let len_at = buf.len();
            buf.extend_from_slice(&[0; 4]);
            match encode(i, buf)? {
                super::IsNull::Yes => buf[len_at..len_at + 4].copy_from_slice(&(-1i32).to_be_bytes()),
                super::IsNull::No => {
                    let len = i32::try_from(buf.len() - len_at - 4).map_err(|_| UsageError::MessageTooLarge)?;
                    buf[len_at..len_at + 4].copy_from_slice(&len.to_be_bytes());
                }
            }
        }
        buf.extend_from_slice(&count_i16(result_formats.len(), "formats")?.to_be_bytes());
        for f in result_formats {
            buf.extend_from_slice(&f.to_be_bytes());
        }
        patch_len(buf, start + 1, start)?;
        Ok(())
    })();
    if result.is_err() {
        buf.truncate(start);
    }
    result
}

/// What Describe and Close refer to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A prepared statement (`S`).
    Statement,
    /// A portal (`P`).
    Portal,
}

impl Target {
    fn byte(self) -> u8 {
        match self {
            Target::Statement => b'S',
            Target::Portal => b'P',
        }
    }
}

/// Describe a statement or portal.
pub fn describe(target: Target, name: &str, buf: &mut Vec<u8>) -> Result<(), UsageError> {
    check_str(name, "statement or portal name")?;
    typed(buf, b'D', |buf| {
        buf.push(target.byte());
        put_cstr(buf, name);
        Ok(())
    })
}

/// Execute a portal, returning at most `max_rows` rows (0 = all).
pub fn execute(portal: &str, max_rows: i32, buf: &mut Vec<u8>) -> Result<(), UsageError> {
    check_str(portal, "portal name")?;
    typed(buf, b'E', |buf| {
        put_cstr(buf, portal);
        buf.extend_from_slice(&max_rows.to_be_bytes());
        Ok(())
    })
}

/// Close a statement or portal.
pub fn close(target: Target, name: &str, buf: &mut Vec<u8>) -> Result<(), UsageError> {
    check_str(name, "statement or portal name")?;
    typed(buf, b'C', |buf| {
        buf.push(target.byte());
        put_cstr(buf, name);
        Ok(())
    })
}

fn empty(buf: &mut Vec<u8>, ty: u8) {
    buf.push(ty);
    buf.extend_from_slice(&4i32.to_be_bytes());
}

/// Sync: ends an extended-query batch; the server answers with ReadyForQuery.
pub fn sync(buf: &mut Vec<u8>) {
    empty(buf, b'S');
}

/// Flush: asks the server to send what it has produced so far.
pub fn flush(buf: &mut Vec<u8>) {
    empty(buf, b'H');
}

/// CopyData: a chunk of COPY data.
pub fn copy_data(data: &[u8], buf: &mut Vec<u8>) -> Result<(), UsageError> {
    typed(buf, b'd', |buf| {
        buf.extend_from_slice(data);
        Ok(())
    })
}

/// CopyDone: the end of COPY FROM STDIN data.
pub fn copy_done(buf: &mut Vec<u8>) {
    empty(buf, b'c');
}

/// CopyFail: aborts COPY FROM STDIN with an error message.
pub fn copy_fail(message: &str, buf: &mut Vec<u8>) -> Result<(), UsageError> {
    check_str(message, "CopyFail message")?;
    typed(buf, b'f', |buf| {
        put_cstr(buf, message);
        Ok(())
    })
}

/// FunctionCall (the "fast path" interface).
pub fn function_call<'a, I>(
    function_oid: u32,
    arg_formats: &[i16],
    args: I,
    result_format: i16,
    buf: &mut Vec<u8>,
) -> Result<(), UsageError>
where
    I: IntoIterator<Item = BindValue<'a>>,
{
    typed(buf, b'F', |buf| {
        buf.extend_from_slice(&function_oid.to_be_bytes());
        buf.extend_from_slice(&count_i16(arg_formats.len(), "formats")?.to_be_bytes());
        for f in arg_formats {
            buf.extend_from_slice(&f.to_be_bytes());
        }
        let count_at = buf.len();
        buf.extend_from_slice(&[0, 0]);
        let mut n = 0usize;
        for a in args {
            n += 1;
            match a {
                None => buf.extend_from_slice(&(-1i32).to_be_bytes()),
                Some(v) => {
                    let len = i32::try_from(v.len()).map_err(|_| UsageError::MessageTooLarge)?;
                    buf.extend_from_slice(&len.to_be_bytes());
                    buf.extend_from_slice(v);
                }
            }
        }
        let n = count_i16(n, "arguments")?;
        buf[count_at..count_at + 2].copy_from_slice(&n.to_be_bytes());
        buf.extend_from_slice(&result_format.to_be_bytes());
        Ok(())
    })
}

/// Terminate: the polite goodbye before closing the socket.
pub fn terminate(buf: &mut Vec<u8>) {
    empty(buf, b'X');
}
