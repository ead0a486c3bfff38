//! question: asks the person at the terminal: a line of text, or a secret read without echo.
//!
//! Both read the controlling terminal (`/dev/tty`), whatever stdin and stdout are, and come
//! back on Ctrl-C with an `interrupted` error, the terminal's modes restored on every way out.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};

use mlua::{Lua, Result, Table};

use crate::bridge::{export, Class, ModuleDef};
use crate::error::{self, Error, Kind};
use crate::func;
use crate::signals::{Handler, SelfPipe};

pub static DEFINITION: ModuleDef = ModuleDef {
    name: "question",
    description: "Questions to the person at the terminal: a line, or a secret read without echo",
    classes: &[Class::Io],
    functions: &[
        func!("ask", "Writes prompt to the terminal and reads one line (without its newline); nil and an error without a terminal, or on Ctrl-C (interrupted).", [prompt: "string"], [answer: "string?", err: "essh.Error?"]),
        func!("secret", "Like ask, without showing what is typed (passwords).", [prompt: "string"], [answer: "string?", err: "essh.Error?"]),
    ],
    constants: &[],
    types: &[],
    build,
};

fn build(lua: &Lua, m: &Table) -> Result<()> {
    export(lua, m, "question.ask", |lua, prompt: String| error::pair(lua, ask(&prompt, true)))?;
    export(lua, m, "question.secret", |lua, prompt: String| error::pair(lua, ask(&prompt, false)))?;
    Ok(())
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);
static PIPE: SelfPipe = SelfPipe::new();

extern "C" fn on_sigint(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
    PIPE.wake(b'!');
}

/// The terminal's modes, restored when dropped.
struct Modes {
    fd: i32,
    saved: libc::termios,
}

impl Modes {
    /// The modes of `fd`, with echo turned off unless `echo` (the newline still shows).
    fn set(fd: i32, echo: bool) -> std::io::Result<Modes> {
        // SAFETY: termios is plain data that tcgetattr fills in; fd is open.
        let mut saved: libc::termios = unsafe { std::mem::zeroed() };
        if unsafe { libc::tcgetattr(fd, &mut saved) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let modes = Modes { fd, saved };
        if !echo {
            let mut quiet = saved;
            quiet.c_lflag &= !(libc::ECHO | libc::ECHOE | libc::ECHOK);
            quiet.c_lflag |= libc::ECHONL;
            // SAFETY: fd is open and quiet a valid termios.
            if unsafe { libc::tcsetattr(fd, libc::TCSAFLUSH, &quiet) } != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        Ok(modes)
    }
}

impl Drop for Modes {
    fn drop(&mut self) {
        // SAFETY: restores the modes read in set().
        unsafe { libc::tcsetattr(self.fd, libc::TCSAFLUSH, &self.saved) };
    }
}

fn io_error(err: std::io::Error, what: &str) -> Error {
    Error::new(Kind::Io, format!("cannot {what} the terminal: {err}"))
}

/// Writes `prompt` to the terminal and reads a line, echoed or not.
pub fn ask(prompt: &str, echo: bool) -> error::Result<String> {
    let path = CString::new("/dev/tty").map_err(|_| Error::new(Kind::Internal, "a NUL in a path"))?;
    // SAFETY: open(2) with a valid C string; the descriptor is owned from here on.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(Error::new(Kind::NotFound, "no terminal to ask on"));
    }
    // SAFETY: fd was just opened and nothing else owns it.
    let tty = unsafe { OwnedFd::from_raw_fd(fd) };
    let (pipe, _) = PIPE.fds().ok_or_else(|| Error::new(Kind::Internal, "cannot make a pipe for Ctrl-C"))?;
    let mut drain = [0u8; 64];
    // SAFETY: reading a non-blocking pipe of ours into a local buffer.
    while unsafe { libc::read(pipe, drain.as_mut_ptr().cast(), drain.len()) } > 0 {}
    INTERRUPTED.store(false, Ordering::SeqCst);
    let _handler = Handler::install(libc::SIGINT, on_sigint);
    let modes = Modes::set(tty.as_raw_fd(), echo).map_err(|e| io_error(e, "set up"))?;
    write_all(tty.as_raw_fd(), prompt.as_bytes()).map_err(|e| io_error(e, "write to"))?;
    let line = read_line(tty.as_raw_fd(), pipe);
    drop(modes);
    line
}

fn write_all(fd: i32, mut bytes: &[u8]) -> std::io::Result<()> {
    while !bytes.is_empty() {
        // SAFETY: writing from a live slice to an open descriptor.
        let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
        if n < 0 {
            let err = std::io::Error::last_os_error();
            if err.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(err);
        }
        bytes = &bytes[n as usize..];
    }
    Ok(())
}

/// Reads up to a newline from `tty`, or stops when the signal pipe wakes.
fn read_line(tty: i32, pipe: i32) -> error::Result<String> {
    let mut line = Vec::new();
    loop {
        let mut fds = [
            libc::pollfd { fd: tty, events: libc::POLLIN, revents: 0 },
            libc::pollfd { fd: pipe, events: libc::POLLIN, revents: 0 },
        ];
        // SAFETY: poll(2) on two valid pollfd structures.
        let ready = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
        if INTERRUPTED.load(Ordering::SeqCst) {
            return Err(Error::new(Kind::Interrupted, "interrupted"));
        }
        if ready < 0 {
            let err = std::io::Error::last_os_error();
            if err.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(io_error(err, "wait for"));
        }
        if fds[0].revents == 0 {
            continue;
        }
        let mut buf = [0u8; 256];
        // SAFETY: reading into a local buffer from an open descriptor.
        let n = unsafe { libc::read(tty, buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            let err = std::io::Error::last_os_error();
            if err.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(io_error(err, "read"));
        }
        if n == 0 {
            return Err(Error::new(Kind::Io, "the terminal closed before an answer came"));
        }
        let chunk = &buf[..n as usize];
        match chunk.iter().position(|&b| b == b'\n') {
            Some(end) => {
                line.extend_from_slice(&chunk[..end]);
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return String::from_utf8(line).map_err(|_| Error::invalid("the answer is not valid UTF-8"));
            }
            None => line.extend_from_slice(chunk),
        }
    }
}
