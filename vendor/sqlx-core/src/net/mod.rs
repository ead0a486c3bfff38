mod socket;
pub mod tls;

#[cfg(unix)]
pub use socket::Waiter;
pub use socket::{
    connect_tcp, connect_uds, BufferedSocket, Socket, SocketIntoBox, WithSocket, WriteBuffer,
};
