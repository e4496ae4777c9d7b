//! Rows a few at a time: a stream of rows borrowed from the receive buffer, and a portal
//! fetched in batches.

use std::sync::Arc;

use pgsans::{Column, Error, Mode, OwnedRow, Params, Query, Request, RequestId, Response, Row};

use crate::connection::Connection;
use crate::runtime::Runtime;

impl<R: Runtime> Connection<R> {
    /// Streams the rows of one or more `;`-separated statements run with the simple query
    /// protocol (text format; each row carries its own statement's columns), one at a time:
    /// memory does not grow with the number of rows. The first error ends the stream.
    pub async fn simple_query_raw(&mut self, sql: &str) -> Result<RowStream<'_, R>, Error> {
        let request = Request::simple_stream(sql);
        let trace = crate::trace::Traced::request(&self.driver.engine, &request);
        let id = self.submit(request).await.inspect_err(|e| trace.failed(e))?;
        Ok(RowStream::new(self, id, trace))
    }

    /// Streams the rows of a query one at a time, each borrowed straight from the receive
    /// buffer: memory does not grow with the number of rows. Dropping the stream early is
    /// fine; the rest is drained by the engine.
    pub async fn query_raw<'q>(
        &mut self,
        query: impl Into<Query<'q>>,
        params: Params<'_>,
    ) -> Result<RowStream<'_, R>, Error> {
        let request = self.driver.engine.query_request(query, params, Mode::Stream)?;
        let trace = crate::trace::Traced::request(&self.driver.engine, &request);
        let id = self.submit(request).await.inspect_err(|e| trace.failed(e))?;
        Ok(RowStream::new(self, id, trace))
    }

    /// Opens a portal on the query that returns at most `batch` rows per
    /// [`fetch`](Portal::fetch) (Execute with a row limit; PortalSuspended between batches).
    /// Only one portal at a time; the connection is busy until it is exhausted or closed.
    pub async fn portal<'q>(
        &mut self,
        query: impl Into<Query<'q>>,
        params: Params<'_>,
        batch: i32,
    ) -> Result<Portal<'_, R>, Error> {
        let id = self.submit(Request::portal(query, params, batch)?).await?;
        let first = self.wait(id, None).await?;
        Ok(Portal::new(self, id, batch, first))
    }
}

/// The rows of a query, one at a time, each borrowed from the receive buffer until the next
/// call: memory does not grow with the number of rows. Dropped early, the rest is drained by
/// the engine.
pub struct RowStream<'a, R: Runtime> {
    conn: &'a mut Connection<R>,
    id: RequestId,
    done: bool,
    tag: Option<pgsans::CommandTag>,
    trace: crate::trace::Traced,
}

impl<'a, R: Runtime> RowStream<'a, R> {
    pub(crate) fn new(conn: &'a mut Connection<R>, id: RequestId, trace: crate::trace::Traced) -> Self {
        RowStream { conn, id, done: false, tag: None, trace }
    }

    /// The next row, or `None` at the end; an error mid-stream is returned here.
    pub async fn next(&mut self) -> Result<Option<Row<'_>>, Error> {
        if self.done {
            return Ok(None);
        }
        let id = self.id;
        let deadline = self.conn.step_deadline();
        let ended = self
            .conn
            .driver
            .until(deadline, move |e| {
                if e.row_ready(id) {
                    return Some(Ok(None));
                }
                e.take_response(id).map(|r| Ok(Some(r)))
            })
            .await;
        let ended = match ended {
            Ok(ended) => ended,
            Err(Error::Timeout) => {
                self.done = true;
                let e = self.conn.step_timed_out(id);
                self.trace.failed(&e);
                return Err(e);
            }
            Err(e) => {
                self.done = true;
                self.trace.failed(&e);
                return Err(e);
            }
        };
        if let Some(r) = ended {
            self.done = true;
            let tag = (|| {
                Ok(match r? {
                    // A simple query: the error that stopped it, or its last statement's tag.
                    Response::Batch(b) => match b.error {
                        Some(e) => return Err(Error::Db(e)),
                        None => b.results.last().and_then(|r| r.command_tag().map(pgsans::CommandTag::from)),
                    },
                    other => other.into_query()?.tag,
                })
            })();
            match tag {
                Ok(tag) => {
                    self.trace.rows(tag.as_deref().and_then(pgsans::rows_affected).unwrap_or(0));
                    self.tag = tag;
                }
                Err(e) => {
                    self.trace.failed(&e);
                    return Err(e);
                }
            }
            return Ok(None);
        }
        self.conn.driver.engine.take_row(self.id)
    }

    /// Whether the next row is already received, so that [`take_ready`](Self::take_ready)
    /// returns it without waiting (for a blocking driver's fast path; [`next`](Self::next) is
    /// the general call).
    pub fn row_ready_now(&mut self) -> Result<bool, Error> {
        if self.done {
            return Ok(false);
        }
        self.conn.driver.engine.poll()?;
        Ok(self.conn.driver.engine.row_ready(self.id))
    }

    /// The row [`row_ready_now`](Self::row_ready_now) found; `None` if there is none.
    pub fn take_ready(&mut self) -> Result<Option<Row<'_>>, Error> {
        self.conn.driver.engine.take_row(self.id)
    }

    /// The rows as a [`Stream`](futures_lite::Stream) of owned rows (each copied out of the
    /// receive buffer), so that `StreamExt` / `TryStreamExt` work. It ends after the last row
    /// or after an error.
    pub fn into_stream(self) -> impl futures_lite::Stream<Item = Result<pgsans::OwnedRow, Error>> + 'a {
        futures_lite::stream::unfold(Some(self), |state| async move {
            let mut s = state?;
            match s.next().await {
                Ok(Some(row)) => {
                    let row = row.to_owned();
                    Some((Ok(row), Some(s)))
                }
                Ok(None) => None,
                Err(e) => Some((Err(e), None)),
            }
        })
    }

    /// Rows returned or affected, from the command tag, once the stream is exhausted.
    pub fn rows_affected(&self) -> Option<u64> {
        self.tag.as_deref().and_then(pgsans::rows_affected)
    }
}

impl<R: Runtime> Drop for RowStream<'_, R> {
    fn drop(&mut self) {
        if !self.done {
            self.conn.driver.engine.abandon(self.id);
            self.conn.abandoned_mid_flight();
        }
    }
}

/// An open portal: rows in batches of at most `batch`. Dropped before the end, it is closed
/// (with a Sync) and the rest drained by the engine.
pub struct Portal<'a, R: Runtime> {
    conn: &'a mut Connection<R>,
    /// The request that owns the portal now (the query that opened it, or the last fetch).
    last: RequestId,
    batch: i32,
    first: Option<Response>,
    columns: Option<Arc<[Column]>>,
    done: bool,
}

impl<'a, R: Runtime> Portal<'a, R> {
    pub(crate) fn new(conn: &'a mut Connection<R>, last: RequestId, batch: i32, first: Response) -> Self {
        Portal { conn, last, batch, first: Some(first), columns: None, done: false }
    }

    /// The next batch of at most `batch` rows; empty once the portal is exhausted.
    pub async fn fetch(&mut self) -> Result<Vec<OwnedRow>, Error> {
        let response = match self.first.take() {
            Some(r) => r,
            None if self.done => return Ok(Vec::new()),
            None => {
                let id = self.conn.driver.engine.submit(Request::fetch(self.last, self.batch, self.columns.clone()))?;
                self.last = id;
                match self.conn.wait(id, None).await {
                    Ok(r) => r,
                    Err(e) => {
                        self.done = true;
                        return Err(e);
                    }
                }
            }
        };
        match response {
            Response::Suspended(r) => {
                self.columns = r.columns.clone();
                Ok(r.rows)
            }
            Response::Query(r) => {
                self.done = true;
                Ok(r.rows)
            }
            other => Err(Error::Internal(format!("a portal got {other:?}"))),
        }
    }

    /// Whether every row was fetched.
    pub fn is_exhausted(&self) -> bool {
        self.done && self.first.is_none()
    }

    /// Ends the portal early. (Dropping it does the same without waiting.)
    pub async fn close(mut self) -> Result<(), Error> {
        if self.done || matches!(self.first, Some(Response::Query(_))) {
            self.done = true;
            return Ok(());
        }
        self.done = true;
        let id = self.conn.driver.engine.submit(Request::fetch(self.last, 0, None))?;
        self.conn.wait(id, None).await.map(drop)
    }
}

impl<R: Runtime> Drop for Portal<'_, R> {
    fn drop(&mut self) {
        if !self.done {
            self.conn.driver.engine.abandon(self.last);
        }
    }
}
