//! Disconnects finish in the background: `close` returns once the goodbye is sent, without
//! waiting a round trip for the server to hang up. The program's exit waits (at most 2 s) for
//! the goodbyes still under way, so that an exit right after a close does not cut one off.

use std::sync::{Condvar, Mutex, Once};
use std::time::{Duration, Instant};

static PENDING: Mutex<usize> = Mutex::new(0);
static DONE: Condvar = Condvar::new();
static AT_EXIT: Once = Once::new();

const EXIT_WAIT: Duration = Duration::from_secs(2);

/// One goodbye under way; dropped (finished, or aborted with the runtime), it is done.
pub struct Pending(());

impl Pending {
    pub fn start() -> Pending {
        AT_EXIT.call_once(|| {
            // SAFETY: wait_at_exit is a plain extern "C" function with no arguments.
            unsafe { libc::atexit(wait_at_exit) };
        });
        *PENDING.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        Pending(())
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        let mut pending = PENDING.lock().unwrap_or_else(|p| p.into_inner());
        *pending = pending.saturating_sub(1);
        DONE.notify_all();
    }
}

extern "C" fn wait_at_exit() {
    let deadline = Instant::now() + EXIT_WAIT;
    let mut pending = PENDING.lock().unwrap_or_else(|p| p.into_inner());
    while *pending > 0 {
        let now = Instant::now();
        if now >= deadline {
            return;
        }
        pending = match DONE.wait_timeout(pending, deadline - now) {
            Ok((guard, _)) => guard,
            Err(poisoned) => poisoned.into_inner().0,
        };
    }
}
