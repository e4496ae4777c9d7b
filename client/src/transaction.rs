//! A transaction scope guard.

use pgsans::session::Command;
use pgsans::{Error, Request};

use crate::connection::Connection;
use crate::runtime::Runtime;

impl<R: Runtime> Connection<R> {
    /// Opens a transaction scope: `BEGIN`, or a `SAVEPOINT` when nested. The returned guard
    /// gives access to the connection; end it with `commit()` or `rollback()`. Dropped without
    /// either, its rollback is queued at once and sent with the connection's next I/O (an async
    /// `Drop` cannot wait); the blocking client rolls back before its guard's drop returns.
    pub async fn transaction(&mut self) -> Result<Transaction<'_, R>, Error> {
        self.begin_scope().await?;
        Ok(Transaction::new(self))
    }
}

/// A transaction scope (psycopg 3's `transaction()`, tokio-postgres' `Transaction`). Derefs to
/// the connection; nested scopes are savepoints. End it with [`commit`](Self::commit) or
/// [`rollback`](Self::rollback); dropped without either, its rollback is queued at once (an
/// async `Drop` cannot wait) and goes out with the connection's next I/O — until then the
/// connection still reports BEGIN.
pub struct Transaction<'a, R: Runtime> {
    conn: &'a mut Connection<R>,
    ended: bool,
}

impl<'a, R: Runtime> Transaction<'a, R> {
    pub(crate) fn new(conn: &'a mut Connection<R>) -> Self {
        Transaction { conn, ended: false }
    }

    /// Commits the scope: COMMIT, or RELEASE SAVEPOINT when nested.
    pub async fn commit(self) -> Result<(), Error> {
        self.end(true).await
    }

    /// Rolls the scope back: ROLLBACK, or ROLLBACK TO SAVEPOINT when nested.
    pub async fn rollback(self) -> Result<(), Error> {
        self.end(false).await
    }

    /// Ends the scope. The guard stays in charge until the end is queued in the engine: a
    /// future dropped before that rolls the scope back (the guard's drop); dropped after, the
    /// queued end runs to its end anyway (the engine finishes session commands nobody waits
    /// for).
    async fn end(mut self, commit: bool) -> Result<(), Error> {
        let id = self.conn.submit(Request::command(Command::EndScope { commit })).await?;
        self.ended = true;
        self.conn.wait_for(id, None, false).await.map(drop)
    }
}

impl<R: Runtime> std::ops::Deref for Transaction<'_, R> {
    type Target = Connection<R>;
    fn deref(&self) -> &Connection<R> {
        self.conn
    }
}

impl<R: Runtime> std::ops::DerefMut for Transaction<'_, R> {
    fn deref_mut(&mut self) -> &mut Connection<R> {
        self.conn
    }
}

impl<R: Runtime> Drop for Transaction<'_, R> {
    fn drop(&mut self) {
        if !self.ended {
            self.conn.driver.engine.abandon_scope();
        }
    }
}
