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
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_one();
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        unsafe { System.realloc(ptr, layout, new_size) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
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
