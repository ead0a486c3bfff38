//! runtime: the tokio runtime each Lua state owns, the pending operations that waiting
//! primitives return, and the scheduler that runs many Lua coroutines over them.
//!
//! A waiting primitive (ssh, sleep, ...), made with [`waiting`], spawns its work on the runtime
//! and hands the trampoline an [`Op`]. The scheduler of `src/lua/scheduler.lua` then either
//! blocks on it (plain code) or yields it (inside a task) and resumes the task when the
//! operation completes. Lua values are
//! only ever made on the Lua thread: an operation's result is a [`Deliver`] closure that turns
//! plain Rust data into Lua values once the Lua side takes it.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use mlua::{IntoLuaMulti, Lua, MultiValue, Result, Table, UserData, UserDataMethods, Value};
use tokio::io::unix::AsyncFd;

use crate::signals::{Handler, SelfPipe};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver, UnboundedSender};

use crate::bridge::{self, Class, ModuleDef, TypeDef};
use crate::error::{Error, Kind};
use crate::func;

pub static DEFINITION: ModuleDef = ModuleDef {
    name: "runtime",
    description: "The async runtime: waits that block in plain code and yield in tasks, and the task scheduler",
    classes: &[Class::Nondeterministic],
    functions: &[
        func!("spawn", "Starts fn(...) as a task; it runs while anything waits.", [fn_: "fun(...): any", args: "any ..."], [handle: "runtime.Task"]),
        func!("parallel", "Runs the functions as tasks (at most limit at once) and returns their results in order: each item is a table of return values, or {nil, err} when the function failed.", [fns: "(fun(): any)[]", options: "runtime.ParallelOptions?"], [results: "table[]"]),
        func!("sleep", "Waits for a number of seconds.", [seconds: "number"], []),
        func!("timeout", "Runs fn(...) as a task and returns its results, or nil and a timeout error when it takes longer than seconds.", [seconds: "number", fn_: "fun(...): any", args: "any ..."], [results: "any ..."]),
        func!("monotonic", "Seconds since an arbitrary fixed point, from a clock that never goes back.", [], [seconds: "number"]),
        func!("current", "The task running this code, or nil in plain code.", [], [task: "runtime.Task?"]),
        func!("pcall", "pcall whose waits still yield to the scheduler (on Lua 5.1, where pcall's cannot); the same as pcall elsewhere.", [fn_: "function", args: "any ..."], [ok: "boolean", results: "any ..."]),
    ],
    constants: &[],
    types: &[
        TypeDef::record("runtime.ParallelOptions", "", &[crate::typed!(limit: "integer?", "At most this many functions run at once (default: all).")]),
        TypeDef {
            name: "runtime.Task",
            method_index: Some(|lua| scheduler(lua)?.raw_get("Task")),
            doc: "A task started by spawn.",
            fields: &[crate::typed!(done: "boolean", "Whether the task has finished.")],
            methods: &[
                func!("wait", "Waits for the task; returns its results, or nil and its error.", [], [results: "any ..."]),
                func!(
                    "cancel",
                    "Stops the task at its current wait; waiting on it then returns nil and an interrupted error.",
                    [],
                    []
                ),
            ],
        },
    ],
    build,
};

/// What an operation produces: a closure that makes its Lua values on the Lua thread.
pub type Deliver = Box<dyn FnOnce(&Lua) -> Result<MultiValue> + Send>;
pub type Outcome = std::result::Result<Deliver, Error>;

/// `Ok` with a single value made by `f` on the Lua thread.
pub fn deliver<F, R>(f: F) -> Outcome
where
    F: FnOnce(&Lua) -> Result<R> + Send + 'static,
    R: IntoLuaMulti,
{
    Ok(Box::new(move |lua| f(lua)?.into_lua_multi(lua)))
}

/// The runtimes of one Lua state: created on first use, shut down when the state closes.
///
/// Most work runs on the shared runtime, whose threads drive its I/O and its spawned tasks
/// while Lua code runs. A database's connections live on the local runtime instead, which only
/// the Lua thread drives, whenever it waits: a statement's answer then wakes the Lua thread
/// itself, not a runtime thread that wakes it in turn (a hand-off that costs a round trip as
/// much CPU as the client's own work).
pub struct Runtime {
    tokio: Option<tokio::runtime::Runtime>,
    local: Option<tokio::runtime::Runtime>,
    completed_tx: UnboundedSender<u64>,
    completed_rx: RefCell<UnboundedReceiver<u64>>,
    next_id: Cell<u64>,
    interrupts: OnceLock<AsyncFd<OwnedFd>>,
    /// The Ctrl-Cs reported so far: one that arrives as a wait ends is reported by the next.
    seen_interrupts: Cell<u64>,
    /// Tasks of the scheduler started and not finished: while there are none, a wait blocks
    /// where it is called, without an [`Op`] for the scheduler to settle.
    live_tasks: Cell<u64>,
}

impl Drop for Runtime {
    fn drop(&mut self) {
        if let Some(rt) = self.local.take() {
            rt.shutdown_timeout(Duration::from_secs(2));
        }
        if let Some(rt) = self.tokio.take() {
            rt.shutdown_timeout(Duration::from_secs(2));
        }
    }
}

/// A write to a pipe whose reader is gone (a ProxyCommand or a child that exited) raises
/// SIGPIPE in the writing thread, and the interpreter, unlike a Rust program, leaves it fatal:
/// the runtime's threads block it, so such a write fails with EPIPE instead of ending the
/// process.
fn block_sigpipe() {
    // SAFETY: plain signal-mask calls on this thread, with a set made here.
    unsafe {
        libc::pthread_sigmask(libc::SIG_BLOCK, &sigpipe_set(), std::ptr::null_mut());
    }
}

fn sigpipe_set() -> libc::sigset_t {
    // SAFETY: a set made and filled here.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGPIPE);
        set
    }
}

/// SIGPIPE blocked on the Lua thread while it drives work (whose writes then fail with EPIPE,
/// as on the runtime's threads); a SIGPIPE those writes left pending is taken before the
/// thread's mask is put back, so that it is never delivered.
struct SigpipeBlocked {
    before: libc::sigset_t,
}

impl SigpipeBlocked {
    fn new() -> SigpipeBlocked {
        // SAFETY: signal-mask calls on this thread with sets made here.
        unsafe {
            let mut before: libc::sigset_t = std::mem::zeroed();
            libc::pthread_sigmask(libc::SIG_BLOCK, &sigpipe_set(), &mut before);
            SigpipeBlocked { before }
        }
    }
}

impl Drop for SigpipeBlocked {
    fn drop(&mut self) {
        // SAFETY: as in new; sigtimedwait with a zero timeout only takes a pending SIGPIPE.
        unsafe {
            if libc::sigismember(&self.before, libc::SIGPIPE) == 1 {
                return;
            }
            let set = sigpipe_set();
            let zero = libc::timespec { tv_sec: 0, tv_nsec: 0 };
            while libc::sigtimedwait(&set, std::ptr::null_mut(), &zero) == libc::SIGPIPE {}
            libc::pthread_sigmask(libc::SIG_SETMASK, &self.before, std::ptr::null_mut());
        }
    }
}

impl Runtime {
    fn new() -> std::io::Result<Self> {
        let tokio = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("essh-runtime")
            .on_thread_start(block_sigpipe)
            .build()?;
        let local = tokio::runtime::Builder::new_current_thread().enable_all().on_thread_start(block_sigpipe).build()?;
        let (completed_tx, completed_rx) = unbounded_channel();
        Ok(Runtime {
            tokio: Some(tokio),
            local: Some(local),
            completed_tx,
            completed_rx: RefCell::new(completed_rx),
            next_id: Cell::new(1),
            interrupts: OnceLock::new(),
            seen_interrupts: Cell::new(INTERRUPTS.load(Ordering::SeqCst)),
            live_tasks: Cell::new(0),
        })
    }

    /// The shared runtime's handle.
    pub fn handle(&self) -> &tokio::runtime::Handle {
        self.tokio.as_ref().expect("the runtime lives as long as its Lua state").handle()
    }

    fn local(&self) -> &tokio::runtime::Runtime {
        self.local.as_ref().expect("the runtime lives as long as its Lua state")
    }

    /// The handle of the runtime that `place` names.
    fn handle_of(&self, place: Place) -> &tokio::runtime::Handle {
        match place {
            Place::Shared => self.handle(),
            Place::Local => self.local().handle(),
        }
    }

    /// Runs `fut` on this thread while driving the local runtime (see [`Runtime::placed`]
    /// for work of the shared one).
    fn drive<F: Future>(&self, fut: F) -> F::Output {
        self.local().block_on(fut)
    }

    /// `work` of `place`, to be polled while this thread drives the local runtime: shared
    /// work is polled, and dropped, in the shared runtime's context, so that what it spawns
    /// or registers lives there.
    fn placed<F: Future + ?Sized>(&self, place: Place, work: std::pin::Pin<Box<F>>) -> InContext<F> {
        let handle = match place {
            Place::Shared => Some(self.handle().clone()),
            Place::Local => None,
        };
        InContext { handle, work: Some(work) }
    }

    /// Runs `fut`, work of `place`, to completion on this thread, or returns an `interrupted`
    /// error when Ctrl-C arrives first. Only called from the Lua thread, which never runs
    /// inside a runtime.
    fn block_on<F: Future>(&self, place: Place, fut: F) -> std::result::Result<F::Output, Error> {
        let _guard = catch_sigint();
        // The local runtime's work (databases) writes to sockets only, with MSG_NOSIGNAL.
        let _sigpipe = (place == Place::Shared).then(SigpipeBlocked::new);
        let generation = self.seen_interrupts.get();
        let result = self.drive(async {
            let interrupts = match self.interrupts.get() {
                Some(fd) => Some(fd),
                None => PIPE.reader().ok().map(|fd| self.interrupts.get_or_init(|| fd)),
            };
            tokio::select! {
                biased;
                _ = interrupted(interrupts, generation) => Err(interrupted_error()),
                out = fut => Ok(out),
            }
        });
        if result.is_err() {
            self.seen_interrupts.set(INTERRUPTS.load(Ordering::SeqCst));
        }
        result
    }

    /// Waits for the cleanups of work just dropped where it stood, so that they are done
    /// before the program goes on.
    fn cleaned_up(&self) {
        self.drive(async {
            let _ = tokio::time::timeout(CLEANUP_WAIT, cleanups_done()).await;
        });
    }

    /// Runs `work` to its end on this thread (no task of the scheduler can run meanwhile):
    /// its Lua values, nil and its error, or `RAISE, err` when Ctrl-C stops it.
    fn run_here<F>(&self, lua: &Lua, place: Place, work: std::pin::Pin<Box<F>>) -> Result<MultiValue>
    where
        F: Future<Output = Outcome> + Send + 'static,
    {
        let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.block_on(place, self.placed(place, work))));
        match ran {
            Ok(Ok(Ok(deliver))) => deliver(lua),
            Ok(Ok(Err(err))) => (Value::Nil, err).into_lua_multi(lua),
            Ok(Err(interrupted)) => {
                self.cleaned_up();
                (bridge::raise_mark(), interrupted).into_lua_multi(lua)
            }
            Err(_) => (Value::Nil, Error::new(Kind::Internal, "internal error (a bug in essh): an operation panicked")).into_lua_multi(lua),
        }
    }

    /// Stops `task` and waits, at most [`CLEANUP_WAIT`], until it is gone and the cleanups its
    /// end started ([`spawn_cleanup`]) are done: a cancelled transfer has removed its temporary
    /// file before the program can go on, or exit.
    fn stop(&self, task: tokio::task::JoinHandle<()>) {
        task.abort();
        self.drive(async {
            let _ = tokio::time::timeout(CLEANUP_WAIT, async {
                let _ = task.await;
                cleanups_done().await;
            })
            .await;
        });
    }

    fn next_id(&self) -> u64 {
        let id = self.next_id.get();
        self.next_id.set(id + 1);
        id
    }
}

/// How long a cancel waits for the cancelled work's cleanups.
const CLEANUP_WAIT: Duration = Duration::from_secs(5);

/// Cleanups that cancelled work started (see [`spawn_cleanup`]), until a cancel waits for them.
static CLEANUPS: Mutex<Vec<tokio::task::JoinHandle<()>>> = Mutex::new(Vec::new());

/// Runs `cleanup` on the runtime this code runs in (from a `Drop` of work being cancelled);
/// a cancel waits for it. Does nothing outside a runtime.
pub fn spawn_cleanup<F: Future<Output = ()> + Send + 'static>(cleanup: F) {
    if let Ok(rt) = tokio::runtime::Handle::try_current() {
        let task = rt.spawn(cleanup);
        CLEANUPS.lock().unwrap_or_else(|p| p.into_inner()).push(task);
    }
}

async fn cleanups_done() {
    let pending = std::mem::take(&mut *CLEANUPS.lock().unwrap_or_else(|p| p.into_inner()));
    for task in pending {
        let _ = task.await;
    }
}

/// The runtime of this Lua state, made on first use.
pub fn get(lua: &Lua) -> Result<mlua::AppDataRef<'_, Runtime>> {
    if lua.app_data_ref::<Runtime>().is_none() {
        let rt = Runtime::new().map_err(|e| mlua::Error::runtime(format!("cannot start the async runtime: {e}")))?;
        lua.set_app_data(rt);
    }
    lua.app_data_ref::<Runtime>().ok_or_else(|| mlua::Error::runtime("the async runtime is gone"))
}

// Ctrl-C: while the Lua thread waits, a handler of ours counts SIGINTs and wakes the wait
// through a pipe; before and after, whatever handler the interpreter had is in place.
static INTERRUPTS: AtomicU64 = AtomicU64::new(0);
static PIPE: SelfPipe = SelfPipe::new();

extern "C" fn on_sigint(_: libc::c_int) {
    INTERRUPTS.fetch_add(1, Ordering::SeqCst);
    PIPE.wake(b'!');
}

/// Catches SIGINT into the self-pipe until dropped (None when the pipe cannot be made).
fn catch_sigint() -> Option<Handler> {
    PIPE.fds().and_then(|_| Handler::install(libc::SIGINT, on_sigint))
}

/// Empties the self-pipe's non-blocking read end `fd` of the wake-ups it holds.
fn drain(fd: std::os::fd::RawFd) {
    let mut buf = [0u8; 64];
    // SAFETY: reading into a local buffer from a non-blocking descriptor the pipe keeps open.
    while unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) } > 0 {}
}

/// The error of work that Ctrl-C ended.
fn interrupted_error() -> Error {
    Error::new(Kind::Interrupted, "interrupted")
}

async fn interrupted(pipe: Option<&AsyncFd<OwnedFd>>, generation: u64) {
    let Some(pipe) = pipe else { return std::future::pending().await };
    loop {
        if INTERRUPTS.load(Ordering::SeqCst) != generation {
            return;
        }
        let Ok(mut ready) = pipe.readable().await else { return std::future::pending().await };
        drain(pipe.as_raw_fd());
        ready.clear_ready();
    }
}

enum State {
    Pending(Option<(UnboundedSender<u64>, u64)>),
    Done(Outcome),
    Taken,
}

/// Where a spawned operation leaves its outcome, and whom it tells.
struct Completion(Mutex<State>);

impl Completion {
    fn complete(&self, outcome: Outcome) {
        let mut state = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let State::Pending(Some((tx, id))) = std::mem::replace(&mut *state, State::Done(outcome)) {
            let _ = tx.send(id);
        }
    }
}

/// Completes the slot even when the operation panics, so that no one waits forever.
struct CompleteOnDrop(Arc<Completion>);

impl Drop for CompleteOnDrop {
    fn drop(&mut self) {
        let pending = matches!(*self.0 .0.lock().unwrap_or_else(|p| p.into_inner()), State::Pending(_));
        if pending {
            self.0.complete(Err(Error::new(Kind::Internal, "internal error (a bug in essh): an operation panicked")));
        }
    }
}

type Work = std::pin::Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// Which runtime an operation runs on (see [`Runtime`]).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Place {
    Shared,
    Local,
}

/// Work polled, and dropped, in the context of `handle`'s runtime when there is one, other
/// than the runtime driving it (see [`Runtime::placed`]).
struct InContext<F: Future + ?Sized> {
    handle: Option<tokio::runtime::Handle>,
    work: Option<std::pin::Pin<Box<F>>>,
}

impl<F: Future + ?Sized> Future for InContext<F> {
    type Output = F::Output;
    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<F::Output> {
        let _context = self.handle.as_ref().map(|h| h.enter());
        self.work.as_mut().expect("polled after it finished").as_mut().poll(cx)
    }
}

impl<F: Future + ?Sized> Drop for InContext<F> {
    fn drop(&mut self) {
        let _context = self.handle.as_ref().map(|h| h.enter());
        self.work = None;
    }
}

/// A pending operation, as Lua holds it. Dropping it cancels the work.
///
/// The work starts where it is waited for: plain code's `wait` runs it on the Lua thread
/// (`block_on`: no hand-off to a worker and back), and a task's `park` spawns it on its
/// runtime, to run while other tasks do.
pub struct Op {
    id: u64,
    place: Place,
    completion: Arc<Completion>,
    work: Option<Work>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for Op {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

impl Op {
    /// The operation of `fut`, on the shared runtime of this Lua state.
    pub fn spawn<F>(lua: &Lua, fut: F) -> Result<Op>
    where
        F: Future<Output = Outcome> + Send + 'static,
    {
        Op::new(lua, Place::Shared, fut)
    }

    /// The operation of `fut`, on the runtime `place` of this Lua state.
    pub fn new<F>(lua: &Lua, place: Place, fut: F) -> Result<Op>
    where
        F: Future<Output = Outcome> + Send + 'static,
    {
        let rt = get(lua)?;
        let completion = Arc::new(Completion(Mutex::new(State::Pending(None))));
        let guard = CompleteOnDrop(completion.clone());
        let work: Work = Box::pin(async move {
            let outcome = fut.await;
            guard.0.complete(outcome);
        });
        Ok(Op { id: rt.next_id(), place, completion, work: Some(work), task: None })
    }

    /// Starts the work on its runtime, when it has not started.
    fn start(&mut self, rt: &Runtime) {
        if let Some(work) = self.work.take() {
            self.task = Some(rt.handle_of(self.place).spawn(work));
        }
    }

    /// The work, to be polled on the Lua thread while it drives the local runtime.
    fn driven(&mut self, rt: &Runtime) -> Option<InContext<dyn Future<Output = ()> + Send + 'static>> {
        Some(rt.placed(self.place, self.work.take()?))
    }
    fn take(&self, lua: &Lua) -> Result<MultiValue> {
        let state = std::mem::replace(&mut *self.completion.0.lock().unwrap_or_else(|p| p.into_inner()), State::Taken);
        match state {
            State::Done(Ok(deliver)) => deliver(lua),
            State::Done(Err(err)) => (Value::Nil, err).into_lua_multi(lua),
            State::Pending(_) | State::Taken => {
                Err(mlua::Error::runtime("internal error (a bug in essh): an operation was taken twice"))
            }
        }
    }

    fn is_done(&self) -> bool {
        matches!(*self.completion.0.lock().unwrap_or_else(|p| p.into_inner()), State::Done(_))
    }
}

impl UserData for Op {
    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_method("id", |_, op, ()| Ok(op.id));
        // Blocks until done; an interrupt cancels the work and comes back as RAISE, err.
        methods.add_method_mut("wait", |lua, op, ()| {
            let rt = get(lua)?;
            if let Some(work) = op.driven(&rt) {
                if let Err(err) = rt.block_on(op.place, work) {
                    rt.cleaned_up();
                    return (bridge::raise_mark(), err).into_lua_multi(lua);
                }
            }
            if let Some(task) = op.task.as_mut() {
                let waited = rt.block_on(op.place, task);
                if let Err(err) = waited {
                    if let Some(task) = op.task.take() {
                        rt.stop(task);
                    }
                    return (bridge::raise_mark(), err).into_lua_multi(lua);
                }
                op.task = None;
            }
            op.take(lua)
        });
        // Asks to be told on the completion channel; true when already done.
        methods.add_method_mut("park", |lua, op, ()| {
            let rt = get(lua)?;
            op.start(&rt);
            let mut state = op.completion.0.lock().unwrap_or_else(|p| p.into_inner());
            match &mut *state {
                State::Pending(notify) => {
                    *notify = Some((rt.completed_tx.clone(), op.id));
                    Ok(false)
                }
                _ => Ok(true),
            }
        });
        methods.add_method("take", |lua, op, ()| op.take(lua));
        methods.add_method("done", |_, op, ()| Ok(op.is_done()));
        methods.add_method_mut("cancel", |lua, op, ()| {
            op.work = None;
            if let Some(task) = op.task.take() {
                get(lua)?.stop(task);
            }
            Ok(())
        });
    }
}

/// Blocks until at least one parked operation completes; returns their ids, or nil and an
/// interrupted error on Ctrl-C.
fn wait_any(lua: &Lua, _: ()) -> Result<MultiValue> {
    let rt = get(lua)?;
    let mut rx = rt.completed_rx.borrow_mut();
    let first = match rt.block_on(Place::Shared, rx.recv()) {
        Ok(Some(id)) => id,
        Ok(None) => return Err(mlua::Error::runtime("internal error (a bug in essh): the completion channel closed")),
        Err(err) => return (Value::Nil, err).into_lua_multi(lua),
    };
    let ids = lua.create_table()?;
    ids.raw_push(first)?;
    while let Ok(id) = rx.try_recv() {
        ids.raw_push(id)?;
    }
    ids.into_lua_multi(lua)
}

/// Seconds since an arbitrary fixed point of this process, from a clock that never goes back.
pub fn monotonic() -> f64 {
    epoch().elapsed().as_secs_f64()
}

/// The process-wide start of `monotonic`.
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// A future that completes after `seconds` (validated by the caller).
pub fn duration(seconds: f64, what: &str) -> std::result::Result<Duration, mlua::Error> {
    if !seconds.is_finite() || seconds < 0.0 {
        return Err(mlua::Error::runtime(format!("{what}: seconds must be a non-negative number, got {seconds}")));
    }
    Ok(Duration::from_secs_f64(seconds.min(1e9)))
}

/// Waits `d`; zero only lets other work run (the timer wheel would round it up to a millisecond).
pub async fn sleep(d: Duration) -> Outcome {
    if d.is_zero() {
        tokio::task::yield_now().await;
    } else {
        tokio::time::sleep(d).await;
    }
    deliver(|_| Ok(()))
}

/// The scheduler of this Lua state (`src/lua/scheduler.lua`), loaded once; it installs its
/// `settle` in the trampoline.
pub fn scheduler(lua: &Lua) -> Result<Table> {
    const KEY: &str = "essh_native.scheduler";
    if let Ok(Value::Table(t)) = lua.named_registry_value::<Value>(KEY) {
        return Ok(t);
    }
    let sleep = lua.create_function(|lua, seconds: f64| Op::spawn(lua, sleep(duration(seconds, "runtime.sleep")?)))?;
    let new_error = lua.create_function(|_, (kind, message): (String, String)| {
        let kind = match kind.as_str() {
            "timeout" => Kind::Timeout,
            "interrupted" => Kind::Interrupted,
            _ => Kind::Internal,
        };
        Ok(Error::new(kind, message))
    })?;
    let native = lua.create_table()?;
    native.raw_set("raise", bridge::raise_mark())?;
    native.raw_set("wait", bridge::wait_mark())?;
    native.raw_set("set_settle", bridge::trampoline(lua)?.raw_get::<mlua::Function>("set_settle")?)?;
    native.raw_set("wait_any", lua.create_function(wait_any)?)?;
    native.raw_set("sleep_op", sleep)?;
    native.raw_set("new_error", new_error)?;
    for (name, change) in [("task_began", 1), ("task_ended", -1)] {
        let counted = lua.create_function(move |lua, ()| {
            let rt = get(lua)?;
            rt.live_tasks.set(rt.live_tasks.get().saturating_add_signed(change));
            Ok(())
        })?;
        native.raw_set(name, counted)?;
    }
    native.raw_set("lua51", cfg!(feature = "lua51"))?;
    crate::permissions::scheduler_natives(lua, &native)?;
    let scheduler: Table = bridge::run_embedded(lua, "runtime", include_str!("lua/scheduler.lua"), native)?;
    lua.set_named_registry_value(KEY, &scheduler)?;
    Ok(scheduler)
}

/// Like [`bridge::function`] for a primitive that waits: `f` checks its arguments and returns
/// the work as a future, which runs on the runtime while the caller blocks (plain code) or
/// yields (a task).
pub fn waiting<A, Fut, F>(lua: &Lua, name: &'static str, f: F) -> Result<mlua::Function>
where
    A: mlua::FromLuaMulti,
    Fut: Future<Output = Outcome> + Send + 'static,
    F: Fn(&Lua, A) -> Result<Fut> + mlua::MaybeSend + 'static,
{
    scheduler(lua)?;
    bridge::function(lua, name, move |lua, args: A| wait_for(lua, f(lua, args)?))
}

/// What a native function returns to have `work` waited for: blocking in plain code, yielding
/// in a task (for a function that decides call by call whether it waits).
pub fn wait_for<Fut>(lua: &Lua, work: Fut) -> Result<MultiValue>
where
    Fut: Future<Output = Outcome> + Send + 'static,
{
    wait_in(lua, Place::Shared, work)
}

/// [`wait_for`] for work on the runtime `place`.
pub fn wait_in<Fut>(lua: &Lua, place: Place, work: Fut) -> Result<MultiValue>
where
    Fut: Future<Output = Outcome> + Send + 'static,
{
    // Boxed at once: the work of a statement is kilobytes, moved on every call below.
    let work = Box::pin(work);
    {
        let rt = get(lua)?;
        if rt.live_tasks.get() == 0 {
            return rt.run_here(lua, place, work);
        }
    }
    scheduler(lua)?;
    (bridge::wait_mark(), Op::new(lua, place, work)?).into_lua_multi(lua)
}

/// Work that runs on the Lua thread without the runtime, waiting for a descriptor with
/// poll(2) (a MySQL statement: src/db/direct.rs): Ctrl-C and the deadline end its waits as
/// they end a wait on the runtime. SIGINT is caught while this lives.
pub struct InPlace {
    _sigint: Option<Handler>,
    pipe: Option<std::os::fd::RawFd>,
    generation: u64,
    deadline: Instant,
}

/// Why an in-place wait ended without its descriptor being ready: the payload of its
/// io::Error.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    Deadline,
    Interrupted,
}

impl std::fmt::Display for Ended {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Ended::Deadline => "the deadline passed",
            Ended::Interrupted => "interrupted",
        })
    }
}

impl std::error::Error for Ended {}

/// In-place work of at most `timeout`, or None while a task is alive (work then yields to the
/// scheduler: [`wait_in`]).
pub fn in_place(lua: &Lua, timeout: Duration) -> Result<Option<InPlace>> {
    let rt = get(lua)?;
    if rt.live_tasks.get() != 0 {
        return Ok(None);
    }
    let pipe = PIPE.fds().map(|(read_end, _)| read_end);
    Ok(Some(InPlace { _sigint: catch_sigint(), pipe, generation: rt.seen_interrupts.get(), deadline: Instant::now() + timeout }))
}

impl InPlace {
    /// Returns when `fd` may be read (or written, when `write`), or fails with an [`Ended`].
    pub fn wait(&self, fd: std::os::fd::RawFd, write: bool) -> std::io::Result<()> {
        let events = if write { libc::POLLOUT } else { libc::POLLIN };
        loop {
            if INTERRUPTS.load(Ordering::SeqCst) != self.generation {
                return Err(std::io::Error::new(std::io::ErrorKind::Interrupted, Ended::Interrupted));
            }
            let left = self.deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(std::io::Error::new(std::io::ErrorKind::TimedOut, Ended::Deadline));
            }
            let mut fds = [
                libc::pollfd { fd, events, revents: 0 },
                libc::pollfd { fd: self.pipe.unwrap_or(-1), events: libc::POLLIN, revents: 0 },
            ];
            let ms = left.as_millis().saturating_add(1).min(i32::MAX as u128) as libc::c_int;
            // SAFETY: fds is an array of two initialised pollfd; a negative fd is ignored.
            let ready = unsafe { libc::poll(fds.as_mut_ptr(), 2, ms) };
            if ready < 0 {
                let err = std::io::Error::last_os_error();
                if err.kind() != std::io::ErrorKind::Interrupted {
                    return Err(err);
                }
            } else if fds[0].revents != 0 {
                return Ok(());
            } else if fds[1].revents != 0 && INTERRUPTS.load(Ordering::SeqCst) == self.generation {
                // A wake-up an earlier interrupt left in the pipe.
                drain(fds[1].fd);
            }
        }
    }
}

/// What Lua gets when Ctrl-C ended in-place work: `RAISE, err`, as a wait on the runtime.
pub fn interrupted_in_place(lua: &Lua) -> Result<MultiValue> {
    get(lua)?.seen_interrupts.set(INTERRUPTS.load(Ordering::SeqCst));
    (bridge::raise_mark(), interrupted_error()).into_lua_multi(lua)
}

/// Spawns `work` on the runtime `place` of this Lua state.
pub fn spawn_in<F>(lua: &Lua, place: Place, work: F) -> Result<tokio::task::JoinHandle<F::Output>>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    Ok(get(lua)?.handle_of(place).spawn(work))
}

/// Registers a [`waiting`] function in `table` under the last part of its qualified `name`.
pub fn export_waiting<A, Fut, F>(lua: &Lua, table: &Table, name: &'static str, f: F) -> Result<()>
where
    A: mlua::FromLuaMulti,
    Fut: Future<Output = Outcome> + Send + 'static,
    F: Fn(&Lua, A) -> Result<Fut> + mlua::MaybeSend + 'static,
{
    table.raw_set(bridge::short_name(name), waiting(lua, name, f)?)
}

fn build(lua: &Lua, m: &Table) -> Result<()> {
    let scheduler = scheduler(lua)?;
    for name in ["spawn", "parallel", "timeout", "current", "pcall"] {
        m.raw_set(name, scheduler.raw_get::<mlua::Function>(name)?)?;
    }
    export_waiting(lua, m, "runtime.sleep", |_, seconds: f64| Ok(sleep(duration(seconds, "runtime.sleep")?)))?;
    bridge::export(lua, m, "runtime.monotonic", |_, ()| Ok(monotonic()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::net::UnixStream;

    fn in_place_for(timeout: Duration) -> InPlace {
        let pipe = PIPE.fds().map(|(read_end, _)| read_end);
        InPlace { _sigint: None, pipe, generation: INTERRUPTS.load(Ordering::SeqCst), deadline: Instant::now() + timeout }
    }

    fn ended(waited: std::io::Result<()>) -> Option<Ended> {
        waited.err()?.into_inner()?.downcast::<Ended>().ok().map(|e| *e)
    }

    // One test: interrupts are process-wide, and another test's would end these waits.
    #[test]
    fn an_in_place_wait_ends_when_ready_at_its_deadline_and_at_an_interrupt() {
        let (ours, mut theirs) = UnixStream::pair().unwrap();
        let fd = ours.as_raw_fd();
        assert!(in_place_for(Duration::from_secs(5)).wait(fd, true).is_ok());

        let started = Instant::now();
        assert_eq!(ended(in_place_for(Duration::from_millis(200)).wait(fd, false)), Some(Ended::Deadline));
        assert!(started.elapsed() >= Duration::from_millis(200) && started.elapsed() < Duration::from_secs(2));

        // A wake-up left in the pipe by an interrupt already seen does not end a wait.
        PIPE.wake(b'!');
        assert_eq!(ended(in_place_for(Duration::from_millis(200)).wait(fd, false)), Some(Ended::Deadline));

        theirs.write_all(b"x").unwrap();
        assert!(in_place_for(Duration::from_secs(5)).wait(fd, false).is_ok());

        let place = in_place_for(Duration::from_secs(5));
        let started = Instant::now();
        let interrupter = std::thread::spawn(|| {
            std::thread::sleep(Duration::from_millis(100));
            on_sigint(libc::SIGINT);
        });
        let (quiet, _peer) = UnixStream::pair().unwrap();
        assert_eq!(ended(place.wait(quiet.as_raw_fd(), false)), Some(Ended::Interrupted));
        assert!(started.elapsed() < Duration::from_secs(2));
        interrupter.join().unwrap();
    }
}
