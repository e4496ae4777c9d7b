//! The byte-moving half of a runtime adapter, and when to spin instead of sleeping.

use std::io;

use pgsans::{Error, Interest, Wire};

/// Non-blocking socket operations: `Ok(0)` from `try_read` is end of stream; `WouldBlock`
/// means "not now".
pub trait TryIo {
    fn try_read(&mut self, buf: &mut [u8]) -> io::Result<usize>;
    fn try_write(&mut self, buf: &[u8]) -> io::Result<usize>;

    /// A read that asks the socket itself, even where the runtime's cached readiness says
    /// nothing has arrived (a runtime that has not polled its reactor since): for "what is
    /// there now" when no waiting is allowed (a zero timeout). Must not clear readiness.
    fn try_read_fresh(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.try_read(buf)
    }
}

fn not_now(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted)
}

/// What [`transfer`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Transfer {
    /// Bytes moved (or end of stream was seen): poll the engine again.
    pub progressed: bool,
    /// Reading now would find nothing: a read returned `WouldBlock`, or the whole request was
    /// just written and its answer cannot be there yet. Wait for readability before the next
    /// read instead of trying (and failing) again — one syscall saved per round trip.
    pub read_would_block: bool,
}

/// Writes and/or reads as much as `wanted` allows without blocking, feeding the engine (or the
/// cancel connection). A socket error marks the connection broken and is returned.
pub fn transfer(engine: &mut impl Wire, io: &mut impl TryIo, wanted: Interest) -> Result<Transfer, Error> {
    let mut t = Transfer::default();
    if matches!(wanted, Interest::Write | Interest::ReadWrite) && !engine.transmit().is_empty() {
        match io.try_write(engine.transmit()) {
            Ok(n) => {
                engine.advance(n);
                t.progressed = true;
                if engine.transmit().is_empty() {
                    // Everything is sent: the server has not answered it yet.
                    t.read_would_block = true;
                    return Ok(t);
                }
            }
            Err(e) if not_now(&e) => {}
            Err(e) => return Err(engine.transport_error(e.into())),
        }
    }
    if matches!(wanted, Interest::Read | Interest::ReadWrite) {
        match io.try_read(engine.recv_buf()) {
            Ok(0) => {
                engine.receive_eof();
                t.progressed = true;
            }
            Ok(n) => {
                engine.recv_commit(n);
                t.progressed = true;
            }
            Err(e) if not_now(&e) => t.read_would_block = true,
            Err(e) => return Err(engine.transport_error(e.into())),
        }
    }
    Ok(t)
}

/// Reads what has arrived, asking the socket itself ([`TryIo::try_read_fresh`]): for a
/// deadline that has passed. `true` if bytes (or the end of stream) were read.
pub fn read_fresh(engine: &mut impl Wire, io: &mut impl TryIo) -> Result<bool, Error> {
    match io.try_read_fresh(engine.recv_buf()) {
        Ok(0) => {
            engine.receive_eof();
            Ok(true)
        }
        Ok(n) => {
            engine.recv_commit(n);
            Ok(true)
        }
        Err(e) if not_now(&e) => Ok(false),
        Err(e) => Err(engine.transport_error(e.into())),
    }
}

/// How many CPUs this process may run on (affinity mask, cgroup quota), asked once: the
/// answer reads cgroup files, and connections are made often.
pub fn available_cpus() -> usize {
    static CPUS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CPUS.get_or_init(|| std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get))
}

/// The longest a transport spins, by default, for the answer to a request it has just sent
/// before it goes to sleep in the kernel; see [`Config::spin_wait`](pgsans::Config::spin_wait).
pub const DEFAULT_SPIN_WAIT: std::time::Duration = std::time::Duration::from_micros(100);

/// The spin limit for a connection configured with `config`, in a process that may run on
/// `cpus` CPUs: the configured limit, else [`DEFAULT_SPIN_WAIT`] — or zero on a single CPU,
/// where the server the client waits for needs that CPU (Go's runtime and glibc's adaptive
/// mutexes do not spin on one CPU either).
pub fn spin_limit(config: &pgsans::Config, cpus: usize) -> std::time::Duration {
    config.spin_wait_limit().unwrap_or(if cpus > 1 { DEFAULT_SPIN_WAIT } else { std::time::Duration::ZERO })
}

/// The most waits skipped after consecutive spins that found nothing: 2^6 - 1.
const MAX_MISSES: u32 = 6;

/// When a blocking or async transport should spin — retry a non-blocking read, yielding the CPU
/// in between — instead of sleeping at once, right after it has sent a whole request.
///
/// Sleeping costs a wake-up when the answer arrives; on a virtual machine that wake-up is
/// tens of microseconds, more than a loopback PostgreSQL needs to answer a short query. So the
/// transport retries for at most [`limit`](Self::limit) (measuring time is its business: the
/// policy never reads a clock) and reports whether the answer came. A spin that finds nothing
/// makes the policy skip spinning for the next 1, 3, 7, … up to 63 waits (slow queries, a
/// distant server), so the CPU spent on fruitless spins stays a small fraction of the time
/// spent waiting; one that finds the answer resets that.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpinWait {
    limit: std::time::Duration,
    misses: u32,
    skip: u32,
}

impl SpinWait {
    /// A policy spinning at most `limit` per wait; zero never spins.
    pub fn new(limit: std::time::Duration) -> Self {
        SpinWait { limit, misses: 0, skip: 0 }
    }

    /// The longest one spin may last.
    pub fn limit(&self) -> std::time::Duration {
        self.limit
    }

    /// Changes the limit (zero: never spin) and forgets past misses.
    pub fn set_limit(&mut self, limit: std::time::Duration) {
        *self = SpinWait::new(limit);
    }

    /// How long to spin for the answer to the request just sent, or `None` to sleep at once.
    /// Every `Some` must be followed by one [`record`](Self::record).
    pub fn budget(&mut self) -> Option<std::time::Duration> {
        if self.limit.is_zero() {
            return None;
        }
        if self.skip > 0 {
            self.skip -= 1;
            return None;
        }
        Some(self.limit)
    }

    /// Whether the spin found the answer (`true`) or ran out of time.
    pub fn record(&mut self, answered: bool) {
        if answered {
            self.misses = 0;
        } else {
            self.misses = (self.misses + 1).min(MAX_MISSES);
            self.skip = (1 << self.misses) - 1;
        }
    }
}

impl Default for SpinWait {
    fn default() -> Self {
        SpinWait::new(DEFAULT_SPIN_WAIT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn default_limit_is_off_on_one_cpu_unless_configured() {
        let mut config = pgsans::Config::default();
        assert_eq!(spin_limit(&config, 2), DEFAULT_SPIN_WAIT);
        assert_eq!(spin_limit(&config, 1), Duration::ZERO);
        config.spin_wait(Duration::from_micros(30));
        assert_eq!(spin_limit(&config, 1), Duration::from_micros(30));
        config.spin_wait(Duration::ZERO);
        assert_eq!(spin_limit(&config, 64), Duration::ZERO);
    }

    #[test]
    fn zero_never_spins() {
        let mut s = SpinWait::new(Duration::ZERO);
        assert_eq!(s.budget(), None);
    }

    #[test]
    fn misses_back_off_exponentially_and_a_hit_resets() {
        let mut s = SpinWait::new(Duration::from_micros(50));
        let mut spun = Vec::new();
        // A server that never answers within the limit: the spins thin out 1, 3, 7, ... 63.
        for _ in 0..300 {
            let b = s.budget();
            spun.push(b.is_some());
            if b.is_some() {
                s.record(false);
            }
        }
        let at: Vec<usize> = spun.iter().enumerate().filter(|(_, &x)| x).map(|(i, _)| i).collect();
        assert_eq!(&at[..7], &[0, 2, 6, 14, 30, 62, 126]);
        assert_eq!(at[7] - at[6], 64, "gaps stop growing at 63 skipped waits");
        // One answered spin: spinning every time again.
        while s.budget().is_none() {}
        s.record(true);
        assert_eq!(s.budget(), Some(Duration::from_micros(50)));
        s.record(true);
        assert_eq!(s.budget(), Some(Duration::from_micros(50)));
    }

    #[test]
    fn set_limit_forgets_misses() {
        let mut s = SpinWait::default();
        assert_eq!(s.budget(), Some(DEFAULT_SPIN_WAIT));
        s.record(false);
        s.set_limit(Duration::from_micros(10));
        assert_eq!(s.budget(), Some(Duration::from_micros(10)));
    }
}
