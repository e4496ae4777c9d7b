//! Streaming replication over a replication connection (`replication=database` for logical,
//! `replication=true` for physical): the messages of the CopyBoth stream that
//! `START_REPLICATION` opens, and what the client sends back.
//!
//! The server sends XLogData (WAL, or a logical decoding plugin's output) and primary
//! keepalives; the client answers with standby status updates saying how far it has written,
//! flushed and applied what it received. [`Request::start_replication`](crate::Request::start_replication)
//! runs the stream; [`Connection::take_replication`](crate::Connection::take_replication) hands
//! each message over, borrowed from the receive buffer, and the engine reads nothing more until
//! it is taken (a consumer that stops reading stops the stream: the server's send buffer fills
//! and it waits). [`pgoutput`] decodes the output of PostgreSQL's built-in logical decoding
//! plugin.
//!
//! Times on the wire are microseconds since 2000-01-01 (PostgreSQL's epoch). The engine never
//! reads the clock: the time written into a status update is the one last given to
//! [`Connection::set_current_time`](crate::Connection::set_current_time).

pub mod commands;
pub mod pgoutput;

pub use commands::{ReplicationSlot, SlotKind, SlotOptions, SystemIdentity};

use std::time::Duration;

use crate::error::{Error, ProtocolError};
use crate::types::PgLsn;
use crate::wire::codec::Reader;

/// Seconds from the Unix epoch to PostgreSQL's (2000-01-01 00:00:00 UTC).
const PG_EPOCH_FROM_UNIX: u64 = 946_684_800;

/// A time as the replication protocol carries it: microseconds since 2000-01-01 UTC.
pub fn pg_time(since_unix_epoch: Duration) -> i64 {
    let micros = since_unix_epoch.as_micros() as i128 - i128::from(PG_EPOCH_FROM_UNIX) * 1_000_000;
    micros.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

/// One message of a replication stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplicationMessage<'a> {
    /// WAL data (physical replication) or the decoding plugin's output for one change (logical).
    XLogData {
        /// Where this data starts in the WAL.
        wal_start: PgLsn,
        /// The end of the WAL on the server.
        wal_end: PgLsn,
        /// The server's clock when it sent this, in microseconds since 2000-01-01.
        server_time: i64,
        data: &'a [u8],
    },
    /// The server's keepalive. When `reply_requested`, the engine has already queued a status
    /// update (the server would otherwise end the stream at `wal_sender_timeout`).
    Keepalive {
        /// The end of the WAL on the server.
        wal_end: PgLsn,
        server_time: i64,
        reply_requested: bool,
    },
}

impl<'a> ReplicationMessage<'a> {
    /// Decodes the body of one CopyData message of the stream.
    pub fn parse(data: &'a [u8]) -> Result<Self, Error> {
        let mut r = Reader::new(data, "replication message");
        match r.u8()? {
            b'w' => {
                let wal_start = PgLsn(r.u64()?);
                let wal_end = PgLsn(r.u64()?);
                let server_time = r.i64()?;
                Ok(ReplicationMessage::XLogData { wal_start, wal_end, server_time, data: r.rest() })
            }
            b'k' => {
                let wal_end = PgLsn(r.u64()?);
                let server_time = r.i64()?;
                let reply_requested = match r.u8()? {
                    0 => false,
                    1 => true,
                    _ => return Err(r.err("keepalive reply flag is neither 0 nor 1").into()),
                };
                r.finish()?;
                Ok(ReplicationMessage::Keepalive { wal_end, server_time, reply_requested })
            }
            _ => Err(ProtocolError::Malformed { message: "replication message", what: "unknown message type" }.into()),
        }
    }
}

/// How far the client has got with what it received: the positions a standby status update
/// reports. The server keeps WAL (and a slot's `confirmed_flush_lsn`) from `flushed`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StandbyStatus {
    /// Received and written (not necessarily durably).
    pub written: PgLsn,
    /// Durably stored: the server may discard WAL before this.
    pub flushed: PgLsn,
    /// Applied.
    pub applied: PgLsn,
}

impl StandbyStatus {
    /// Every position at `lsn`.
    pub fn at(lsn: PgLsn) -> Self {
        StandbyStatus { written: lsn, flushed: lsn, applied: lsn }
    }

    /// Each position the later of the two.
    pub(crate) fn max(self, other: StandbyStatus) -> StandbyStatus {
        StandbyStatus {
            written: self.written.max(other.written),
            flushed: self.flushed.max(other.flushed),
            applied: self.applied.max(other.applied),
        }
    }
}

/// Appends a standby status update ('r') as a CopyData message.
pub(crate) fn standby_status_update(
    status: StandbyStatus,
    now: i64,
    reply_requested: bool,
    buf: &mut Vec<u8>,
) -> Result<(), Error> {
    let mut body = [0u8; 34];
    body[0] = b'r';
    body[1..9].copy_from_slice(&status.written.0.to_be_bytes());
    body[9..17].copy_from_slice(&status.flushed.0.to_be_bytes());
    body[17..25].copy_from_slice(&status.applied.0.to_be_bytes());
    body[25..33].copy_from_slice(&now.to_be_bytes());
    body[33] = u8::from(reply_requested);
    crate::wire::codec::frontend::copy_data(&body, buf)?;
    Ok(())
}

/// Hot standby feedback ('h', physical replication): the oldest transaction the standby still
/// needs, so that the primary keeps the rows it could see. `xmin` 0 turns the feedback off.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HotStandbyFeedback {
    pub xmin: u32,
    pub xmin_epoch: u32,
    pub catalog_xmin: u32,
    pub catalog_xmin_epoch: u32,
}

pub(crate) fn hot_standby_feedback(f: HotStandbyFeedback, now: i64, buf: &mut Vec<u8>) -> Result<(), Error> {
    let mut body = [0u8; 25];
    body[0] = b'h';
    body[1..9].copy_from_slice(&now.to_be_bytes());
    body[9..13].copy_from_slice(&f.xmin.to_be_bytes());
    body[13..17].copy_from_slice(&f.xmin_epoch.to_be_bytes());
    body[17..21].copy_from_slice(&f.catalog_xmin.to_be_bytes());
    body[21..25].copy_from_slice(&f.catalog_xmin_epoch.to_be_bytes());
    crate::wire::codec::frontend::copy_data(&body, buf)?;
    Ok(())
}

/// How a replication stream ended (the response to
/// [`Request::start_replication`](crate::Request::start_replication)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicationEnd {
    /// Physical replication that reached the end of its timeline: the next timeline and where
    /// it starts on the old one (the server's result set after its CopyDone).
    pub next_timeline: Option<(u32, PgLsn)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_decode_and_bad_ones_are_typed_errors() {
        let mut w = vec![b'w'];
        w.extend_from_slice(&0x16_B374_D848u64.to_be_bytes());
        w.extend_from_slice(&0x17_0000_0000u64.to_be_bytes());
        w.extend_from_slice(&42i64.to_be_bytes());
        w.extend_from_slice(b"payload");
        assert_eq!(
            ReplicationMessage::parse(&w).unwrap(),
            ReplicationMessage::XLogData {
                wal_start: PgLsn(0x16_B374_D848),
                wal_end: PgLsn(0x17_0000_0000),
                server_time: 42,
                data: b"payload"
            }
        );
        let mut k = vec![b'k'];
        k.extend_from_slice(&7u64.to_be_bytes());
        k.extend_from_slice(&(-1i64).to_be_bytes());
        k.push(1);
        assert_eq!(
            ReplicationMessage::parse(&k).unwrap(),
            ReplicationMessage::Keepalive { wal_end: PgLsn(7), server_time: -1, reply_requested: true }
        );
        for bad in [&b""[..], b"x", &w[..10], &k[..17], &[&k[..], b"!"].concat()] {
            assert!(matches!(ReplicationMessage::parse(bad), Err(Error::Protocol(_))), "{bad:?}");
        }
        let mut two = k.clone();
        two[17] = 2;
        assert!(ReplicationMessage::parse(&two).is_err());
    }

    #[test]
    fn status_update_layout() {
        let mut buf = Vec::new();
        let status = StandbyStatus { written: PgLsn(3), flushed: PgLsn(2), applied: PgLsn(1) };
        standby_status_update(status, pg_time(Duration::from_secs(PG_EPOCH_FROM_UNIX + 1)), true, &mut buf).unwrap();
        assert_eq!(&buf[..5], &[b'd', 0, 0, 0, 38]);
        assert_eq!(buf[5], b'r');
        assert_eq!(u64::from_be_bytes(buf[6..14].try_into().unwrap()), 3);
        assert_eq!(u64::from_be_bytes(buf[14..22].try_into().unwrap()), 2);
        assert_eq!(u64::from_be_bytes(buf[22..30].try_into().unwrap()), 1);
        assert_eq!(i64::from_be_bytes(buf[30..38].try_into().unwrap()), 1_000_000);
        assert_eq!(buf[38], 1);
        assert_eq!(pg_time(Duration::ZERO), -(PG_EPOCH_FROM_UNIX as i64) * 1_000_000);
    }
}
