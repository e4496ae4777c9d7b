//! The receive buffer: the transport reads straight into its spare space, the engine frames
//! messages in place and hands out borrows of them.

#[derive(Debug, Default)]
pub(crate) struct RecvBuffer {
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

/// The least spare space handed to a transport for one read.
const MIN_READ: usize = 16 * 1024;

impl RecvBuffer {
    pub(crate) fn unread(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Spare space of at least `want` bytes (and [`MIN_READ`]) after the unread bytes.
    /// Unread bytes are moved to the front first when that makes room, so the buffer only grows
    /// to the largest message plus one read.
    pub(crate) fn spare(&mut self, want: usize) -> &mut [u8] {
        let want = want.max(MIN_READ);
        if self.start > 0 && self.buf.len() - self.end < want {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.buf.len() - self.end < want {
            self.buf.resize(self.end + want, 0);
        }
        &mut self.buf[self.end..]
    }

    pub(crate) fn commit(&mut self, n: usize) {
        assert!(self.end + n <= self.buf.len(), "committed more bytes than the spare space holds");
        self.end += n;
    }

    pub(crate) fn extend(&mut self, data: &[u8]) {
        let spare = self.spare(data.len());
        spare[..data.len()].copy_from_slice(data);
        self.commit(data.len());
    }

    /// Marks `n` bytes at the front as consumed. The bytes stay where they are until the next
    /// call to [`spare`](Self::spare), so a borrow of them taken just before stays valid.
    pub(crate) fn consume(&mut self, n: usize) -> std::ops::Range<usize> {
        let r = self.start..self.start + n;
        self.start += n;
        r
    }

    pub(crate) fn slice(&self, r: std::ops::Range<usize>) -> &[u8] {
        &self.buf[r]
    }

    /// Shrinks a buffer that grew for one huge message once it is drained.
    pub(crate) fn shrink_if_idle(&mut self) {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
            if self.buf.len() > 4 * MIN_READ {
                self.buf.truncate(MIN_READ);
                self.buf.shrink_to(MIN_READ);
            }
        }
    }
}

/// The send buffer: messages are appended, the transport takes from the front.
#[derive(Debug, Default)]
pub(crate) struct SendBuffer {
    buf: Vec<u8>,
    pos: usize,
}

impl SendBuffer {
    pub(crate) fn pending(&self) -> &[u8] {
        &self.buf[self.pos..]
    }
    pub(crate) fn is_empty(&self) -> bool {
        self.pos == self.buf.len()
    }
    pub(crate) fn advance(&mut self, n: usize) {
        assert!(n <= self.buf.len() - self.pos, "advanced past the bytes to transmit");
        self.pos += n;
        if self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
    }
    /// The vector messages are appended to.
    pub(crate) fn vec(&mut self) -> &mut Vec<u8> {
        if self.pos > 0 && self.pos >= self.buf.len() / 2 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        &mut self.buf
    }
}
