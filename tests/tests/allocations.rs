//! A warmed-up prepared query, streamed with `query_raw` and read column by column, allocates
//! nothing per execution: not in the engine, not in the driver, not in the blocking transport.
//! (Its own test binary: the counting allocator is global.)

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use pgsans_harness::{AuthMethod, TestServer};

struct Counting;

thread_local! {
    /// Allocations made by this thread while counting is on; `None`: not counting.
    static COUNT: Cell<Option<u64>> = const { Cell::new(None) };
    /// Bytes this thread holds (allocated minus freed by it) and the most it has held since
    /// the last reset.
    static LIVE: Cell<(isize, isize)> = const { Cell::new((0, 0)) };
}

fn live(delta: isize) {
    let _ = LIVE.try_with(|l| {
        let (now, peak) = l.get();
        l.set((now + delta, peak.max(now + delta)));
    });
}

/// The most bytes this thread held at once while `f` ran, above what it held before.
fn peak_bytes(f: impl FnOnce()) -> isize {
    let start = LIVE.with(|l| {
        let (now, _) = l.get();
        l.set((now, now));
        now
    });
    f();
    LIVE.with(|l| l.get().1) - start
}

fn count_one() {
    // `try_with`: the allocator also runs while thread locals are torn down.
    let _ = COUNT.try_with(|c| {
        if let Some(n) = c.get() {
            c.set(Some(n + 1));
        }
    });
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        live(layout.size() as isize);
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_one();
        live(layout.size() as isize);
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        live(new_size as isize - layout.size() as isize);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        live(-(layout.size() as isize));
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Allocations `f` makes on this thread.
fn allocations(f: impl FnOnce()) -> u64 {
    COUNT.with(|c| c.set(Some(0)));
    f();
    COUNT.with(|c| c.replace(None)).unwrap_or(0)
}

#[test]
fn a_warm_prepared_stream_allocates_nothing_per_execution() {
    let server = TestServer::shared();
    let mut conn = pgsans_std::Connection::connect(&server.conninfo(AuthMethod::Trust)).unwrap();
    let statement = conn.prepare("SELECT $1::int4 + g, 'row ' || g FROM generate_series(1, 3) g").unwrap();
    let run = |conn: &mut pgsans_std::Connection, n: i32| -> (i64, usize) {
        let mut stream = conn.query_raw(&statement, &[&n]).unwrap();
        let (mut sum, mut text) = (0i64, 0usize);
        while let Some(row) = stream.next().unwrap() {
            sum += i64::from(row.get::<i32, _>(0).unwrap());
            text += row.get::<&str, _>(1).unwrap().len();
        }
        (sum, text)
    };
    // Warm up: buffers grown, statement described, parameter buffers pooled.
    for n in 0..10 {
        assert_eq!(run(&mut conn, n), (i64::from(3 * n + 6), 15));
    }
    let mut results = Vec::with_capacity(100);
    let made = allocations(|| {
        for n in 0..100 {
            results.push(run(&mut conn, n));
        }
    });
    assert_eq!(results.len(), 100);
    assert!(results.iter().zip(0..).all(|(&(sum, text), n)| sum == i64::from(3 * n + 6) && text == 15));
    assert_eq!(made, 0, "allocations in 100 warm executions of a streamed prepared query");
    // The counter counts: an owned copy of a row allocates.
    let owned = allocations(|| {
        let rows = conn.query(&statement, &[&1]).unwrap();
        assert_eq!(rows.len(), 3);
    });
    assert!(owned > 0);
}

#[test]
fn the_same_on_tokio() {
    let server = TestServer::shared();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let mut conn = pgsans_tokio::Connection::connect(&server.conninfo(AuthMethod::Trust)).await.unwrap();
        let statement = conn.prepare("SELECT $1::int4 + g, 'row ' || g FROM generate_series(1, 3) g").await.unwrap();
        async fn run(conn: &mut pgsans_tokio::Connection, statement: &pgsans::Statement, n: i32) -> (i64, usize) {
            let mut stream = conn.query_raw(statement, &[&n]).await.unwrap();
            let (mut sum, mut text) = (0i64, 0usize);
            while let Some(row) = stream.next().await.unwrap() {
                sum += i64::from(row.get::<i32, _>(0).unwrap());
                text += row.get::<&str, _>(1).unwrap().len();
            }
            (sum, text)
        }
        for n in 0..10 {
            assert_eq!(run(&mut conn, &statement, n).await, (i64::from(3 * n + 6), 15));
        }
        // The future is polled by this thread; count what its polls allocate.
        COUNT.with(|c| c.set(Some(0)));
        let mut ok = true;
        for n in 0..100 {
            ok &= run(&mut conn, &statement, n).await == (i64::from(3 * n + 6), 15);
        }
        let made = COUNT.with(|c| c.replace(None)).unwrap_or(0);
        assert!(ok);
        assert_eq!(made, 0, "allocations in 100 warm executions on Tokio");
    });
}

/// A named cursor over ten million rows, iterated in batches of `itersize`, in bounded memory:
/// the blocking client never holds more than a few MiB at once (everything would be about
/// 400 MB as rows).
#[test]
fn a_ten_million_row_cursor_in_bounded_memory() {
    let server = TestServer::shared();
    let mut conn = pgsans_std::Connection::connect(&server.conninfo(AuthMethod::Trust)).unwrap();
    let options = pgsans_client::CursorOptions { itersize: 5000, ..Default::default() };
    let (mut rows, mut sum, mut most_buffered) = (0u64, 0i64, 0usize);
    let peak = peak_bytes(|| {
        let mut cursor = conn
            .declare_cursor("ten_million", "SELECT g, 'row ' || g FROM generate_series(1, 10000000) g", &[], options)
            .unwrap();
        while let Some(row) = cursor.next().unwrap() {
            rows += 1;
            sum += i64::from(row.get::<i32, _>(0).unwrap());
            most_buffered = most_buffered.max(cursor.buffered());
        }
        cursor.close().unwrap();
    });
    assert_eq!(rows, 10_000_000);
    assert_eq!(sum, 10_000_000 * 10_000_001 / 2);
    assert!(most_buffered < 5000, "at most one batch buffered: {most_buffered}");
    eprintln!("ten million rows through a cursor: peak {peak} bytes held, {most_buffered} rows buffered at most");
    assert!(peak < 16 << 20, "peak {peak} bytes held while iterating");
    conn.rollback().unwrap();
}
