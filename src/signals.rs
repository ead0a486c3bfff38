//! Signals caught only for a span (a wait, an interactive session): a handler of ours that
//! writes to a self-pipe the async side waits on, and the process's previous handler put back
//! when the span ends.

use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::sync::OnceLock;

use tokio::io::unix::AsyncFd;

/// A process-wide pipe that signal handlers write to; made on first use, never closed.
#[derive(Default)]
pub struct SelfPipe(OnceLock<(RawFd, RawFd)>);

impl SelfPipe {
    pub const fn new() -> Self {
        SelfPipe(OnceLock::new())
    }

    /// The read and write ends.
    pub fn fds(&self) -> Option<(RawFd, RawFd)> {
        if let Some(fds) = self.0.get() {
            return Some(*fds);
        }
        let mut fds = [0 as RawFd; 2];
        // SAFETY: fds has room for the two descriptors pipe2 writes.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) } != 0 {
            return None;
        }
        Some(*self.0.get_or_init(|| (fds[0], fds[1])))
    }

    /// Writes `byte`; async-signal-safe, and a no-op before the pipe exists.
    pub fn wake(&self, byte: u8) {
        if let Some(&(_, write_end)) = self.0.get() {
            // SAFETY: write(2) is async-signal-safe; a full pipe already holds a wake-up.
            unsafe { libc::write(write_end, (&byte as *const u8).cast(), 1) };
        }
    }

    /// A descriptor of our own for the read end, registered for async waits.
    pub fn reader(&self) -> std::io::Result<AsyncFd<OwnedFd>> {
        let (read_end, _) = self.fds().ok_or_else(std::io::Error::last_os_error)?;
        // SAFETY: dup returns a new descriptor that we own from here on.
        let fd = unsafe { libc::fcntl(read_end, libc::F_DUPFD_CLOEXEC, 0) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: the descriptor is fresh, owned by the AsyncFd and closed when it is dropped.
        unsafe { AsyncFd::register(OwnedFd::from_raw_fd(fd)) }.map_err(std::io::Error::from)
    }
}

/// `handler` catches `signal` until this is dropped; then the previous action is back.
pub struct Handler {
    signal: libc::c_int,
    old: libc::sigaction,
}

impl Handler {
    /// None when the action cannot be set.
    pub fn install(signal: libc::c_int, handler: extern "C" fn(libc::c_int)) -> Option<Handler> {
        // SAFETY: plain sigaction(2) calls with zeroed, then filled, structures; the handlers
        // given here only do async-signal-safe work.
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = handler as *const () as usize;
            action.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut action.sa_mask);
            let mut old: libc::sigaction = std::mem::zeroed();
            (libc::sigaction(signal, &action, &mut old) == 0).then_some(Handler { signal, old })
        }
    }
}

impl Drop for Handler {
    fn drop(&mut self) {
        // SAFETY: restores the action saved by install.
        unsafe { libc::sigaction(self.signal, &self.old, std::ptr::null_mut()) };
    }
}
