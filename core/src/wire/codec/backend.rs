//! Framing and decoding of every message a backend sends (protocol 3.0, plus the 3.2 forms of
//! BackendKeyData and NegotiateProtocolVersion).
//!
//! [`frame`] finds one complete message at the front of a buffer without copying it; [`decode`]
//! turns its body into a [`BackendMessage`] that borrows from the buffer. Every decoder checks
//! the whole body: a short body, trailing bytes or an out-of-range length is a
//! [`ProtocolError`], never a panic or a large allocation.

use crate::error::{DbError, ProtocolError};
use crate::wire::codec::Reader;

/// The header of one complete message at the front of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Frame {
    /// The message type byte.
    pub ty: u8,
    /// Total size on the wire: type byte + length field + body.
    pub total_len: usize,
}

impl Frame {
    /// The body's range within the buffer the frame was found in.
    pub fn body(&self) -> std::ops::Range<usize> {
        5..self.total_len
    }
}

/// Looks for one complete typed message at the front of `buf`.
///
/// Returns `Ok(None)` when more bytes are needed. The length is checked as soon as the five
/// header bytes are there, so an oversized message is refused before any of its body is buffered.
pub fn frame(buf: &[u8], max_len: usize) -> Result<Option<Frame>, ProtocolError> {
    if buf.len() < 5 {
        return Ok(None);
    }
    let ty = buf[0];
    let len = i32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]);
    if len < 4 {
        return Err(ProtocolError::InvalidLength { ty: ty as char, len });
    }
    let len = len as usize;
    if len - 4 > max_len {
        return Err(ProtocolError::MessageTooLarge { ty: ty as char, len, max: max_len });
    }
    let total_len = len + 1;
    if buf.len() < total_len {
        return Ok(None);
    }
    Ok(Some(Frame { ty, total_len }))
}

/// Bytes the buffer must hold before [`frame`] can answer: 5 for the header, then the whole message.
pub fn bytes_needed(buf: &[u8]) -> usize {
    if buf.len() < 5 {
        return 5;
    }
    let len = i32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]).max(4) as usize;
    len + 1
}

/// An `Authentication*` request.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Authentication<'a> {
    Ok,
    KerberosV5,
    CleartextPassword,
    Md5Password {
        salt: [u8; 4],
    },
    Gss,
    GssContinue {
        data: &'a [u8],
    },
    Sspi,
    /// The SASL mechanisms the server offers, as the raw NUL-separated list.
    Sasl {
        mechanisms: SaslMechanisms<'a>,
    },
    SaslContinue {
        data: &'a [u8],
    },
    SaslFinal {
        data: &'a [u8],
    },
}

/// The list of SASL mechanism names in AuthenticationSASL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SaslMechanisms<'a>(&'a [u8]);

impl<'a> SaslMechanisms<'a> {
    /// The mechanism names, in the server's order of preference.
    pub fn iter(&self) -> impl Iterator<Item = &'a str> + 'a {
        self.0.split(|&b| b == 0).take_while(|s| !s.is_empty()).map(|s| std::str::from_utf8(s).unwrap_or(""))
    }
}

/// One field of a RowDescription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldDescription<'a> {
    /// The column name in the client encoding (any bytes but NUL: names survive any encoding).
    pub name: &'a [u8],
    pub table_oid: u32,
    pub column_id: i16,
    pub type_oid: u32,
    pub type_size: i16,
    pub type_modifier: i32,
    pub format: i16,
}

/// A RowDescription body; fields are decoded on iteration (the body was validated by [`decode`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RowDescriptionBody<'a> {
    count: u16,
    buf: &'a [u8],
}

impl<'a> RowDescriptionBody<'a> {
    pub fn len(&self) -> usize {
        self.count as usize
    }
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
    /// The encoded fields, for cheap comparison with an earlier description.
    pub fn raw(&self) -> &'a [u8] {
        self.buf
    }
    pub fn fields(&self) -> impl Iterator<Item = FieldDescription<'a>> + 'a {
        let mut r = Reader::new(self.buf, "RowDescription");
        // Validated in decode: every field reads.
        (0..self.count).map_while(move |_| read_field(&mut r).ok())
    }
}

fn read_field<'a>(r: &mut Reader<'a>) -> Result<FieldDescription<'a>, ProtocolError> {
    Ok(FieldDescription {
        name: r.cstr_bytes()?,
        table_oid: r.u32()?,
        column_id: r.i16()?,
        type_oid: r.u32()?,
        type_size: r.i16()?,
        type_modifier: r.i32()?,
        format: r.i16()?,
    })
}

/// A DataRow body; values are decoded on iteration (the body was validated by [`decode`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataRowBody<'a> {
    count: u16,
    buf: &'a [u8],
}

impl<'a> DataRowBody<'a> {
    /// Number of columns.
    pub fn len(&self) -> usize {
        self.count as usize
    }
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
    /// The raw column values: `None` for NULL.
    pub fn values(&self) -> DataRowValues<'a> {
        DataRowValues { buf: self.buf, left: self.count }
    }
    /// The values as byte ranges into [`DataRowBody::buffer`], for indexing without re-walking.
    pub fn ranges(&self, out: &mut Vec<Option<(u32, u32)>>) {
        out.clear();
        let mut pos = 0usize;
        let b = self.buf;
        for _ in 0..self.count {
            let len = i32::from_be_bytes([b[pos], b[pos + 1], b[pos + 2], b[pos + 3]]);
            pos += 4;
            if len < 0 {
                out.push(None);
            } else {
                out.push(Some((pos as u32, (pos + len as usize) as u32)));
                pos += len as usize;
            }
        }
    }
    /// The bytes the ranges index into.
    pub fn buffer(&self) -> &'a [u8] {
        self.buf
    }
}

/// Validates a DataRow body and fills `out` with each value's byte range within `body` (`None`
/// for NULL) in one pass: the hot path for result rows.
pub fn data_row_ranges(body: &[u8], out: &mut Vec<Option<(u32, u32)>>) -> Result<(), ProtocolError> {
    let bad = |what| ProtocolError::Malformed { message: "DataRow", what };
    out.clear();
    if body.len() < 2 {
        return Err(bad("message body too short"));
    }
    let n = i16::from_be_bytes([body[0], body[1]]);
    if n < 0 {
        return Err(bad("negative column count"));
    }
    let mut pos = 2usize;
    for _ in 0..n {
        let Some(len) = body.get(pos..pos + 4) else { return Err(bad("message body too short")) };
        let len = i32::from_be_bytes([len[0], len[1], len[2], len[3]]);
        pos += 4;
        if len < 0 {
            if len != -1 {
                return Err(bad("negative value length"));
            }
            out.push(None);
        } else {
            let end = pos + len as usize;
            if end > body.len() {
                return Err(bad("message body too short"));
            }
            out.push(Some((pos as u32, end as u32)));
            pos = end;
        }
    }
    if pos != body.len() {
        return Err(bad("trailing bytes"));
    }
    Ok(())
}

/// Iterator over DataRow values.
#[derive(Debug, Clone)]
pub struct DataRowValues<'a> {
    buf: &'a [u8],
    left: u16,
}

impl<'a> Iterator for DataRowValues<'a> {
    type Item = Option<&'a [u8]>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let b = self.buf;
        let len = i32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        if len < 0 {
            self.buf = &b[4..];
            Some(None)
        } else {
            let end = 4 + len as usize;
            self.buf = &b[end..];
            Some(Some(&b[4..end]))
        }
    }
}

/// A list of int16 format codes (CopyIn/Out/BothResponse) or OIDs (ParameterDescription).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CopyResponse<'a> {
    /// 0 = text, 1 = binary.
    pub format: u8,
    column_formats: &'a [u8],
}

impl<'a> CopyResponse<'a> {
    pub fn column_formats(&self) -> impl Iterator<Item = i16> + 'a {
        self.column_formats.chunks_exact(2).map(|c| i16::from_be_bytes([c[0], c[1]]))
    }
}

/// ParameterDescription: the parameter type OIDs of a statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParameterDescriptionBody<'a>(&'a [u8]);

impl<'a> ParameterDescriptionBody<'a> {
    pub fn types(&self) -> impl Iterator<Item = u32> + 'a {
        self.0.chunks_exact(4).map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
    }
}

/// NegotiateProtocolVersion.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NegotiateProtocolVersionBody<'a> {
    /// The newest minor version the server supports. (PostgreSQL sends the full version code,
    /// 196608 for 3.0; the low 16 bits are the minor version either way.)
    pub newest_minor: u16,
    count: u32,
    options: &'a [u8],
}

impl<'a> NegotiateProtocolVersionBody<'a> {
    /// Startup options the server did not recognize.
    pub fn unrecognized_options(&self) -> impl Iterator<Item = &'a str> + 'a {
        self.options.split(|&b| b == 0).take(self.count as usize).map(|s| std::str::from_utf8(s).unwrap_or(""))
    }
}

/// One decoded backend message, borrowing from the receive buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BackendMessage<'a> {
    Authentication(Authentication<'a>),
    BackendKeyData {
        process_id: i32,
        secret_key: &'a [u8],
    },
    /// Name and value in the client encoding.
    ParameterStatus {
        name: &'a [u8],
        value: &'a [u8],
    },
    ReadyForQuery {
        status: u8,
    },
    RowDescription(RowDescriptionBody<'a>),
    DataRow(DataRowBody<'a>),
    CommandComplete {
        tag: &'a [u8],
    },
    EmptyQueryResponse,
    /// The raw fields; [`BackendMessage::db_error`] parses them.
    ErrorResponse(&'a [u8]),
    NoticeResponse(&'a [u8]),
    /// Channel and payload in the client encoding.
    NotificationResponse {
        process_id: i32,
        channel: &'a [u8],
        payload: &'a [u8],
    },
    ParseComplete,
    BindComplete,
    CloseComplete,
    ParameterDescription(ParameterDescriptionBody<'a>),
    NoData,
    PortalSuspended,
    CopyInResponse(CopyResponse<'a>),
    CopyOutResponse(CopyResponse<'a>),
    CopyBothResponse(CopyResponse<'a>),
    CopyData(&'a [u8]),
    CopyDone,
    NegotiateProtocolVersion(NegotiateProtocolVersionBody<'a>),
    FunctionCallResponse(Option<&'a [u8]>),
}

impl BackendMessage<'_> {
    /// The message name as in the protocol documentation.
    pub fn name(&self) -> &'static str {
        use BackendMessage::*;
        match self {
            Authentication(a) => match a {
                self::Authentication::Ok => "AuthenticationOk",
                self::Authentication::KerberosV5 => "AuthenticationKerberosV5",
                self::Authentication::CleartextPassword => "AuthenticationCleartextPassword",
                self::Authentication::Md5Password { .. } => "AuthenticationMD5Password",
                self::Authentication::Gss => "AuthenticationGSS",
                self::Authentication::GssContinue { .. } => "AuthenticationGSSContinue",
                self::Authentication::Sspi => "AuthenticationSSPI",
                self::Authentication::Sasl { .. } => "AuthenticationSASL",
                self::Authentication::SaslContinue { .. } => "AuthenticationSASLContinue",
                self::Authentication::SaslFinal { .. } => "AuthenticationSASLFinal",
            },
            BackendKeyData { .. } => "BackendKeyData",
            ParameterStatus { .. } => "ParameterStatus",
            ReadyForQuery { .. } => "ReadyForQuery",
            RowDescription(_) => "RowDescription",
            DataRow(_) => "DataRow",
            CommandComplete { .. } => "CommandComplete",
            EmptyQueryResponse => "EmptyQueryResponse",
            ErrorResponse(_) => "ErrorResponse",
            NoticeResponse(_) => "NoticeResponse",
            NotificationResponse { .. } => "NotificationResponse",
            ParseComplete => "ParseComplete",
            BindComplete => "BindComplete",
            CloseComplete => "CloseComplete",
            ParameterDescription(_) => "ParameterDescription",
            NoData => "NoData",
            PortalSuspended => "PortalSuspended",
            CopyInResponse(_) => "CopyInResponse",
            CopyOutResponse(_) => "CopyOutResponse",
            CopyBothResponse(_) => "CopyBothResponse",
            CopyData(_) => "CopyData",
            CopyDone => "CopyDone",
            NegotiateProtocolVersion(_) => "NegotiateProtocolVersion",
            FunctionCallResponse(_) => "FunctionCallResponse",
        }
    }

    /// For ErrorResponse and NoticeResponse: the parsed fields.
    pub fn db_error(&self) -> Option<Result<DbError, ProtocolError>> {
        match self {
            BackendMessage::ErrorResponse(b) | BackendMessage::NoticeResponse(b) => Some(DbError::parse(b)),
            _ => None,
        }
    }
}

fn empty<'a>(msg: BackendMessage<'a>, body: &[u8], name: &'static str) -> Result<BackendMessage<'a>, ProtocolError> {
    if body.is_empty() {
        Ok(msg)
    } else {
        Err(ProtocolError::Malformed { message: name, what: "trailing bytes" })
    }
}

fn copy_response<'a>(body: &'a [u8], name: &'static str) -> Result<CopyResponse<'a>, ProtocolError> {
    let mut r = Reader::new(body, name);
    let format = r.u8()?;
    let n = r.i16()?;
    if n < 0 {
        return Err(r.err("negative column count"));
    }
    let column_formats = r.bytes(n as usize * 2)?;
    r.finish()?;
    Ok(CopyResponse { format, column_formats })
}

/// Decodes the body of a message of type `ty`. The body must be exactly the message's bytes after
/// the length field.
pub fn decode(ty: u8, body: &[u8]) -> Result<BackendMessage<'_>, ProtocolError> {
    use BackendMessage as M;
    Ok(match ty {
        b'R' => M::Authentication(decode_auth(body)?),
        b'K' => {
            let mut r = Reader::new(body, "BackendKeyData");
            let process_id = r.i32()?;
            let secret_key = r.rest();
            // 4 bytes in protocol 3.0; 3.2 allows up to 256.
            if secret_key.len() < 4 || secret_key.len() > 256 {
                return Err(r.err("secret key must be 4 to 256 bytes"));
            }
            M::BackendKeyData { process_id, secret_key }
        }
        b'S' => {
            let mut r = Reader::new(body, "ParameterStatus");
            let name = r.cstr_bytes()?;
            let value = r.cstr_bytes()?;
            r.finish()?;
            M::ParameterStatus { name, value }
        }
        b'Z' => {
            let mut r = Reader::new(body, "ReadyForQuery");
            let status = r.u8()?;
            r.finish()?;
            M::ReadyForQuery { status }
        }
        b'T' => {
            let mut r = Reader::new(body, "RowDescription");
            let n = r.i16()?;
            if n < 0 {
                return Err(r.err("negative field count"));
            }
            let fields = r.buf;
            for _ in 0..n {
                read_field(&mut r)?;
            }
            r.finish()?;
            M::RowDescription(RowDescriptionBody { count: n as u16, buf: fields })
        }
        b'D' => {
            let mut r = Reader::new(body, "DataRow");
            let n = r.i16()?;
            if n < 0 {
                return Err(r.err("negative column count"));
            }
            let values = r.buf;
            for _ in 0..n {
                let len = r.i32()?;
                if len >= 0 {
                    r.bytes(len as usize)?;
                } else if len != -1 {
                    return Err(r.err("negative value length"));
                }
            }
            r.finish()?;
            M::DataRow(DataRowBody { count: n as u16, buf: values })
        }
        b'C' => {
            let mut r = Reader::new(body, "CommandComplete");
            let tag = r.cstr_bytes()?;
            r.finish()?;
            M::CommandComplete { tag }
        }
        b'I' => empty(M::EmptyQueryResponse, body, "EmptyQueryResponse")?,
        b'E' => {
            DbError::parse(body)?;
            M::ErrorResponse(body)
        }
        b'N' => {
            DbError::parse(body)?;
            M::NoticeResponse(body)
        }
        b'A' => {
            let mut r = Reader::new(body, "NotificationResponse");
            let process_id = r.i32()?;
            let channel = r.cstr_bytes()?;
            let payload = r.cstr_bytes()?;
            r.finish()?;
            M::NotificationResponse { process_id, channel, payload }
        }
        b'1' => empty(M::ParseComplete, body, "ParseComplete")?,
        b'2' => empty(M::BindComplete, body, "BindComplete")?,
        b'3' => empty(M::CloseComplete, body, "CloseComplete")?,
        b't' => {
            let mut r = Reader::new(body, "ParameterDescription");
            let n = r.i16()?;
            if n < 0 {
                return Err(r.err("negative parameter count"));
            }
            let types = r.bytes(n as usize * 4)?;
            r.finish()?;
            M::ParameterDescription(ParameterDescriptionBody(types))
        }
        b'n' => empty(M::NoData, body, "NoData")?,
        b's' => empty(M::PortalSuspended, body, "PortalSuspended")?,
        b'G' => M::CopyInResponse(copy_response(body, "CopyInResponse")?),
        b'H' => M::CopyOutResponse(copy_response(body, "CopyOutResponse")?),
        b'W' => M::CopyBothResponse(copy_response(body, "CopyBothResponse")?),
        b'd' => M::CopyData(body),
        b'c' => empty(M::CopyDone, body, "CopyDone")?,
        b'v' => {
            let mut r = Reader::new(body, "NegotiateProtocolVersion");
            let newest = r.u32()?;
            let count = r.i32()?;
            if count < 0 {
                return Err(r.err("negative option count"));
            }
            let options = r.buf;
            for _ in 0..count {
                r.cstr_bytes()?;
            }
            r.finish()?;
            M::NegotiateProtocolVersion(NegotiateProtocolVersionBody {
                newest_minor: (newest & 0xffff) as u16,
                count: count as u32,
                options,
            })
        }
        b'V' => {
            let mut r = Reader::new(body, "FunctionCallResponse");
            let len = r.i32()?;
            let v = if len < 0 { None } else { Some(r.bytes(len as usize)?) };
            r.finish()?;
            M::FunctionCallResponse(v)
        }
        other => return Err(ProtocolError::Unexpected { ty: other as char, state: "decoding" }),
    })
}

fn decode_auth(body: &[u8]) -> Result<Authentication<'_>, ProtocolError> {
    let mut r = Reader::new(body, "Authentication");
    let code = r.i32()?;
    let a = match code {
        0 => Authentication::Ok,
        2 => Authentication::KerberosV5,
        3 => Authentication::CleartextPassword,
        5 => {
            let s = r.bytes(4)?;
            Authentication::Md5Password { salt: [s[0], s[1], s[2], s[3]] }
        }
        7 => Authentication::Gss,
        8 => return Ok(Authentication::GssContinue { data: r.rest() }),
        9 => Authentication::Sspi,
        10 => {
            let list = r.rest();
            // A list of NUL-terminated names ended by an empty name.
            if list.last() != Some(&0) || (list.len() >= 2 && list[list.len() - 2] != 0) || list.len() < 2 {
                return Err(ProtocolError::Malformed { message: "AuthenticationSASL", what: "bad mechanism list" });
            }
            return Ok(Authentication::Sasl { mechanisms: SaslMechanisms(list) });
        }
        11 => return Ok(Authentication::SaslContinue { data: r.rest() }),
        12 => return Ok(Authentication::SaslFinal { data: r.rest() }),
        other => return Err(ProtocolError::UnsupportedAuth(format!("authentication request code {other}"))),
    };
    r.finish()?;
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_needs_header_then_body() {
        let msg = [b'Z', 0, 0, 0, 5, b'I'];
        for i in 0..msg.len() {
            assert_eq!(frame(&msg[..i], 100).unwrap(), None, "prefix {i}");
        }
        assert_eq!(frame(&msg, 100).unwrap(), Some(Frame { ty: b'Z', total_len: 6 }));
        let mut two = msg.to_vec();
        two.extend_from_slice(&msg);
        assert_eq!(frame(&two, 100).unwrap().unwrap().total_len, 6);
    }

    #[test]
    fn frame_refuses_oversized_and_bad_lengths() {
        assert!(matches!(frame(&[b'D', 0x7f, 0, 0, 0], 1 << 20), Err(ProtocolError::MessageTooLarge { .. })));
        assert!(matches!(frame(&[b'D', 0, 0, 0, 3], 100), Err(ProtocolError::InvalidLength { len: 3, .. })));
        assert!(matches!(frame(&[b'D', 0xff, 0xff, 0xff, 0xff], 100), Err(ProtocolError::InvalidLength { .. })));
    }

    #[test]
    fn data_row_validation() {
        // two columns: NULL and "ab"
        let body = [0, 2, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 2, b'a', b'b'];
        let BackendMessage::DataRow(row) = decode(b'D', &body).unwrap() else { panic!() };
        assert_eq!(row.values().collect::<Vec<_>>(), vec![None, Some(&b"ab"[..])]);
        assert!(decode(b'D', &body[..body.len() - 1]).is_err());
        let mut extra = body.to_vec();
        extra.push(0);
        assert!(decode(b'D', &extra).is_err());
        assert!(decode(b'D', &[0, 1, 0xff, 0xff, 0xff, 0xfe]).is_err());
        assert!(decode(b'D', &[0x80, 0]).is_err());
    }

    #[test]
    fn one_pass_data_row_agrees_with_decode() {
        let body = [0, 3, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 2, b'a', b'b', 0, 0, 0, 0];
        let mut ranges = Vec::new();
        data_row_ranges(&body, &mut ranges).unwrap();
        assert_eq!(ranges, [None, Some((10, 12)), Some((16, 16))]);
        let BackendMessage::DataRow(row) = decode(b'D', &body).unwrap() else { panic!() };
        let mut via_decode = Vec::new();
        row.ranges(&mut via_decode);
        // decode's ranges are relative to the values (after the count): shift by 2.
        assert_eq!(via_decode.iter().map(|r| r.map(|(s, e)| (s + 2, e + 2))).collect::<Vec<_>>(), ranges);
        for cut in 0..body.len() {
            assert_eq!(
                data_row_ranges(&body[..cut], &mut ranges).is_err(),
                decode(b'D', &body[..cut]).is_err(),
                "cut {cut}"
            );
        }
        assert!(data_row_ranges(&[0, 1, 0xff, 0xff, 0xff, 0xfe], &mut ranges).is_err());
        assert!(data_row_ranges(&[0x80, 0], &mut ranges).is_err());
    }

    #[test]
    fn unknown_type_and_auth_code_are_errors() {
        assert!(decode(b'?', &[]).is_err());
        assert!(matches!(decode(b'R', &[0, 0, 0, 99]), Err(ProtocolError::UnsupportedAuth(_))));
        assert!(decode(b'R', &[0, 0, 0, 10, b'x', 0]).is_err());
    }
}
