//! essh: a prepared statement executed without a runtime. The caller waits for the socket
//! itself (poll(2) on its descriptor), so a statement costs no future, no stream and no turn
//! of an executor: the async path ([`super::executor`]) stays for everything else.

use bytes::{Buf, Bytes, BytesMut};

use super::stream::Waiting;
use super::{MySqlConnection, MySqlStream};
use crate::error::Error;
use crate::io::{MySqlBufExt, ProtocolDecode};
use crate::net::Waiter;
use crate::protocol::response::{ErrPacket, Status};
use crate::protocol::statement::Execute as StatementExecute;
use crate::protocol::{Capabilities, Packet};
use crate::{MySqlArguments, MySqlDatabaseError, MySqlQueryResult};

impl MySqlConnection {
    /// The id of `sql`'s prepared statement and the number of parameters the server counted
    /// in it, when the connection's statement cache holds it.
    pub fn prepared(&mut self, sql: &str) -> Option<(u32, usize)> {
        self.inner.cache_statement.get_mut(sql).map(|(id, metadata)| (*id, metadata.parameters))
    }

    /// Executes the prepared statement `id` (from [`Self::prepared`]) with `arguments`, waiting
    /// for the socket with `wait`; the statement's results as `execute`
    /// gives them (rows affected summed, the last result's insert id; rows read and dropped).
    ///
    /// `Ok(None)`, with nothing sent, when this path does not apply: a TLS connection (its
    /// descriptor's readiness is not its bytes'), or work of the connection still in flight. An error of `wait` comes back as an I/O error and leaves a
    /// reply half read: the connection is then good only for closing.
    pub fn execute_waiting(
        &mut self,
        id: u32,
        arguments: &MySqlArguments,
        wait: &mut Waiter<'_>,
    ) -> Result<Option<MySqlQueryResult>, Error> {
        let stream = &self.inner.stream;
        if stream.is_tls
            || !stream.waiting.is_empty()
            || !stream.write_buffer().is_empty()
            || stream.socket.raw_fd().is_none()
        {
            return Ok(None);
        }

        let stream = &mut self.inner.stream;
        stream.waiting.push_back(Waiting::Result);
        stream.sequence_id = 0;
        stream.write_packet(StatementExecute {
            statement: id,
            arguments,
        })?;
        stream.socket.flush_waiting(wait)?;
        // No reply can have come yet: waiting first saves a read that would find nothing.
        stream.socket.wait_readable(wait)?;

        let mut done = MySqlQueryResult::default();
        loop {
            let mut packet = self.inner.stream.recv_packet_waiting(wait)?;
            if packet[0] == 0x00 || packet[0] == 0xff {
                let ok = packet.ok()?;
                self.inner.status_flags = ok.status;
                done.rows_affected += ok.affected_rows;
                done.last_insert_id = ok.last_insert_id;
                if ok.status.contains(Status::SERVER_MORE_RESULTS_EXISTS) {
                    continue;
                }
                self.inner.stream.waiting.pop_front();
                return Ok(Some(done));
            }

            // A result set: its column definitions, then rows up to its EOF.
            let stream = &mut self.inner.stream;
            *stream.waiting.front_mut().unwrap() = Waiting::Row;
            let columns = packet.get_uint_lenenc();
            for _ in 0..columns {
                stream.recv_packet_waiting(wait)?;
            }
            if !stream.capabilities.contains(Capabilities::DEPRECATE_EOF) {
                stream.recv_packet_waiting(wait)?;
            }
            loop {
                let packet = stream.recv_packet_waiting(wait)?;
                if packet[0] == 0xfe && packet.len() < 9 {
                    let eof = packet.eof(stream.capabilities)?;
                    self.inner.status_flags = eof.status;
                    done.last_insert_id = 0;
                    if eof.status.contains(Status::SERVER_MORE_RESULTS_EXISTS) {
                        *self.inner.stream.waiting.front_mut().unwrap() = Waiting::Result;
                        break;
                    }
                    self.inner.stream.waiting.pop_front();
                    return Ok(Some(done));
                }
            }
        }
    }
}

impl MySqlStream {
    /// `recv_packet` without a runtime.
    fn recv_packet_waiting(&mut self, wait: &mut Waiter<'_>) -> Result<Packet<Bytes>, Error> {
        let payload = self.recv_packet_part_waiting(wait)?;
        let payload = if payload.len() < 0xFF_FF_FF {
            payload
        } else {
            let mut whole = BytesMut::with_capacity(0xFF_FF_FF * 2);
            whole.extend_from_slice(&payload);
            drop(payload);
            let mut last_read = 0xFF_FF_FF;
            while last_read == 0xFF_FF_FF {
                let part = self.recv_packet_part_waiting(wait)?;
                last_read = part.len();
                whole.extend_from_slice(&part);
            }
            whole.freeze()
        };

        if *payload.first().ok_or(err_protocol!("Packet empty"))? == 0xff {
            self.waiting.pop_front();
            return Err(MySqlDatabaseError(ErrPacket::decode_with(payload, self.capabilities)?).into());
        }
        Ok(Packet(payload))
    }

    fn recv_packet_part_waiting(&mut self, wait: &mut Waiter<'_>) -> Result<Bytes, Error> {
        let mut header = self.socket.read_buffered_waiting(4, wait)?.freeze();
        // cannot overflow: three bytes
        #[allow(clippy::cast_possible_truncation)]
        let packet_size = header.get_uint_le(3) as usize;
        self.sequence_id = header.get_u8().wrapping_add(1);
        Ok(self.socket.read_buffered_waiting(packet_size, wait)?.freeze())
    }
}
