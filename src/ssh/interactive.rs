//! Interactive sessions, as `ssh HOST [CMD]` gives them: the local terminal joined to a remote
//! shell or command through a PTY of the local TERM and size, raw mode restored on every way
//! out, window-size changes forwarded, the remote exit status returned.

use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::Arc;

use russh::ChannelMsg;
use tokio::io::unix::AsyncFd;

use super::session::{session_error, Connection};
use crate::error::{Error, Kind, Result};
use crate::signals::{Handler, SelfPipe};

pub struct Options {
    pub command: Option<String>,
    pub env: Vec<(String, String)>,
    /// A PTY when the local stdin is a terminal (`ssh -t`'s default); false never asks for one.
    pub tty: bool,
    pub term: String,
}

/// How the remote side ended: its exit status, or the signal that killed it.
pub struct Ended {
    pub exit_status: Option<u32>,
    pub signal: Option<String>,
}

fn is_terminal(fd: RawFd) -> bool {
    // SAFETY: isatty only inspects the descriptor.
    unsafe { libc::isatty(fd) == 1 }
}

/// Columns and rows of the local terminal.
fn window_size() -> Option<(u32, u32)> {
    for fd in [1, 0, 2] {
        // SAFETY: winsize is plain data that TIOCGWINSZ fills in.
        let mut size: libc::winsize = unsafe { std::mem::zeroed() };
        // SAFETY: a valid pointer to a winsize for the duration of the call.
        if unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut size) } == 0 && size.ws_col > 0 {
            return Some((size.ws_col as u32, size.ws_row as u32));
        }
    }
    None
}

/// The local terminal in raw mode, restored when dropped: on return, error, cancel or panic.
struct RawMode {
    saved: libc::termios,
}

impl RawMode {
    fn enter() -> std::io::Result<RawMode> {
        // SAFETY: termios is plain data that tcgetattr fills in.
        let mut saved: libc::termios = unsafe { std::mem::zeroed() };
        // SAFETY: fd 0 and a valid termios pointer.
        if unsafe { libc::tcgetattr(0, &mut saved) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let mut raw = saved;
        // SAFETY: cfmakeraw edits the copy in place.
        unsafe { libc::cfmakeraw(&mut raw) };
        // SAFETY: fd 0 and a valid termios pointer.
        if unsafe { libc::tcsetattr(0, libc::TCSADRAIN, &raw) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(RawMode { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        // SAFETY: restores the attributes read in enter().
        unsafe { libc::tcsetattr(0, libc::TCSADRAIN, &self.saved) };
    }
}

/// The local stdin, non-blocking for as long as it is read here (its flags restored after).
struct Stdin {
    fd: AsyncFd<OwnedFd>,
    flags: libc::c_int,
}

impl Stdin {
    /// None when stdin cannot be polled (a regular file): it is then read on a blocking thread.
    fn open() -> Option<Stdin> {
        // SAFETY: F_GETFL/F_SETFL on fd 0 change only its status flags, restored on drop.
        let flags = unsafe { libc::fcntl(0, libc::F_GETFL) };
        if flags < 0 || unsafe { libc::fcntl(0, libc::F_SETFL, flags | libc::O_NONBLOCK) } != 0 {
            return None;
        }
        // SAFETY: a duplicate of fd 0 (sharing its flags), owned by the AsyncFd from here on.
        let dup = unsafe { libc::fcntl(0, libc::F_DUPFD_CLOEXEC, 0) };
        // SAFETY: dup is checked, and a fresh descriptor nobody else owns.
        let registered = (dup >= 0).then(|| unsafe { AsyncFd::register(OwnedFd::from_raw_fd(dup)) });
        match registered {
            Some(Ok(fd)) => Some(Stdin { fd, flags }),
            _ => {
                // SAFETY: as above.
                unsafe { libc::fcntl(0, libc::F_SETFL, flags) };
                None
            }
        }
    }

    async fn read(&self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let mut ready = self.fd.readable().await?;
            // SAFETY: reading into a buffer we own from a descriptor we own.
            let n = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n >= 0 {
                return Ok(n as usize);
            }
            let err = std::io::Error::last_os_error();
            if err.kind() != std::io::ErrorKind::WouldBlock {
                return Err(err);
            }
            ready.clear_ready();
        }
    }
}

impl Drop for Stdin {
    fn drop(&mut self) {
        // SAFETY: puts back the flags read in open().
        unsafe { libc::fcntl(0, libc::F_SETFL, self.flags) };
    }
}

// SIGWINCH, SIGTERM and SIGHUP while a session is interactive: a handler of ours writes the
// signal's number to a pipe; before and after, the process's own handlers are in place.
static SIGNAL_PIPE: SelfPipe = SelfPipe::new();

extern "C" fn on_signal(signal: libc::c_int) {
    SIGNAL_PIPE.wake(signal as u8);
}

struct Signals {
    pipe: AsyncFd<OwnedFd>,
    _handlers: Vec<Handler>,
}

impl Signals {
    fn install() -> std::io::Result<Signals> {
        let pipe = SIGNAL_PIPE.reader()?;
        let handlers =
            [libc::SIGWINCH, libc::SIGTERM, libc::SIGHUP].into_iter().filter_map(|s| Handler::install(s, on_signal));
        Ok(Signals { pipe, _handlers: handlers.collect() })
    }

    /// The next signal that arrived.
    async fn next(&self) -> libc::c_int {
        loop {
            let Ok(mut ready) = self.pipe.readable().await else { return std::future::pending().await };
            let mut byte = 0u8;
            // SAFETY: reading one byte into a local from a descriptor we own.
            if unsafe { libc::read(self.pipe.as_raw_fd(), (&mut byte as *mut u8).cast(), 1) } == 1 {
                return byte as libc::c_int;
            }
            ready.clear_ready();
        }
    }
}

fn write_all(mut out: impl Write, data: &[u8]) {
    let _ = out.write_all(data).and_then(|_| out.flush());
}

/// The local input: polled when the descriptor allows it, else read on a blocking thread
/// (a regular file, which never blocks for long).
enum Input {
    Polled(Stdin),
    Thread(tokio::sync::mpsc::Receiver<Vec<u8>>),
}

impl Input {
    fn open() -> Input {
        if let Some(stdin) = Stdin::open() {
            return Input::Polled(stdin);
        }
        let (tx, rx) = tokio::sync::mpsc::channel::<Vec<u8>>(4);
        tokio::task::spawn_blocking(move || {
            let mut buf = vec![0u8; 32 * 1024];
            loop {
                // SAFETY: a blocking read of fd 0 into a buffer we own.
                let n = unsafe { libc::read(0, buf.as_mut_ptr().cast(), buf.len()) };
                if n <= 0 || tx.blocking_send(buf[..n as usize].to_vec()).is_err() {
                    break;
                }
            }
        });
        Input::Thread(rx)
    }

    /// The next bytes; empty at the end.
    async fn read(&mut self, buf: &mut [u8]) -> Vec<u8> {
        match self {
            Input::Polled(stdin) => stdin.read(buf).await.map(|n| buf[..n].to_vec()).unwrap_or_default(),
            Input::Thread(rx) => rx.recv().await.unwrap_or_default(),
        }
    }
}

/// Runs a shell (or `options.command`) on the host, joined to the local terminal.
pub async fn run(conn: Arc<Connection>, options: Options) -> Result<Ended> {
    let label = conn.label.clone();
    let fail = |e: russh::Error| session_error(&label, e);
    let pty = options.tty && is_terminal(0);
    let channel = conn.handle.channel_open_session().await.map_err(fail)?;
    conn.setup.apply(&channel, &options.env).await.map_err(fail)?;
    let pty = match conn.setup.request_tty {
        Some(super::session::RequestTty::Never) => false,
        Some(super::session::RequestTty::Force) => true,
        _ => pty,
    };
    if pty {
        let (cols, rows) = window_size().unwrap_or((80, 24));
        channel.request_pty(false, &options.term, cols, rows, 0, 0, &[]).await.map_err(fail)?;
    }
    match &options.command {
        Some(command) => channel.exec(true, command.as_bytes()).await.map_err(fail)?,
        None => channel.request_shell(true).await.map_err(fail)?,
    }
    let signals = Signals::install().map_err(|e| Error::from_io(&e, "watch signals for", &label))?;
    // A PTY forced (RequestTTY force, ssh -t -t) without a local terminal: no raw mode to set,
    // as ssh goes on quietly then.
    let _raw = if pty && is_terminal(0) {
        Some(RawMode::enter().map_err(|e| Error::from_io(&e, "set raw mode on", "the terminal"))?)
    } else {
        None
    };
    let (mut reader, writer) = channel.split();
    let writer = Arc::new(writer);
    let tracked = conn.track(writer.clone());

    let mut input = Input::open();
    let mut stdin_open = true;
    let mut buf = vec![0u8; 32 * 1024];
    let mut ended = Ended { exit_status: None, signal: None };
    let mut terminated = None;
    loop {
        tokio::select! {
            msg = reader.wait() => match msg {
                Some(ChannelMsg::Data { data }) => write_all(std::io::stdout(), &data),
                Some(ChannelMsg::ExtendedData { data, .. }) => write_all(std::io::stderr(), &data),
                Some(ChannelMsg::ExitStatus { exit_status }) => ended.exit_status = Some(exit_status),
                Some(ChannelMsg::ExitSignal { signal_name, .. }) => {
                    ended.signal = Some(super::session::signal_name_text(&signal_name))
                }
                Some(ChannelMsg::Close) | None => break,
                Some(_) => {}
            },
            data = input.read(&mut buf), if stdin_open => {
                if data.is_empty() {
                    stdin_open = false;
                    let _ = writer.eof().await;
                } else {
                    writer.data_bytes(data).await.map_err(fail)?;
                }
            },
            signal = signals.next() => {
                if signal == libc::SIGWINCH {
                    if let Some((cols, rows)) = window_size() {
                        let _ = writer.window_change(cols, rows, 0, 0).await;
                    }
                } else {
                    terminated = Some(signal);
                    break;
                }
            }
        }
    }
    if let Some(signal) = terminated {
        drop(tracked); // stops the remote side
        let name = if signal == libc::SIGTERM { "SIGTERM" } else { "SIGHUP" };
        return Err(Error::new(Kind::Interrupted, format!("the session to {label} ended by {name}")));
    }
    tracked.finished();
    Ok(ended)
}
