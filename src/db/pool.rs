//! The connections of a server database, at most `size` of them, each lent to one statement,
//! stream or transaction at a time and taken back as soon as it is returned. Unlike sqlx's pool,
//! which pings a connection when it comes back (a second round trip for every statement) and
//! takes it back on a task of its own, a connection whose work ended cleanly goes straight back
//! to the idle list, and one whose work was cut off (a cancelled statement, a stream left
//! unread, a transaction never ended) is closed, which also rolls back what it left open.

use std::sync::{Arc, Mutex};

use sqlx::{ConnectOptions, Connection};

pub struct Conns<C: Connection> {
    options: C::Options,
    size: usize,
    /// How long a loan waits for a connection to come back.
    wait: std::time::Duration,
    state: Mutex<State<C>>,
    returned: tokio::sync::Notify,
}

struct State<C> {
    idle: Vec<C>,
    /// Connections open: idle and lent.
    open: usize,
}

impl<C: Connection> Conns<C> {
    /// The connections that `options` opens, the first of them opened now: a server that
    /// refuses answers here.
    pub async fn open(options: C::Options, size: usize, wait: std::time::Duration) -> Result<Arc<Conns<C>>, sqlx::Error> {
        let first = options.connect().await?;
        Ok(Arc::new(Conns {
            options,
            size: size.max(1),
            wait,
            state: Mutex::new(State { idle: vec![first], open: 1 }),
            returned: tokio::sync::Notify::new(),
        }))
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State<C>> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// An idle connection, a new one while fewer than `size` are open, or the first one
    /// returned within the wait (after it, `PoolTimedOut`).
    pub async fn lend(self: &Arc<Self>) -> Result<Loan<C>, sqlx::Error> {
        tokio::time::timeout(self.wait, self.lend_when_free()).await.map_err(|_| sqlx::Error::PoolTimedOut)?
    }

    async fn lend_when_free(self: &Arc<Self>) -> Result<Loan<C>, sqlx::Error> {
        loop {
            let returned = self.returned.notified();
            tokio::pin!(returned);
            returned.as_mut().enable();
            let may_open = {
                let mut state = self.state();
                if let Some(conn) = state.idle.pop() {
                    return Ok(self.loan(conn));
                }
                let room = state.open < self.size;
                if room {
                    state.open += 1;
                }
                room
            };
            if may_open {
                return match self.options.connect().await {
                    Ok(conn) => Ok(self.loan(conn)),
                    Err(e) => {
                        self.state().open -= 1;
                        self.returned.notify_one();
                        Err(e)
                    }
                };
            }
            returned.await;
        }
    }

    fn loan(self: &Arc<Self>, conn: C) -> Loan<C> {
        Loan { conn: Some(conn), home: self.clone(), clean: false }
    }

    /// Closes the idle connections; lent ones close when they come back.
    pub fn close(&self) {
        let idle = {
            let mut state = self.state();
            let idle = std::mem::take(&mut state.idle);
            state.open -= idle.len();
            idle
        };
        drop(idle);
    }

    fn take_back(&self, conn: C, clean: bool) {
        let mut state = self.state();
        if clean {
            state.idle.push(conn);
        } else {
            state.open -= 1;
            drop(conn);
        }
        drop(state);
        self.returned.notify_one();
    }
}

/// A lent connection: back to its pool when dropped, kept only when its work ended cleanly.
pub struct Loan<C: Connection> {
    conn: Option<C>,
    home: Arc<Conns<C>>,
    clean: bool,
}

impl<C: Connection> Loan<C> {
    pub fn conn(&mut self) -> &mut C {
        self.conn.as_mut().expect("a loan holds its connection until dropped")
    }

    /// Marks the work on the connection as ended by `outcome`: an answer, the server's refusal
    /// or essh's before anything was sent leaves it fit to lend again; a broken conversation
    /// does not.
    pub fn ended<T, E: std::borrow::Borrow<sqlx::Error>>(&mut self, outcome: &Result<T, E>) {
        self.clean = match outcome {
            Ok(_) => true,
            Err(e) => matches!(e.borrow(), sqlx::Error::Database(_) | sqlx::Error::InvalidArgument(_)),
        };
    }

    /// Marks the work on the connection as done: it is fit to lend again.
    pub fn keep(&mut self) {
        self.clean = true;
    }
}

impl<C: Connection> Drop for Loan<C> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            self.home.take_back(conn, self.clean);
        }
    }
}
