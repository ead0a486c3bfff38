//! The forwards a host's configuration asks for: LocalForward (listeners here, carried to the
//! server's side), RemoteForward (the server listens, its connections come back to a target
//! here), and agent forwarding's channels.

use std::sync::{Arc, Mutex, Weak};

use russh::client::Msg;
use russh::Channel;
use tokio::net::TcpListener;

use super::session::{session_error, Connection, Target};
use crate::error::{Error, Kind, Result};

/// A LocalForward listener; dropped, it stops.
pub struct Listener(tokio::task::JoinHandle<()>);

impl Drop for Listener {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A RemoteForward the server listens for.
#[derive(Clone, Debug)]
pub struct Remote {
    pub address: String,
    pub port: u32,
    pub target: (String, u16),
}

/// One side of a forward as the config reader writes it: `port`, `[host]:port` or a path.
#[derive(Clone, Debug, PartialEq)]
pub enum Endpoint {
    Tcp(Option<String>, u16),
    Path(String),
}

pub fn endpoint(text: &str) -> Endpoint {
    if text.contains('/') {
        return Endpoint::Path(text.to_owned());
    }
    match text.strip_prefix('[').and_then(|t| t.split_once("]:")) {
        Some((host, port)) => Endpoint::Tcp(Some(host.to_owned()).filter(|h| !h.is_empty()), port.parse().unwrap_or(0)),
        None => Endpoint::Tcp(None, text.parse().unwrap_or(0)),
    }
}

fn failure(conn: &Connection, target: &Target, message: String) -> Result<()> {
    if target.exit_on_forward_failure {
        return Err(Error::new(Kind::Network, message).with("host", conn.label.clone()));
    }
    conn.notices.lock().unwrap_or_else(|p| p.into_inner()).push(message);
    Ok(())
}

/// Sets up the LocalForwards and RemoteForwards of `target` on `conn`.
pub async fn start(conn: &Arc<Connection>, target: &Target) -> Result<()> {
    for spec in &target.local_forwards {
        let (listen, to) = spec.split_once(' ').unwrap_or((spec, ""));
        let (Endpoint::Tcp(bind, port), Endpoint::Tcp(Some(host), to_port)) = (endpoint(listen), endpoint(to)) else {
            failure(conn, target, format!("LocalForward {spec}: the native client forwards TCP ports only"))?;
            continue;
        };
        let bind = bind.unwrap_or_else(|| "127.0.0.1".into());
        let bind = if bind == "*" { "0.0.0.0".to_owned() } else { bind };
        match TcpListener::bind((bind.as_str(), port)).await {
            Ok(listener) => {
                let task = tokio::spawn(serve(listener, Arc::downgrade(conn), host, to_port));
                conn.forwards.lock().unwrap_or_else(|p| p.into_inner()).push(Listener(task));
            }
            Err(e) => failure(conn, target, format!("LocalForward {spec}: cannot listen on {bind}:{port}: {e}"))?,
        }
    }
    for spec in &target.remote_forwards {
        let (listen, to) = spec.split_once(' ').unwrap_or((spec, ""));
        let (Endpoint::Tcp(address, port), Endpoint::Tcp(Some(host), to_port)) = (endpoint(listen), endpoint(to)) else {
            failure(conn, target, format!("RemoteForward {spec}: the native client forwards TCP ports to a host and port only"))?;
            continue;
        };
        let address = address.unwrap_or_else(|| "localhost".into());
        match conn.handle.tcpip_forward(address.clone(), port as u32).await {
            Ok(allocated) => {
                let port = if port == 0 { allocated } else { port as u32 };
                conn.remote_forwards.lock().unwrap_or_else(|p| p.into_inner()).push(Remote {
                    address,
                    port,
                    target: (host, to_port),
                });
            }
            Err(e) => failure(
                conn,
                target,
                format!("RemoteForward {spec}: the server refused it ({})", session_error(&conn.label, e).message),
            )?,
        }
    }
    Ok(())
}

/// Carries each connection `listener` accepts to `host:port` as the server sees them
/// (direct-tcpip channels), while the connection lives.
pub async fn serve(listener: TcpListener, conn: Weak<Connection>, host: String, port: u16) {
    let mut tunnels = tokio::task::JoinSet::new();
    while let Ok((mut socket, peer)) = listener.accept().await {
        let Some(conn) = conn.upgrade() else { return };
        let host = host.clone();
        tunnels.spawn(async move {
            let channel = conn
                .handle
                .channel_open_direct_tcpip(host, port as u32, peer.ip().to_string(), peer.port() as u32)
                .await;
            drop(conn);
            if let Ok(channel) = channel {
                let mut stream = channel.into_stream();
                let _ = tokio::io::copy_bidirectional(&mut socket, &mut stream).await;
            }
        });
        while tunnels.try_join_next().is_some() {}
    }
}

/// Where a forwarded-tcpip channel for `address:port` goes, if a RemoteForward asked for it.
pub fn remote_target(forwards: &Mutex<Vec<Remote>>, _address: &str, port: u32) -> Option<(String, u16)> {
    let forwards = forwards.lock().unwrap_or_else(|p| p.into_inner());
    forwards.iter().find(|r| r.port == port).map(|r| r.target.clone())
}

/// Carries a channel the server opened to `target` here.
pub async fn carry_to(channel: Channel<Msg>, target: (String, u16)) {
    if let Ok(mut socket) = tokio::net::TcpStream::connect((target.0.as_str(), target.1)).await {
        let mut stream = channel.into_stream();
        let _ = tokio::io::copy_bidirectional(&mut socket, &mut stream).await;
    }
}

/// Carries a forwarded agent channel to the local agent's socket.
pub async fn carry_to_agent(channel: Channel<Msg>, socket: String) {
    if let Ok(mut agent) = tokio::net::UnixStream::connect(&socket).await {
        let mut stream = channel.into_stream();
        let _ = tokio::io::copy_bidirectional(&mut agent, &mut stream).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints() {
        assert_eq!(endpoint("8080"), Endpoint::Tcp(None, 8080));
        assert_eq!(endpoint("[::1]:22"), Endpoint::Tcp(Some("::1".into()), 22));
        assert_eq!(endpoint("[]:22"), Endpoint::Tcp(None, 22));
        assert_eq!(endpoint("/run/sock"), Endpoint::Path("/run/sock".into()));
    }
}
