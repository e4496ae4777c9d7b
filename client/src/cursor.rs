//! Server-side named cursors, as psycopg2's `connection.cursor(name, scrollable, withhold)`:
//! `DECLARE … CURSOR`, rows fetched in batches of `itersize`, `scroll`, `close`.

use std::collections::VecDeque;

use pgsans::{Error, OwnedRow, Params, Request, UsageError};

use crate::connection::Connection;
use crate::runtime::Runtime;

/// How a named cursor is declared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CursorOptions {
    /// `SCROLL` (`Some(true)`), `NO SCROLL` (`Some(false)`) or the server's default (`None`),
    /// as psycopg2's `scrollable`.
    pub scroll: Option<bool>,
    /// `WITH HOLD`: the cursor outlives its transaction (psycopg2's `withhold`); needed in
    /// autocommit mode.
    pub hold: bool,
    /// Rows fetched per round trip when iterating (psycopg2's `itersize`, default 2000).
    pub itersize: usize,
}

impl Default for CursorOptions {
    fn default() -> Self {
        CursorOptions { scroll: None, hold: false, itersize: 2000 }
    }
}

/// Where [`NamedCursor::scroll`] moves from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScrollMode {
    /// From the current position (psycopg2's `relative`).
    Relative,
    /// To a row number, 1 being the first (`absolute`).
    Absolute,
}

impl<R: Runtime> Connection<R> {
    /// Declares the server-side cursor `name` for `query` (with `$n` parameters) and returns
    /// it: rows are read from the server a batch at a time, so a result of any size takes
    /// bounded memory. The name is quoted, so any name works. Outside autocommit the
    /// automatic BEGIN comes first; in autocommit a cursor must be `WITH HOLD`
    /// ([`UsageError::NamedCursorOutsideTransaction`] otherwise).
    pub async fn declare_cursor(
        &mut self,
        name: &str,
        query: &str,
        params: Params<'_>,
        options: CursorOptions,
    ) -> Result<NamedCursor<'_, R>, Error> {
        if self.autocommit() && !options.hold {
            return Err(UsageError::NamedCursorOutsideTransaction.into());
        }
        let scroll = match options.scroll {
            Some(true) => " SCROLL",
            Some(false) => " NO SCROLL",
            None => "",
        };
        let hold = if options.hold { " WITH HOLD" } else { "" };
        let quoted = pgsans::session::quote_ident(name);
        self.execute(format!("DECLARE {quoted}{scroll} CURSOR{hold} FOR {query}").as_str(), params).await?;
        Ok(NamedCursor {
            conn: self,
            name: name.to_owned(),
            quoted,
            hold: options.hold,
            itersize: options.itersize.max(1),
            buffered: VecDeque::new(),
            exhausted: false,
            closed: false,
        })
    }
}

/// A server-side cursor: fetch rows with [`next`](Self::next) (a batch of `itersize` at a
/// time), [`fetch_one`](Self::fetch_one), [`fetch_many`](Self::fetch_many) or
/// [`fetch_all`](Self::fetch_all); move with [`scroll`](Self::scroll); end with
/// [`close`](Self::close). A `WITH HOLD` cursor dropped without `close` is closed on the
/// server (without opening a transaction); one without is closed by the end of its
/// transaction. [`connection`](Self::connection) runs other statements meanwhile (a commit
/// keeps a `WITH HOLD` cursor open).
pub struct NamedCursor<'a, R: Runtime> {
    conn: &'a mut Connection<R>,
    name: String,
    quoted: String,
    hold: bool,
    itersize: usize,
    /// Rows fetched from the server not yet handed out (at most `itersize`).
    buffered: VecDeque<OwnedRow>,
    exhausted: bool,
    closed: bool,
}

impl<R: Runtime> NamedCursor<'_, R> {
    async fn fetch(&mut self, count: Option<usize>) -> Result<Vec<OwnedRow>, Error> {
        if self.closed {
            return Err(UsageError::InvalidArgument("the named cursor is closed".into()).into());
        }
        let count = count.map_or_else(|| "ALL".to_owned(), |n| n.to_string());
        self.conn.query(format!("FETCH FORWARD {count} FROM {}", self.quoted).as_str(), &[]).await
    }

    /// The next row, fetching `itersize` more when those fetched are used up; `None` at the
    /// end.
    pub async fn next(&mut self) -> Result<Option<OwnedRow>, Error> {
        if self.buffered.is_empty() && !self.exhausted {
            let rows = self.fetch(Some(self.itersize)).await?;
            self.exhausted = rows.len() < self.itersize;
            self.buffered.extend(rows);
        }
        Ok(self.buffered.pop_front())
    }

    /// The next row (psycopg2's `fetchone`).
    pub async fn fetch_one(&mut self) -> Result<Option<OwnedRow>, Error> {
        if let Some(row) = self.buffered.pop_front() {
            return Ok(Some(row));
        }
        Ok(self.fetch(Some(1)).await?.pop())
    }

    /// Up to `n` more rows (psycopg2's `fetchmany`).
    pub async fn fetch_many(&mut self, n: usize) -> Result<Vec<OwnedRow>, Error> {
        let mut rows: Vec<OwnedRow> = self.buffered.drain(..n.min(self.buffered.len())).collect();
        if rows.len() < n {
            rows.extend(self.fetch(Some(n - rows.len())).await?);
        }
        Ok(rows)
    }

    /// Every remaining row (psycopg2's `fetchall`).
    pub async fn fetch_all(&mut self) -> Result<Vec<OwnedRow>, Error> {
        let mut rows: Vec<OwnedRow> = self.buffered.drain(..).collect();
        rows.extend(self.fetch(None).await?);
        self.exhausted = true;
        Ok(rows)
    }

    /// Moves the cursor (`MOVE`): `value` rows forward (back when negative) from the current
    /// row, or to row `value`. Returns how many rows the server moved over. Backward moves
    /// need a `SCROLL` cursor (the server's error otherwise).
    pub async fn scroll(&mut self, value: i64, mode: ScrollMode) -> Result<u64, Error> {
        let sql = match mode {
            // The server is ahead of the caller by the rows fetched and not yet handed out.
            ScrollMode::Relative => {
                format!("MOVE RELATIVE {} FROM {}", value - self.buffered.len() as i64, self.quoted)
            }
            ScrollMode::Absolute => format!("MOVE ABSOLUTE {value} FROM {}", self.quoted),
        };
        self.buffered.clear();
        self.exhausted = false;
        self.conn.execute(sql.as_str(), &[]).await
    }

    /// Closes the cursor on the server. Idempotent.
    pub async fn close(&mut self) -> Result<(), Error> {
        if std::mem::replace(&mut self.closed, true) {
            return Ok(());
        }
        self.buffered.clear();
        self.conn.run(Request::close_cursor(&self.name)?).await?.into_batch()?.into_result().map(drop)
    }

    /// Rows fetched from the server and not yet handed out (never more than `itersize` when
    /// iterating with [`next`](Self::next)).
    pub fn buffered(&self) -> usize {
        self.buffered.len()
    }

    /// The connection, to run other statements while the cursor is open (a `commit` keeps a
    /// `WITH HOLD` cursor).
    pub fn connection(&mut self) -> &mut Connection<R> {
        self.conn
    }
}

impl<R: Runtime> Drop for NamedCursor<'_, R> {
    fn drop(&mut self) {
        if self.hold && !self.closed {
            // Sent with the next operation, its answer drained by the engine; no transaction
            // is opened for it.
            if let Ok(request) = Request::close_cursor(&self.name) {
                if let Ok(id) = self.conn.driver.engine.submit(request) {
                    self.conn.driver.engine.abandon(id);
                }
            }
        }
    }
}
