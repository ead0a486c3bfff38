//! Local TCP tunnels: `session:forward_local` listens on loopback and carries each
//! connection to a host and port as the server sees them (direct-tcpip channels).

use std::sync::{Arc, Mutex};

use mlua::{Lua, Result, Table, UserData, UserDataRef};
use tokio::net::TcpListener;

use super::session::{session_error, Connection};
use super::Session;
use crate::error::Error;
use crate::bridge;
use crate::runtime::deliver;

/// A running tunnel; closing or collecting it stops the listener and its connections.
pub struct Forward {
    port: u16,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Forward {
    fn stop(&self) {
        if let Some(task) = self.task.lock().unwrap_or_else(|p| p.into_inner()).take() {
            task.abort();
        }
    }
}

impl Drop for Forward {
    fn drop(&mut self) {
        self.stop();
    }
}

impl UserData for Forward {
    fn add_fields<F: mlua::UserDataFields<Self>>(fields: &mut F) {
        fields.add_field_method_get("port", |_, f| Ok(f.port));
        fields.add_meta_field_with("__index", method_index);
    }

    fn add_methods<M: mlua::UserDataMethods<Self>>(methods: &mut M) {
        methods
            .add_meta_method(mlua::MetaMethod::ToString, |_, f, ()| Ok(format!("ssh.Forward (127.0.0.1:{})", f.port)));
    }
}

async fn serve(listener: TcpListener, conn: Arc<Connection>, host: String, port: u16) {
    let mut tunnels = tokio::task::JoinSet::new();
    while let Ok((mut socket, peer)) = listener.accept().await {
        let (conn, host) = (conn.clone(), host.clone());
        tunnels.spawn(async move {
            let channel = conn
                .handle
                .channel_open_direct_tcpip(host, port as u32, peer.ip().to_string(), peer.port() as u32)
                .await;
            if let Ok(channel) = channel {
                let mut stream = channel.into_stream();
                let _ = tokio::io::copy_bidirectional(&mut socket, &mut stream).await;
            }
        });
        while tunnels.try_join_next().is_some() {}
    }
}

/// The methods of ssh.Forward.
pub fn method_index(lua: &Lua) -> Result<Table> {
    bridge::method_table(lua, "essh_native.ssh.Forward", |lua, m| {
        bridge::export(lua, m, "forward:close", |_, f: UserDataRef<Forward>| {
            f.stop();
            Ok(())
        })
    })
}

pub fn add_methods(lua: &Lua, m: &Table) -> Result<()> {
    m.raw_set(
        "forward_local",
        crate::runtime::waiting(
            lua,
            "session:forward_local",
            |_, (s, local_port, host, port): (UserDataRef<Session>, u16, String, u16)| {
                let conn = s.connection()?;
                Ok(async move {
                    let listener = TcpListener::bind(("127.0.0.1", local_port))
                        .await
                        .map_err(|e| Error::from_io(&e, "listen on", &format!("127.0.0.1:{local_port}")))?;
                    let bound = listener.local_addr().map_err(|e| session_error(&conn.label, e.into()))?.port();
                    let task = tokio::spawn(serve(listener, conn, host, port));
                    deliver(move |lua| lua.create_userdata(Forward { port: bound, task: Mutex::new(Some(task)) }))
                })
            },
        )?,
    )
}
