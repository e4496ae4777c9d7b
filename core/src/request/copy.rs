//! COPY: `COPY … FROM STDIN` (the caller sends the data) and `COPY … TO STDOUT` (the caller
//! takes the data chunk by chunk, borrowed from the receive buffer). The statement goes as a
//! simple Query; the request stays in flight for the whole copy and answers with the row count.
//!
//! COPY IN: once the server is in copy-in mode ([`Connection::input_format`] is `Some`), the
//! caller sends data with [`Connection::send_data`] and ends with [`Connection::finish_data`]
//! or [`Connection::fail_data`]. Nothing else may be submitted meanwhile: the server would
//! read it as copy data. An error the server raises mid-copy (bad data on line N) ends the
//! request at once: the caller sees it in [`Connection::take_response`] and stops sending.
//!
//! COPY OUT: the engine stops before each CopyData; [`Connection::take_data`] hands it
//! over, as [`Connection::take_row`] does rows.
//!
//! [`Connection::input_format`]: crate::Connection::input_format
//! [`Connection::send_data`]: crate::Connection::send_data
//! [`Connection::finish_data`]: crate::Connection::finish_data
//! [`Connection::fail_data`]: crate::Connection::fail_data
//! [`Connection::take_response`]: crate::Connection::take_response
//! [`Connection::take_data`]: crate::Connection::take_data
//! [`Connection::take_row`]: crate::Connection::take_row

use super::{Progress, Response, Wants};
use crate::error::{DbError, Error, UsageError};
use crate::request::event::Event;
use crate::session::conversation::{Conversation, RequestId};
use crate::wire::codec::frontend;

/// Which way the data goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyDirection {
    /// `COPY … FROM STDIN`: the client sends.
    In,
    /// `COPY … TO STDOUT`: the server sends.
    Out,
}

/// The format the server announced for a copy: text (CSV is text too) or binary, and each
/// column's format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyFormat {
    /// The whole copy is binary (`FORMAT binary`).
    pub binary: bool,
    /// 0 (text) or 1 (binary) per column.
    pub column_formats: Vec<i16>,
}

/// A finished COPY.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyResult {
    /// Rows copied, from the `COPY n` command tag.
    pub rows: u64,
    /// The format the server used.
    pub format: CopyFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// The Query is sent; the server has not started copying.
    Waiting,
    /// The server waits for data from us.
    SendingIn,
    /// CopyDone or CopyFail is sent.
    Ending,
    /// The server sends data.
    ReceivingOut,
    /// The copy is over (or never started); the ReadyForQuery ends the request.
    After,
}

#[derive(Debug)]
pub(crate) struct CopyMachine {
    direction: CopyDirection,
    state: State,
    format: Option<CopyFormat>,
    rows: Option<u64>,
    error: Option<Box<DbError>>,
    /// Misuse found in the answer (not a COPY of this direction).
    refused: Option<Error>,
    /// Abandoned: CopyFail was sent ahead; its answers are drained.
    abandoned: bool,
    /// The caller has sent something since copy-in began (until then the engine reads
    /// nothing more: a real server says nothing before it gets data, and what follows must
    /// not depend on how the bytes were cut).
    acted: bool,
}

impl CopyMachine {
    pub(crate) fn start(
        sql: &str,
        direction: CopyDirection,
        id: RequestId,
        conv: &mut Conversation,
    ) -> Result<Self, Error> {
        conv.queue_simple(id, sql)?;
        Ok(CopyMachine {
            direction,
            state: State::Waiting,
            format: None,
            rows: None,
            error: None,
            refused: None,
            abandoned: false,
            acted: false,
        })
    }

    /// While a COPY IN has not ended, anything else sent would be read as copy data.
    fn blocks_others(&self) -> bool {
        self.direction == CopyDirection::In && matches!(self.state, State::Waiting | State::SendingIn)
    }

    /// What it needs from the engine: to stop before each CopyData of a COPY OUT (the caller
    /// takes it), not to be read past once copy-in has begun until the caller has sent
    /// something, and the connection to itself while a COPY IN runs.
    pub(crate) fn wants(&self) -> Wants {
        Wants {
            stop_before: (self.state == State::ReceivingOut && !self.abandoned).then_some(b'd'),
            caller_first: self.state == State::SendingIn && !self.acted,
            exclusive: self.blocks_others().then_some("a COPY FROM STDIN is in progress: finish or abort it first"),
            idle_input: false,
        }
    }

    /// Whether a CopyInResponse for this request is the copy it asked for (the caller sends
    /// the data) — else it is ended with CopyFail.
    pub(crate) fn takes_copy_in(&self) -> bool {
        self.direction == CopyDirection::In && self.state == State::Waiting && !self.abandoned
    }

    /// The format while the server waits for our data.
    pub(crate) fn in_format(&self) -> Option<&CopyFormat> {
        match self.state {
            State::SendingIn => self.format.as_ref(),
            _ => None,
        }
    }

    pub(crate) fn out_format(&self) -> Option<&CopyFormat> {
        match self.direction {
            CopyDirection::Out => self.format.as_ref(),
            CopyDirection::In => None,
        }
    }

    fn sending(&self) -> Result<(), Error> {
        match self.state {
            State::SendingIn => Ok(()),
            State::Waiting => Err(UsageError::InvalidState("the server has not started the COPY yet".into()).into()),
            _ => Err(UsageError::InvalidState("this COPY is not waiting for data".into()).into()),
        }
    }

    /// Appends `data` as CopyData (split so that no message exceeds 1 GiB).
    pub(crate) fn send(&mut self, data: &[u8], conv: &mut Conversation) -> Result<(), Error> {
        self.sending()?;
        self.acted = true;
        for chunk in data.chunks(1 << 30) {
            frontend::copy_data(chunk, conv.buf())?;
        }
        Ok(())
    }

    /// CopyDone, or CopyFail with `message`.
    pub(crate) fn end(&mut self, fail: Option<&str>, conv: &mut Conversation) -> Result<(), Error> {
        self.sending()?;
        self.acted = true;
        match fail {
            Some(message) => frontend::copy_fail(message, conv.buf())?,
            None => frontend::copy_done(conv.buf()),
        }
        self.state = State::Ending;
        Ok(())
    }

    /// Abandoned by the caller: a COPY IN that may be (or become) waiting for data is ended
    /// with CopyFail now. The server ignores a CopyFail outside copy-in mode, so sending it
    /// ahead is safe whatever the statement turns out to be.
    pub(crate) fn abandon(&mut self, id: RequestId, conv: &mut Conversation) {
        self.abandoned = true;
        if self.direction == CopyDirection::In && matches!(self.state, State::Waiting | State::SendingIn) {
            let _ = frontend::copy_fail("COPY abandoned by the client", conv.buf());
            self.state = State::Ending;
            conv.syncs.mark_copy_failed(id);
        }
    }

    pub(crate) fn on_event(&mut self, ev: Event<'_>) -> Progress {
        match ev {
            Event::CopyInResponse { format, column_formats } => {
                let format = CopyFormat { binary: format == 1, column_formats };
                if self.direction == CopyDirection::In && self.state == State::Waiting {
                    self.format = Some(format);
                    self.state = State::SendingIn;
                } else {
                    // The engine has ended it (CopyFail); say why.
                    self.refused.get_or_insert_with(|| wrong(self.direction, "FROM STDIN"));
                }
            }
            Event::CopyOutResponse { format, column_formats } => {
                if self.direction == CopyDirection::Out && self.state == State::Waiting {
                    self.format = Some(CopyFormat { binary: format == 1, column_formats });
                    self.state = State::ReceivingOut;
                } else {
                    // Read and dropped; reported instead of a count.
                    self.refused.get_or_insert_with(|| wrong(self.direction, "TO STDOUT"));
                }
            }
            Event::CopyData(_) | Event::CopyDone => {}
            Event::RowDescription(_) | Event::DataRow(_) | Event::EmptyQueryResponse => {
                self.refused.get_or_insert_with(|| wrong(self.direction, ""));
            }
            Event::CommandComplete(tag) => {
                if tag.starts_with("COPY") && self.format.is_some() {
                    self.rows = crate::types::row::rows_affected(tag);
                } else {
                    self.refused.get_or_insert_with(|| wrong(self.direction, ""));
                }
                self.state = State::After;
            }
            Event::Error(e) => {
                self.error.get_or_insert(e);
                if self.state == State::SendingIn {
                    // The server left copy-in mode: stop sending (anything more is ignored).
                    self.state = State::After;
                }
            }
            Event::ReadyForQuery(_) => {
                if self.blocks_others() {
                    // Only a buggy or hostile server ends the query while we copy in.
                    self.state = State::After;
                }
                // Refused first: the server's error is then only its answer to our CopyFail.
                if let Some(e) = self.refused.take() {
                    return Progress::Done(Err(e));
                }
                if let Some(e) = self.error.take() {
                    return Progress::Done(Err(Error::Db(e)));
                }
                let (Some(rows), Some(format)) = (self.rows, self.format.take()) else {
                    return Progress::Done(Err(wrong(self.direction, "")));
                };
                return Progress::Done(Ok(Response::Copy(CopyResult { rows, format })));
            }
            _ => {}
        }
        Progress::Pending
    }
}

fn wrong(asked: CopyDirection, got: &str) -> Error {
    let wanted = match asked {
        CopyDirection::In => "COPY … FROM STDIN",
        CopyDirection::Out => "COPY … TO STDOUT",
    };
    let got = if got.is_empty() { "a statement that is not one".to_owned() } else { format!("COPY … {got}") };
    UsageError::InvalidArgument(format!("this COPY request needs a {wanted} statement; the server ran {got}")).into()
}
