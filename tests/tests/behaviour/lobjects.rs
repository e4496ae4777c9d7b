// The `drop`s end each object's borrow of the connection.
#![allow(clippy::drop_non_drop)]
//! Large objects (psycopg2's `lobject`).

use pgsans::{Error, UsageError, Xid};
use pgsans_client::Whence;
use pgsans_tests::*;

async fn connect<R: TestRt>() -> Conn<R> {
    Conn::<R>::connect(&TestServer::shared().conninfo(AuthMethod::Trust)).await.unwrap()
}

fn closed(e: Error) -> bool {
    matches!(e, Error::Usage(UsageError::LargeObjectClosed))
}

pub async fn large_objects_read_write_seek_and_end_with_their_transaction<R: TestRt>() {
    let mut c = connect::<R>().await;
    c.set_autocommit(true).await.unwrap();
    let e = c.lobject(0, "rw", 0, None).await.err().unwrap();
    assert!(matches!(e, Error::Usage(UsageError::LargeObjectOutsideTransaction)), "{e:?}");
    c.set_autocommit(false).await.unwrap();

    // Create, write, seek every way, read, truncate; offsets past 2 GB.
    let mut lo = c.lobject(0, "rw", 0, None).await.unwrap();
    let oid = lo.oid();
    assert_eq!(lo.write(b"hello world").await.unwrap(), 11);
    assert_eq!(lo.seek(0, Whence::Start).await.unwrap(), 0);
    assert_eq!(lo.read(Some(5)).await.unwrap(), b"hello");
    assert_eq!(lo.tell().await.unwrap(), 5);
    assert_eq!(lo.seek(-5, Whence::End).await.unwrap(), 6);
    assert_eq!(lo.read(None).await.unwrap(), b"world");
    assert_eq!(lo.seek(-11, Whence::Current).await.unwrap(), 0);
    lo.truncate(5).await.unwrap();
    assert_eq!(lo.read(None).await.unwrap(), b"hello");
    let far = 3i64 << 30;
    assert_eq!(lo.seek(far, Whence::Start).await.unwrap(), far);
    lo.write(b"!").await.unwrap();
    assert_eq!(lo.tell().await.unwrap(), far + 1);
    assert_eq!(lo.seek(0, Whence::End).await.unwrap(), far + 1);
    lo.truncate(5).await.unwrap();
    // The transaction ends: the descriptor with it.
    lo.connection().commit().await.unwrap();
    assert!(lo.closed());
    assert!(closed(lo.read(None).await.unwrap_err()));
    assert!(closed(lo.write(b"x").await.unwrap_err()));
    // ...also once another transaction has begun.
    lo.connection().query("SELECT 1", &[]).await.unwrap();
    assert!(closed(lo.tell().await.unwrap_err()));
    lo.close().await.unwrap();
    drop(lo);

    // Reopened: text mode; a read-only descriptor cannot write (the server's error).
    let mut lo = c.lobject(oid, "rt", 0, None).await.unwrap();
    assert_eq!(lo.read_text(None).await.unwrap(), "hello");
    lo.close().await.unwrap();
    assert!(closed(lo.read(None).await.unwrap_err()), "closed by the caller");
    drop(lo);
    let mut lo = c.lobject(oid, "r", 0, None).await.unwrap();
    assert!(matches!(lo.write(b"x").await.unwrap_err(), Error::Db(_)));
    drop(lo);
    c.rollback().await.unwrap();

    // A chosen OID; import from a client file and export to one.
    let wanted = 3_000_000 + R::NAME.len() as u32 * 1000 + R::NAME.as_bytes()[0] as u32;
    let dir = std::env::temp_dir().join(format!("pgsans-lo-{}-{}", R::NAME, std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let data: Vec<u8> = (0..700_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(dir.join("in"), &data).unwrap();
    let _ =
        c.batch_execute(&format!("SELECT lo_unlink({wanted}) FROM pg_largeobject_metadata WHERE oid = {wanted}")).await;
    c.commit().await.unwrap();
    let mut lo = c.lobject(0, "r", wanted, Some(&dir.join("in"))).await.unwrap();
    assert_eq!(lo.oid(), wanted);
    assert_eq!(lo.read(None).await.unwrap(), data);
    lo.export(&dir.join("out")).await.unwrap();
    assert_eq!(std::fs::read(dir.join("out")).unwrap(), data);
    lo.unlink().await.unwrap();
    let gone =
        scalar(&mut c, &format!("SELECT count(*) FROM pg_largeobject_metadata WHERE oid IN ({oid}, {wanted})")).await;
    assert_eq!(gone.unwrap().as_deref(), Some("1"), "the first object stays, the imported one is unlinked");
    c.commit().await.unwrap();
    std::fs::remove_dir_all(&dir).unwrap();

    // The async I/O traits: a megabyte copied in with `futures` AsyncWrite, sought with
    // AsyncSeek, read back with AsyncRead in small reads; a read that outlives its
    // transaction is an error, not a panic.
    {
        use futures_lite::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
        let big: Vec<u8> = (0..1_000_000u32).map(|i| (i % 253) as u8).collect();
        let mut lo = c.lobject(0, "rw", 0, None).await.unwrap();
        futures_lite::io::copy(&big[..], &mut lo).await.unwrap();
        AsyncWriteExt::flush(&mut lo).await.unwrap();
        assert_eq!(AsyncSeekExt::seek(&mut lo, std::io::SeekFrom::End(-10)).await.unwrap(), 999_990);
        assert_eq!(AsyncSeekExt::seek(&mut lo, std::io::SeekFrom::Start(0)).await.unwrap(), 0);
        let mut back = Vec::new();
        let mut small = [0u8; 7000];
        loop {
            let n = AsyncReadExt::read(&mut lo, &mut small).await.unwrap();
            if n == 0 {
                break;
            }
            back.extend_from_slice(&small[..n]);
        }
        assert!(back == big, "{} bytes back", back.len());
        AsyncSeekExt::seek(&mut lo, std::io::SeekFrom::Start(5)).await.unwrap();
        let mut rest = Vec::new();
        lo.read_to_end(&mut rest).await.unwrap();
        assert_eq!(rest.len(), big.len() - 5);
        lo.connection().rollback().await.unwrap();
        let e = AsyncReadExt::read(&mut lo, &mut small).await.unwrap_err();
        assert!(e.to_string().contains("closed"), "{e}");
    }

    // tpc_prepare ends the transaction too.
    let xid = Xid::new(3, &format!("lo-{}", R::NAME), "b").unwrap();
    c.tpc_begin(xid).await.unwrap();
    let mut lo = c.lobject(oid, "r", 0, None).await.unwrap();
    lo.connection().tpc_prepare().await.unwrap();
    assert!(closed(lo.read(None).await.unwrap_err()));
    lo.connection().tpc_rollback(None).await.unwrap();
    drop(lo);
    assert!(matches!(LoModeCheck::bad(), Err(Error::Usage(UsageError::InvalidArgument(_)))));
    c.batch_execute(&format!("SELECT lo_unlink({oid})")).await.unwrap();
    c.commit().await.unwrap();
}

struct LoModeCheck;

impl LoModeCheck {
    fn bad() -> Result<pgsans_client::LoMode, Error> {
        pgsans_client::LoMode::parse("rx")
    }
}

/// Tokio's own I/O traits on a large object: `tokio::io::copy` in, `AsyncSeekExt::seek`,
/// `read_to_end` out.
#[test]
fn large_objects_are_tokio_async_read_write_seek() {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let mut c = pgsans_tokio::Connection::connect(&TestServer::shared().conninfo(AuthMethod::Trust)).await.unwrap();
        let data: Vec<u8> = (0..600_000u32).map(|i| (i % 241) as u8).collect();
        let mut lo = c.lobject(0, "rw", 0, None).await.unwrap();
        tokio::io::copy(&mut &data[..], &mut lo).await.unwrap();
        assert_eq!(AsyncSeekExt::seek(&mut lo, std::io::SeekFrom::Current(-100)).await.unwrap(), 599_900);
        AsyncSeekExt::rewind(&mut lo).await.unwrap();
        let mut back = Vec::new();
        AsyncReadExt::read_to_end(&mut lo, &mut back).await.unwrap();
        assert!(back == data, "{} bytes back", back.len());
        lo.connection().rollback().await.unwrap();
    });
}
