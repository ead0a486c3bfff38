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

/// A running tunnel; closing or collecting it stops the listener and its connections. It keeps
/// its connection open while it lives.
pub struct Forward {
    port: u16,
    task: Mutex<Option<(tokio::task::JoinHandle<()>, Arc<Connection>)>>,
}

impl Forward {
    fn stop(&self) {
        if let Some((task, _connection)) = self.task.lock().unwrap_or_else(|p| p.into_inner()).take() {
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
                    let task = tokio::spawn(super::forwarding::serve(listener, Arc::downgrade(&conn), host, port));
                    deliver(move |lua| lua.create_userdata(Forward { port: bound, task: Mutex::new(Some((task, conn))) }))
                })
            },
        )?,
    )
}
