//! Streaming replication on a replication connection (`replication=database` for logical,
//! `replication=true` for physical), in psycopg2's shape: the replication commands
//! (`IDENTIFY_SYSTEM`, `CREATE_REPLICATION_SLOT`, `DROP_REPLICATION_SLOT`), then
//! [`start_replication`](Connection::start_replication) and a [`ReplicationStream`] whose
//! messages are read one at a time, borrowed from the receive buffer, with feedback sent as the
//! consumer confirms what it has stored — automatically every
//! [`status interval`](ReplicationStream::set_status_interval) and whenever the server asks.
//! A consumer that stops reading stops the stream (nothing more is read from the socket, and
//! the server waits once its send buffer is full).

use std::future::poll_fn;
use std::task::{ready, Context, Poll};
use std::time::{Duration, Instant, SystemTime};

use pgsans::replication::commands;
use pgsans::replication::{
    HotStandbyFeedback, ReplicationEnd, ReplicationMessage, ReplicationSlot, SlotKind, SlotOptions, StandbyStatus,
    SystemIdentity,
};
use pgsans::types::PgLsn;
use pgsans::{Error, Request, RequestId, UsageError};

use crate::connection::Connection;
use crate::runtime::Runtime;

/// A consumer that has caught up with a busy stream waits a moment before reading again, so
/// that it is not woken for every segment the walsender sends. Woken for every segment,
/// consumer and walsender ping-pong and both burn CPU on it: measured on a stream of 1M
/// inserted rows (bench/src/bin/replication.rs), the walsender spent 7.7 s of CPU and the
/// consumer 3.0 s when read at once, 3.4–3.8 s and 0.6 s with these naps, and the stream took
/// 4.5–4.8 s instead of 7.1–8.7 s. A stream that is not busy (the last wait was long) is read as
/// soon as anything arrives. A runtime whose timer cannot sleep this briefly (Tokio's is
/// millisecond-grained: its naps stall the server, whose socket buffer holds some kilobytes)
/// does not nap at all.
#[derive(Debug)]
struct Coalesce {
    /// Naps taken, and those that slept far longer than asked.
    naps: u32,
    overslept: u32,
}

impl Coalesce {
    const NAP: Duration = Duration::from_micros(500);

    fn new() -> Coalesce {
        Coalesce { naps: 0, overslept: 0 }
    }

    /// The next nap's length, or `None` when this runtime's timer oversleeps.
    fn next_nap(&mut self) -> Option<Duration> {
        (self.naps < 8 || self.overslept * 4 < self.naps).then_some(Self::NAP)
    }

    fn slept(&mut self, slept: Duration) {
        self.naps = self.naps.saturating_add(1);
        if slept > Self::NAP * 2 {
            self.overslept = self.overslept.saturating_add(1);
        }
    }
}

/// A wait at least this long marks the stream as quiet: read at once again.
const QUIET: Duration = Duration::from_millis(5);

/// psycopg2's default status interval: feedback at least this often while streaming.
pub const DEFAULT_STATUS_INTERVAL: Duration = Duration::from_secs(10);

impl<R: Runtime> Connection<R> {
    /// `IDENTIFY_SYSTEM`.
    pub async fn identify_system(&mut self) -> Result<SystemIdentity, Error> {
        SystemIdentity::from_answer(&self.simple_query(commands::IDENTIFY_SYSTEM).await?)
    }

    /// `CREATE_REPLICATION_SLOT name [TEMPORARY] PHYSICAL | LOGICAL plugin …`
    /// ([`commands::create_slot_sql`]: the name is quoted as an identifier).
    pub async fn create_replication_slot(
        &mut self,
        name: &str,
        kind: SlotKind,
        options: &SlotOptions,
    ) -> Result<ReplicationSlot, Error> {
        let sql = commands::create_slot_sql(name, &kind, options)?;
        ReplicationSlot::from_answer(&self.simple_query(&sql).await?, name)
    }

    /// `DROP_REPLICATION_SLOT name [WAIT]`.
    pub async fn drop_replication_slot(&mut self, name: &str, wait: bool) -> Result<(), Error> {
        self.simple_query(&commands::drop_slot_sql(name, wait)).await.map(drop)
    }

    /// psycopg2's `start_replication`: `START_REPLICATION [SLOT name] [PHYSICAL | LOGICAL] start
    /// [TIMELINE t] [(options)]` ([`commands::start_replication_sql`]), with option names quoted
    /// as identifiers and values as literals (e.g. `[("proto_version", "4"),
    /// ("publication_names", "pub")]` for pgoutput). A logical stream needs a slot; a physical
    /// one may go without.
    pub async fn start_replication(
        &mut self,
        slot: Option<&str>,
        kind: &SlotKind,
        start: PgLsn,
        timeline: Option<u32>,
        options: &[(&str, &str)],
    ) -> Result<ReplicationStream<'_, R>, Error> {
        let sql = commands::start_replication_sql(slot, kind, start, timeline, options)?;
        self.start_replication_expert(&sql).await
    }

    /// Starts the replication stream of a `START_REPLICATION …` command written by the caller
    /// (psycopg2's `start_replication_expert`), once the server has answered with the stream
    /// or an error.
    pub async fn start_replication_expert(&mut self, sql: &str) -> Result<ReplicationStream<'_, R>, Error> {
        let id = self.submit(Request::start_replication(sql)).await?;
        let mut stream = ReplicationStream {
            conn: self,
            id,
            done: false,
            status_interval: Some(DEFAULT_STATUS_INTERVAL),
            last_status: Instant::now(),
            end: None,
            busy: false,
            nap: None,
            coalesce: Coalesce::new(),
            wait_started: None,
        };
        // The server's answer: the stream, or the error (a missing slot, a bad option).
        let started = stream
            .conn
            .driver
            .until(None, move |e| {
                if e.replication_started(id) {
                    return Some(Ok(None));
                }
                e.take_response(id).map(|r| r.map(Some))
            })
            .await;
        match started {
            Ok(None) => Ok(stream),
            Ok(Some(_)) => {
                // A walsender that streamed logical replication once ends every later stream
                // at once (PostgreSQL keeps its "done" flags for logical streams).
                stream.done = true;
                Err(UsageError::InvalidState(
                    "the server ended the replication stream as soon as it began: PostgreSQL streams \
                     logical replication once per connection; open a new replication connection"
                        .into(),
                )
                .into())
            }
            Err(e) => {
                stream.done = true;
                Err(e)
            }
        }
    }
}

/// A replication stream. Read it with [`next`](Self::next); confirm what is stored with
/// [`send_status`](Self::send_status) (psycopg2's `send_feedback`); end it with
/// [`stop`](Self::stop). Dropped, the stream is ended (CopyDone) and the connection is usable
/// once the server has answered.
pub struct ReplicationStream<'a, R: Runtime> {
    conn: &'a mut Connection<R>,
    id: RequestId,
    done: bool,
    status_interval: Option<Duration>,
    /// When feedback last went out.
    last_status: Instant,
    /// How the server ended the stream, once it has.
    end: Option<ReplicationEnd>,
    /// The server keeps the stream full: wait a moment before reading (see `COALESCE`).
    busy: bool,
    /// That moment, while it lasts, and when it began.
    #[allow(clippy::type_complexity)]
    nap: Option<(std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>, Instant)>,
    coalesce: Coalesce,
    /// When the current wait for a message began.
    wait_started: Option<Instant>,
}

impl<R: Runtime> ReplicationStream<'_, R> {
    /// Feedback at least this often while waiting for messages (psycopg2's `status_interval`,
    /// 10 s by default); `None`: only when the server asks and when the caller sends it.
    pub fn set_status_interval(&mut self, interval: Option<Duration>) {
        self.status_interval = interval;
    }

    /// The next message, borrowed until the next call; `None` once the stream has ended (the
    /// server ended it — see [`stop`](Self::stop) for how it ended). Waits as long as it takes,
    /// sending feedback every status interval meanwhile.
    pub async fn next(&mut self) -> Result<Option<ReplicationMessage<'_>>, Error> {
        if !poll_fn(|cx| self.poll_ready(cx)).await? {
            return Ok(None);
        }
        self.take_ready()
    }

    /// psycopg2's `consume_stream`: hands every XLogData to `consumer` as it arrives
    /// (keepalives are answered here), until the consumer breaks (`ControlFlow::Break`, the
    /// stream still open: `Ok(true)`) or the server ends the stream (`Ok(false)`). The
    /// consumer moves the positions to report in the `StandbyStatus` it is given — usually
    /// `flushed` to the message's `wal_start` once its data is stored — and they are sent
    /// with the next status update (every status interval, when the server asks, or at once
    /// with `reply`... see [`send_status`](Self::send_status)).
    pub async fn consume(
        &mut self,
        mut consumer: impl FnMut(&ReplicationMessage<'_>, &mut StandbyStatus) -> std::ops::ControlFlow<()>,
    ) -> Result<bool, Error> {
        loop {
            let mut status = self.status();
            let before = status;
            let flow = match self.next().await? {
                None => return Ok(false),
                Some(m @ ReplicationMessage::XLogData { .. }) => consumer(&m, &mut status),
                Some(ReplicationMessage::Keepalive { .. }) => continue,
            };
            if status != before {
                // Recorded now, sent with the next update.
                self.conn.driver.engine.record_standby_status(self.id, status)?;
            }
            if flow.is_break() {
                self.flush().await?;
                return Ok(true);
            }
        }
    }

    /// Waits until a message is ready (`true`) or the stream has ended (`false`).
    pub fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<bool, Error>> {
        if self.done {
            return Poll::Ready(Ok(false));
        }
        let id = self.id;
        loop {
            let deadline = self.status_interval.map(|i| self.last_status + i);
            if deadline.is_some_and(|d| Instant::now() >= d) {
                // Due even while messages keep coming (then the wait below never times out).
                let status = self.status();
                self.queue_status(status, false)?;
                continue;
            }
            if let Some((nap, started)) = &mut self.nap {
                ready!(nap.as_mut().poll(cx));
                let slept = started.elapsed();
                self.nap = None;
                self.coalesce.slept(slept);
            } else if self.busy && self.wait_started.is_none() && !self.message_buffered()? {
                // A busy stream and nothing buffered: let the socket fill for a moment rather
                // than be woken for every segment (see `Coalesce`).
                if let Some(len) = self.coalesce.next_nap() {
                    self.nap = Some((Box::pin(R::sleep_until(Instant::now() + len)), Instant::now()));
                    continue;
                }
            }
            let started = *self.wait_started.get_or_insert_with(Instant::now);
            let r = ready!(self.conn.driver.poll_until(cx, deadline, |e| {
                if e.data_ready(id) {
                    return Some(Ok(None));
                }
                e.take_response(id).map(|r| r.and_then(|r| r.into_replication_end()).map(Some))
            }));
            self.wait_started = None;
            // How long the wait took says how busy the stream is: data within a few hundred
            // microseconds — a stream the server keeps full; tens of milliseconds — a quiet one.
            let waited = started.elapsed();
            if waited >= QUIET {
                self.busy = false;
            } else if waited >= Duration::from_micros(20) {
                self.busy = true;
            }
            match r {
                Ok(None) => return Poll::Ready(Ok(true)),
                Ok(Some(end)) => {
                    self.done = true;
                    self.end = Some(end);
                    return Poll::Ready(Ok(false));
                }
                Err(Error::Timeout) => {
                    // The status interval passed: feedback, then wait on.
                    let status = self.conn.driver.engine.standby_status(id).unwrap_or_default();
                    self.queue_status(status, false)?;
                }
                Err(e) => {
                    self.done = true;
                    return Poll::Ready(Err(e));
                }
            }
        }
    }

    /// Whether a whole message (or the stream's end) is already received.
    fn message_buffered(&mut self) -> Result<bool, Error> {
        let engine = &mut self.conn.driver.engine;
        engine.poll()?;
        Ok(engine.data_ready(self.id) || engine.response_ready(self.id))
    }

    /// The message [`poll_ready`](Self::poll_ready) found, taken.
    pub fn take_ready(&mut self) -> Result<Option<ReplicationMessage<'_>>, Error> {
        self.set_clock();
        self.conn.driver.engine.take_replication(self.id)
    }

    /// How the server ended the stream, once [`next`](Self::next) has returned `None`.
    pub fn end(&self) -> Option<&ReplicationEnd> {
        self.end.as_ref()
    }

    /// Whether a message has already arrived (without waiting).
    pub fn ready_now(&mut self) -> Result<bool, Error> {
        if self.done {
            return Ok(false);
        }
        self.conn.read_now()?;
        self.conn.driver.engine.poll()?;
        Ok(self.conn.driver.engine.data_ready(self.id))
    }

    fn set_clock(&mut self) {
        if let Ok(now) = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH) {
            self.conn.driver.engine.set_current_time(now);
        }
    }

    fn queue_status(&mut self, status: StandbyStatus, reply: bool) -> Result<(), Error> {
        self.set_clock();
        self.conn.driver.engine.send_standby_status(self.id, status, reply)?;
        self.last_status = Instant::now();
        // Written now if the socket takes it; else with the next wait, which also writes.
        self.conn.write_now()
    }

    /// Reports how far the consumer has got (psycopg2's `send_feedback`): positions never move
    /// back, and the server may recycle WAL (a logical slot's `confirmed_flush_lsn` moves) up
    /// to `flushed`. `reply_requested` asks for a keepalive at once.
    pub async fn send_status(&mut self, status: StandbyStatus, reply_requested: bool) -> Result<(), Error> {
        self.queue_status(status, reply_requested)?;
        self.flush().await
    }

    /// Records how far the consumer has got without sending anything: the positions go out
    /// with the next status update (every status interval, or when the server asks) —
    /// psycopg2's `send_feedback` without `force`.
    pub fn record_status(&mut self, status: StandbyStatus) -> Result<(), Error> {
        self.conn.driver.engine.record_standby_status(self.id, status)
    }

    /// Confirms everything up to `lsn` as written, flushed and applied.
    pub async fn confirm(&mut self, lsn: PgLsn) -> Result<(), Error> {
        self.send_status(StandbyStatus::at(lsn), false).await
    }

    /// The positions last reported (by the caller, or moved on by a keepalive once everything
    /// received was confirmed).
    pub fn status(&self) -> StandbyStatus {
        self.conn.driver.engine.standby_status(self.id).unwrap_or_default()
    }

    /// Hot standby feedback (physical streams).
    pub async fn send_hot_standby_feedback(&mut self, feedback: HotStandbyFeedback) -> Result<(), Error> {
        self.set_clock();
        self.conn.driver.engine.send_hot_standby_feedback(self.id, feedback)?;
        self.flush().await
    }

    async fn flush(&mut self) -> Result<(), Error> {
        poll_fn(|cx| {
            while !self.conn.driver.engine.transmit().is_empty() {
                ready!(self.conn.driver.poll_io(cx, pgsans::Interest::Write, None))?;
            }
            Poll::Ready(Ok(()))
        })
        .await
    }

    /// Ends the stream (CopyDone; what the server still sends is dropped) and waits for the
    /// server to end the command: how it ended (a physical stream at the end of its timeline
    /// names the next). The connection takes commands again.
    pub async fn stop(mut self) -> Result<ReplicationEnd, Error> {
        let id = self.id;
        self.done = true;
        self.conn.driver.engine.stop_replication(id)?;
        let r = self.conn.driver.until(None, move |e| e.take_response(id)).await?;
        r.into_replication_end()
    }
}

/// The messages as an async [`Stream`](futures_lite::Stream) of owned values (each message's
/// data copied once), for `StreamExt` combinators; [`next`](ReplicationStream::next) borrows
/// instead. It ends when the server ends the stream.
impl<R: Runtime> futures_lite::Stream for ReplicationStream<'_, R> {
    type Item = Result<OwnedReplicationMessage, Error>;

    fn poll_next(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        match ready!(this.poll_ready(cx)) {
            Ok(false) => Poll::Ready(None),
            Ok(true) => Poll::Ready(this.take_ready().transpose().map(|r| r.map(OwnedReplicationMessage::from))),
            Err(e) => Poll::Ready(Some(Err(e))),
        }
    }
}

impl<R: Runtime> Drop for ReplicationStream<'_, R> {
    fn drop(&mut self) {
        if !self.done {
            // The engine ends the stream (CopyDone) and drains what the server still sends.
            self.conn.driver.engine.abandon(self.id);
        }
    }
}

/// A [`ReplicationMessage`] with its data owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnedReplicationMessage {
    XLogData { wal_start: PgLsn, wal_end: PgLsn, server_time: i64, data: Vec<u8> },
    Keepalive { wal_end: PgLsn, server_time: i64, reply_requested: bool },
}

impl From<ReplicationMessage<'_>> for OwnedReplicationMessage {
    fn from(m: ReplicationMessage<'_>) -> Self {
        match m {
            ReplicationMessage::XLogData { wal_start, wal_end, server_time, data } => {
                OwnedReplicationMessage::XLogData { wal_start, wal_end, server_time, data: data.to_vec() }
            }
            ReplicationMessage::Keepalive { wal_end, server_time, reply_requested } => {
                OwnedReplicationMessage::Keepalive { wal_end, server_time, reply_requested }
            }
        }
    }
}
