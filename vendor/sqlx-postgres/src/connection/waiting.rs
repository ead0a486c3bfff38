//! essh: a prepared statement executed without a runtime. The caller waits for the socket
//! itself (poll(2) on its descriptor), so a statement costs no future, no stream and no turn
//! of an executor: the async path ([`super::executor`]) stays for everything else.

use crate::error::Error;
use crate::io::{PortalId, StatementId};
use crate::message::{self, BackendMessageFormat, Bind, Close, CommandComplete};
use crate::net::Waiter;
use sqlx_core::arguments::Arguments;

use crate::{PgArguments, PgConnection, PgQueryResult, PgTypeInfo, PgValueFormat};

/// A statement the connection has prepared, as [`PgConnection::prepared`] finds it.
#[derive(Debug, Clone, Copy)]
pub struct PgPrepared(StatementId);

impl PgConnection {
    /// `sql`'s prepared statement and the types of the parameters it takes, when the
    /// connection's statement cache holds it.
    pub fn prepared(&mut self, sql: &str) -> Option<(PgPrepared, &[PgTypeInfo])> {
        self.inner
            .cache_statement
            .get_mut(sql)
            .map(|(id, metadata)| (PgPrepared(*id), &metadata.parameters[..]))
    }

    /// Executes `statement` (from [`Self::prepared`]) with `arguments`, waiting for the socket
    /// with `wait`; the statement's result as `execute` gives it (rows affected summed over
    /// its commands; rows read and dropped).
    ///
    /// `Ok(None)`, with nothing sent, when this path does not apply: a TLS connection (its
    /// descriptor's readiness is not its bytes'), a connection that hands notifications to a
    /// listener, work of the connection still in flight, or arguments whose types are still
    /// to be looked up. A database error is read to the end of its reply, so the connection
    /// stays usable; an error of `wait` comes back as an I/O error and leaves the reply half
    /// read, for the async path's next wait to finish reading.
    pub fn execute_waiting(
        &mut self,
        statement: PgPrepared,
        arguments: &PgArguments,
        wait: &mut Waiter<'_>,
    ) -> Result<Option<PgQueryResult>, Error> {
        let stream = &self.inner.stream;
        if self.inner.pending_ready_for_query_count > 0
            || stream.notifications.is_some()
            || !stream.write_buffer().is_empty()
            || stream.raw_fd().is_none()
            || !arguments.buffer.resolved()
        {
            return Ok(None);
        }
        let Ok(num_params) = u16::try_from(Arguments::len(arguments)) else {
            return Ok(None);
        };

        let stream = &mut self.inner.stream;
        stream.write_msg(Bind {
            portal: PortalId::UNNAMED,
            statement: statement.0,
            formats: &[PgValueFormat::Binary],
            num_params,
            params: &arguments.buffer,
            result_formats: &[PgValueFormat::Binary],
        })?;
        stream.write_msg(message::Execute {
            portal: PortalId::UNNAMED,
            limit: 0,
        })?;
        stream.write_msg(Close::Portal(PortalId::UNNAMED))?;
        self.write_sync();
        let stream = &mut self.inner.stream;
        stream.flush_waiting(wait)?;
        // No reply can have come yet: waiting first saves a read that would find nothing.
        stream.wait_readable(wait)?;

        let mut done = PgQueryResult { rows_affected: 0 };
        let mut failed = None;
        loop {
            let message = match self.inner.stream.recv_waiting(wait) {
                Ok(message) => message,
                // The server skips to the Sync, whose ReadyForQuery follows.
                Err(e @ Error::Database(_)) if failed.is_none() => {
                    failed = Some(e);
                    continue;
                }
                Err(e) => return Err(e),
            };
            match message.format {
                BackendMessageFormat::BindComplete
                | BackendMessageFormat::ParseComplete
                | BackendMessageFormat::ParameterDescription
                | BackendMessageFormat::NoData
                | BackendMessageFormat::CloseComplete
                | BackendMessageFormat::DataRow
                | BackendMessageFormat::EmptyQueryResponse
                | BackendMessageFormat::PortalSuspended => {}
                BackendMessageFormat::CommandComplete => {
                    let complete: CommandComplete = message.decode()?;
                    done.rows_affected += complete.rows_affected();
                }
                BackendMessageFormat::ReadyForQuery => {
                    self.handle_ready_for_query(message)?;
                    return match failed {
                        Some(e) => Err(e),
                        None => Ok(Some(done)),
                    };
                }
                format => {
                    return Err(err_protocol!("execute: unexpected message: {:?}", format));
                }
            }
        }
    }
}
