//! What remote commands (ssh) and local processes share: the result table, and live output
//! handed to Lua callbacks in batches (whole lines when asked), never accumulated.

use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mlua::{FromLuaMulti, Lua, Result, Table, UserData, UserDataRef, Value};

use crate::bridge;
use crate::error::{self, Error, Kind};
use crate::runtime::deliver;

/// One piece of live output.
pub enum Event {
    Stdout(Vec<u8>),
    Stderr(Vec<u8>),
}

/// Where live output goes; bounded, so a fast producer waits for Lua.
pub type Sink = tokio::sync::mpsc::Sender<Event>;

/// How a command ended.
#[derive(Debug, Default)]
pub struct CommandResult {
    pub exit_status: Option<u32>,
    pub signal: Option<String>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub duration: Duration,
}

impl CommandResult {
    /// Collects `ev` unless it goes to `sink`.
    pub async fn take(&mut self, sink: &Option<Sink>, ev: Event) {
        match (sink, ev) {
            (Some(tx), ev) => {
                let _ = tx.send(ev).await;
            }
            (None, Event::Stdout(d)) => self.stdout.extend_from_slice(&d),
            (None, Event::Stderr(d)) => self.stderr.extend_from_slice(&d),
        }
    }
}

/// `{ exitStatus, exit_status, signal, stdout, stderr, ok, duration }`.
pub fn result_table(lua: &Lua, r: CommandResult) -> Result<Table> {
    let t = lua.create_table()?;
    if let Some(code) = r.exit_status {
        t.raw_set("exitStatus", code)?;
        t.raw_set("exit_status", code)?;
    }
    if let Some(sig) = r.signal {
        t.raw_set("signal", sig)?;
    }
    t.raw_set("stdout", lua.create_string(&r.stdout)?)?;
    t.raw_set("stderr", lua.create_string(&r.stderr)?)?;
    t.raw_set("ok", r.exit_status == Some(0))?;
    t.raw_set("duration", r.duration.as_secs_f64())?;
    Ok(t)
}

pub type Job = Pin<Box<dyn Future<Output = error::Result<CommandResult>> + Send>>;

/// A command ready to start: with a sink its output streams, without one it is collected.
pub struct Prepared {
    pub lines: bool,
    pub run: Box<dyn FnOnce(Option<Sink>) -> Job>,
}

/// Live output of a running command, handed to Lua in batches by `next`.
struct OutputStream {
    rx: Arc<tokio::sync::Mutex<tokio::sync::mpsc::Receiver<Event>>>,
    outcome: Arc<Mutex<Option<error::Result<CommandResult>>>>,
    partial: Arc<Mutex<[Lines; 2]>>,
    lines: bool,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for OutputStream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl UserData for OutputStream {}

const BATCH_BYTES: usize = 1 << 20;

/// The longest line that waits for its end: beyond it, a line leaves in pieces of this size.
pub const MAX_PENDING_LINE: usize = 64 << 10;

/// Splits a stream's chunks into lines (without their `\n` or `\r\n`), in time linear in the
/// bytes: only the new bytes of a chunk are searched, and the unfinished line never grows past
/// [`MAX_PENDING_LINE`] (a longer one leaves in pieces, each marked partial).
#[derive(Default)]
pub struct Lines {
    pending: Vec<u8>,
}

impl Lines {
    /// Takes the next chunk; `out(line, partial)` receives each line it completes, and each
    /// piece of a line that outgrew the bound.
    pub fn push(&mut self, mut data: &[u8], mut out: impl FnMut(Vec<u8>, bool)) {
        loop {
            let newline = data.iter().position(|&b| b == b'\n');
            let mut piece = &data[..newline.unwrap_or(data.len())];
            while self.pending.len() + piece.len() > MAX_PENDING_LINE {
                let room = MAX_PENDING_LINE - self.pending.len();
                self.pending.extend_from_slice(&piece[..room]);
                piece = &piece[room..];
                out(std::mem::take(&mut self.pending), true);
            }
            self.pending.extend_from_slice(piece);
            let Some(pos) = newline else { return };
            let mut line = std::mem::take(&mut self.pending);
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            out(line, false);
            data = &data[pos + 1..];
        }
    }

    /// The last line, when the stream ended without a newline.
    pub fn finish(&mut self) -> Option<Vec<u8>> {
        (!self.pending.is_empty()).then(|| std::mem::take(&mut self.pending))
    }
}

/// How a batch names what an item is: a line of stdout (1) or stderr (2), or a piece of a
/// longer one (3, 4); raw chunks are 1 and 2.
fn item_code(stream: u8, partial: bool) -> u8 {
    if partial {
        stream + 2
    } else {
        stream
    }
}

/// Adds one event to a batch: whole lines when `lines`, else the chunk.
fn add_event(batch: &mut Vec<(u8, Vec<u8>)>, partial: &mut [Lines; 2], lines: bool, ev: Event) {
    let (stream, data) = match ev {
        Event::Stdout(d) => (1u8, d),
        Event::Stderr(d) => (2u8, d),
    };
    if !lines {
        batch.push((stream, data));
        return;
    }
    partial[(stream - 1) as usize].push(&data, |line, piece| batch.push((item_code(stream, piece), line)));
}

fn batch_table(lua: &Lua, batch: Vec<(u8, Vec<u8>)>) -> Result<Value> {
    if batch.is_empty() {
        return Ok(Value::Boolean(false));
    }
    let t = lua.create_table_with_capacity(batch.len() * 2, 0)?;
    for (stream, data) in batch {
        t.raw_push(stream)?;
        t.raw_push(lua.create_string(&data)?)?;
    }
    Ok(Value::Table(t))
}

/// The runner factory of `src/lua/command.lua` of this state: made once, then called for
/// each runner.
fn runner_factory(lua: &Lua) -> Result<mlua::Function> {
    const KEY: &str = "essh_native.command.runner";
    if let Ok(Value::Function(f)) = lua.named_registry_value::<Value>(KEY) {
        return Ok(f);
    }
    let factory: mlua::Function =
        bridge::run_embedded(lua, "command", include_str!("lua/command.lua"), lua.create_table()?)?;
    lua.set_named_registry_value(KEY, &factory)?;
    Ok(factory)
}

/// A Lua function named `name` that runs what `prepare` makes of its arguments, collecting the
/// output, or streaming it to `on_stdout` / `on_stderr` from the options at position `at`.
pub fn runner<A, F>(lua: &Lua, name: &'static str, at: usize, prepare: F) -> Result<mlua::Function>
where
    A: FromLuaMulti + 'static,
    F: Fn(&Lua, A) -> Result<Prepared> + 'static,
{
    let prepare = Rc::new(prepare);
    let for_plain = prepare.clone();
    let plain = crate::runtime::waiting(lua, name, move |lua, args: A| {
        let job = (for_plain(lua, args)?.run)(None);
        Ok(async move {
            let r = job.await?;
            deliver(move |lua| result_table(lua, r))
        })
    })?;
    let start = bridge::function(lua, name, move |lua, args: A| {
        let prepared = prepare(lua, args)?;
        let (tx, rx) = tokio::sync::mpsc::channel(64);
        let outcome = Arc::new(Mutex::new(None));
        let slot = outcome.clone();
        let job = (prepared.run)(Some(tx.clone()));
        let task = crate::runtime::get(lua)?.handle().spawn(async move {
            let r = job.await;
            *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(r);
            // Only now may the channel close: when Lua sees it closed, the outcome is there.
            drop(tx);
        });
        lua.create_userdata(OutputStream {
            rx: Arc::new(tokio::sync::Mutex::new(rx)),
            outcome,
            partial: Arc::new(Mutex::new([Lines::default(), Lines::default()])),
            lines: prepared.lines,
            task,
        })
    })?;
    let next_batch = crate::runtime::waiting(lua, name, |_, stream: UserDataRef<OutputStream>| {
        let (rx, cell, lines) = (stream.rx.clone(), stream.partial.clone(), stream.lines);
        Ok(async move {
            let mut rx = rx.lock().await;
            let mut partial = std::mem::take(&mut *cell.lock().unwrap_or_else(|p| p.into_inner()));
            let mut batch = Vec::new();
            let mut ended = false;
            // An empty batch would read as the end: wait until a whole line or the end comes.
            while batch.is_empty() && !ended {
                let mut bytes = 0;
                let mut next = rx.recv().await;
                ended = next.is_none();
                while let Some(ev) = next {
                    bytes += match &ev {
                        Event::Stdout(d) | Event::Stderr(d) => d.len(),
                    };
                    add_event(&mut batch, &mut partial, lines, ev);
                    next = if bytes < BATCH_BYTES { rx.try_recv().ok() } else { None };
                }
            }
            if ended {
                for (i, rest) in partial.iter_mut().enumerate() {
                    if let Some(line) = rest.finish() {
                        batch.push((i as u8 + 1, line));
                    }
                }
            }
            *cell.lock().unwrap_or_else(|p| p.into_inner()) = partial;
            deliver(move |lua| batch_table(lua, batch))
        })
    })?;
    let finish = bridge::function(lua, name, |lua, stream: UserDataRef<OutputStream>| {
        match stream.outcome.lock().unwrap_or_else(|p| p.into_inner()).take() {
            Some(Ok(r)) => error::pair(lua, Ok(result_table(lua, r)?)),
            Some(Err(e)) => error::pair::<Value>(lua, Err(e)),
            None => error::pair::<Value>(lua, Err(Error::new(Kind::Internal, "the command ended without a result"))),
        }
    })?;
    let native = lua.create_table()?;
    native.raw_set("plain", plain)?;
    native.raw_set("start", start)?;
    native.raw_set("next_batch", next_batch)?;
    native.raw_set("finish", finish)?;
    native.raw_set("at", at)?;
    runner_factory(lua)?.call(native)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(chunks: &[&[u8]]) -> Vec<(Vec<u8>, bool)> {
        let mut lines = Lines::default();
        let mut out = Vec::new();
        for chunk in chunks {
            lines.push(chunk, |line, partial| out.push((line, partial)));
        }
        out.extend(lines.finish().map(|l| (l, false)));
        out
    }

    #[test]
    fn lines_split_across_chunks_without_their_endings() {
        let out = split(&[b"a\r\nb", b"c\n", b"\n", b"tail"]);
        let expected: Vec<(Vec<u8>, bool)> =
            vec![(b"a".to_vec(), false), (b"bc".to_vec(), false), (b"".to_vec(), false), (b"tail".to_vec(), false)];
        assert_eq!(out, expected);
    }

    #[test]
    fn a_line_ending_in_the_chunk_that_overfills_the_bound_still_leaves_in_pieces() {
        let mut big = vec![b'x'; MAX_PENDING_LINE - 10];
        let mut lines = Lines::default();
        let mut out = Vec::new();
        lines.push(&big, |l, p| out.push((l.len(), p)));
        big.truncate(20);
        big.extend_from_slice(b"\nnext\n");
        lines.push(&big, |l, p| out.push((l.len(), p)));
        assert_eq!(out, vec![(MAX_PENDING_LINE, true), (10, false), (4, false)]);
    }

    #[test]
    fn a_long_line_leaves_in_bounded_pieces_marked_partial() {
        let chunk = vec![b'x'; 4096];
        let mut lines = Lines::default();
        let mut pieces = Vec::new();
        for _ in 0..8192 {
            lines.push(&chunk, |line, partial| pieces.push((line.len(), partial)));
            assert!(lines.pending.len() <= MAX_PENDING_LINE, "the unfinished line stays bounded");
        }
        lines.push(b"end\n", |line, partial| pieces.push((line.len(), partial)));
        assert_eq!(pieces.len(), 8192 * 4096 / MAX_PENDING_LINE + 1);
        assert!(pieces[..pieces.len() - 1].iter().all(|&(n, partial)| n == MAX_PENDING_LINE && partial));
        assert_eq!(pieces.last(), Some(&(3, false)));
    }
}
