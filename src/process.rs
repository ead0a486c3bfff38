//! process: local commands (the local backend of tasks), waiting like ssh's: blocking in
//! plain code, yielding in tasks, with live output and a kill on timeout.

use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

use mlua::{Lua, Result, Table, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::Command;

use crate::command::{CommandResult, Event, Prepared, Sink};
use crate::error::{Error, Kind};
use crate::func;
use crate::bridge::{Need, Class, ModuleDef, TypeDef};
use crate::runtime::duration;

pub static DEFINITION: ModuleDef = ModuleDef {
    name: "process",
    description: "Local commands: argv or a shell command line, with env, cwd, stdin, timeout and live output",
    classes: &[Class::Io],
    functions: &[func!(
        "run",
        "Runs argv (a list: no shell) or a command line (through /bin/sh -c). A non-zero exit is a result; failing to start, or the timeout, is an error.",
        [command: "string|string[]", options: "process.Options?"],
        [result: "ssh.ExecResult?", err: "essh.Error?"]
    ).needs(&[Need::command("run", 0)])],
    constants: &[],
    types: &[TypeDef::record("process.Options", "", &[
            crate::typed!(env: "table<string, string>?", "Added to (or replacing) this process's environment."),
            crate::typed!(cwd: "string?", "Working directory."),
            crate::typed!(stdin: "(string|fun(): string?)?", "Input: a string, or a function returning chunks until nil."),
            crate::typed!(timeout: "number?", "Seconds; then the command is killed and an error returned."),
            crate::typed!(on_stdout: "fun(chunk: string)?", "Receives output live instead of collecting it."),
            crate::typed!(on_stderr: "fun(chunk: string)?", "Receives error output live instead of collecting it."),
            crate::typed!(lines: "boolean?", "Callbacks receive whole lines, without the newline; a line over 64 KiB comes in pieces, each but the last with true as a second argument."),
        ])],
    build,
};

/// A command to run, as plain data.
pub struct Spec {
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
    pub cwd: Option<String>,
    pub stdin: Option<Vec<u8>>,
    pub timeout: Option<Duration>,
}

/// The usual name of a signal number.
pub fn signal_name(n: i32) -> String {
    let name = match n {
        1 => "HUP",
        2 => "INT",
        3 => "QUIT",
        4 => "ILL",
        6 => "ABRT",
        8 => "FPE",
        9 => "KILL",
        10 => "USR1",
        11 => "SEGV",
        12 => "USR2",
        13 => "PIPE",
        14 => "ALRM",
        15 => "TERM",
        _ => return format!("SIG{n}"),
    };
    name.to_owned()
}

/// Forwards one output stream; the bounded channel makes a fast command wait for its reader.
async fn pump<R: tokio::io::AsyncRead + Unpin>(mut from: R, stdout: bool, tx: tokio::sync::mpsc::Sender<Event>) {
    let mut buf = vec![0u8; 64 * 1024];
    while let Ok(n) = from.read(&mut buf).await {
        if n == 0 {
            break;
        }
        let data = buf[..n].to_vec();
        if tx.send(if stdout { Event::Stdout(data) } else { Event::Stderr(data) }).await.is_err() {
            break;
        }
    }
}

/// Runs `spec`, streaming its output to `sink` when given.
pub async fn run(spec: Spec, sink: Option<Sink>) -> crate::error::Result<CommandResult> {
    let started = Instant::now();
    let shown = spec.argv.join(" ");
    let mut cmd = Command::new(&spec.argv[0]);
    cmd.args(&spec.argv[1..])
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .stdin(if spec.stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if let Some(dir) = &spec.cwd {
        cmd.current_dir(dir);
    }
    let mut child = cmd.spawn().map_err(|e| Error::from_io(&e, "start", &spec.argv[0]))?;
    if let (Some(data), Some(mut stdin)) = (spec.stdin, child.stdin.take()) {
        tokio::spawn(async move {
            let _ = stdin.write_all(&data).await;
        });
    }
    let (tx, mut rx) = tokio::sync::mpsc::channel(64);
    let out = tokio::spawn(pump(
        child.stdout.take().ok_or_else(|| Error::new(Kind::Internal, "no stdout"))?,
        true,
        tx.clone(),
    ));
    let err =
        tokio::spawn(pump(child.stderr.take().ok_or_else(|| Error::new(Kind::Internal, "no stderr"))?, false, tx));
    let mut result = CommandResult::default();
    let work = async {
        while let Some(ev) = rx.recv().await {
            result.take(&sink, ev).await;
        }
        let _ = (out.await, err.await);
        child.wait().await
    };
    let status = match spec.timeout {
        Some(limit) => match tokio::time::timeout(limit, work).await {
            Ok(status) => status,
            Err(_) => {
                return Err(Error::new(
                    Kind::Timeout,
                    format!("`{shown}` timed out after {}s and was killed", limit.as_secs_f64()),
                )
                .with("command", shown));
            }
        },
        None => work.await,
    }
    .map_err(|e| Error::from_io(&e, "wait for", &shown))?;
    result.exit_status = status.code().map(|c| c as u32);
    result.signal = status.signal().map(signal_name);
    result.duration = started.elapsed();
    Ok(result)
}

fn spec_of(command: Value, options: Option<&Table>) -> Result<(Spec, bool)> {
    const W: &str = "process.run";
    let argv = match command {
        Value::String(s) => vec!["/bin/sh".into(), "-c".into(), s.to_str()?.to_string()],
        Value::Table(t) => t.sequence_values::<String>().collect::<Result<Vec<_>>>()?,
        other => {
            return Err(mlua::Error::runtime(format!(
                "bad argument #1 to '{W}' (string or list expected, got {})",
                other.type_name()
            )))
        }
    };
    if argv.is_empty() {
        return Err(mlua::Error::runtime(format!("{W}: the argument list is empty")));
    }
    let mut spec = Spec { argv, env: Vec::new(), cwd: None, stdin: None, timeout: None };
    let mut lines = false;
    if let Some(t) = options {
        let known = ["env", "cwd", "stdin", "timeout", "on_stdout", "on_stderr", "lines"];
        if let Some(k) = crate::bridge::unknown_option(t, &known)? {
            return Err(mlua::Error::runtime(format!("{W}: unknown option '{k}'")));
        }
        if let Some(env) = t.raw_get::<Option<Table>>("env")? {
            for pair in env.pairs::<String, String>() {
                spec.env.push(pair?);
            }
        }
        spec.cwd = t.raw_get("cwd")?;
        spec.stdin = match t.raw_get::<Value>("stdin")? {
            Value::String(s) => Some(s.as_bytes().to_vec()),
            _ => None,
        };
        spec.timeout = t.raw_get::<Option<f64>>("timeout")?.map(|s| duration(s, W)).transpose()?;
        lines = t.raw_get::<Option<bool>>("lines")?.unwrap_or(false);
    }
    Ok((spec, lines))
}

fn build(lua: &Lua, m: &Table) -> Result<()> {
    let run_fn = crate::command::runner(lua, "process.run", 2, |_, (command, options): (Value, Option<Table>)| {
        let (spec, lines) = spec_of(command, options.as_ref())?;
        Ok(Prepared { lines, run: Box::new(move |sink| Box::pin(run(spec, sink))) })
    })?;
    m.raw_set("run", run_fn)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_have_their_usual_names() {
        assert_eq!(signal_name(9), "KILL");
        assert_eq!(signal_name(15), "TERM");
        assert_eq!(signal_name(64), "SIG64");
    }
}
