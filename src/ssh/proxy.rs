//! ProxyCommand: the command's stdin and stdout carry the connection; its stderr reaches the
//! user; it is ended with the connection.

use tokio::process::{Child, ChildStdin, ChildStdout};

use crate::error::{Error, Kind, Result};

/// A running ProxyCommand; dropped, it is killed.
pub struct Proxy {
    child: Child,
    command: String,
}

/// Starts `command` as OpenSSH does (`$SHELL -c "exec command"`): its pipes as one stream.
pub fn spawn(command: &str, label: &str) -> Result<(tokio::io::Join<ChildStdout, ChildStdin>, Proxy)> {
    let shell = crate::env::get("SHELL").filter(|s| !s.is_empty()).unwrap_or_else(|| "/bin/sh".into());
    let mut child = tokio::process::Command::new(&shell)
        .arg("-c")
        .arg(format!("exec {command}"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            Error::new(Kind::Network, format!("cannot start the ProxyCommand of {label} ({shell} -c {command}): {e}"))
                .with("host", label.to_owned())
        })?;
    let (Some(stdout), Some(stdin)) = (child.stdout.take(), child.stdin.take()) else {
        return Err(Error::new(Kind::Network, format!("the ProxyCommand of {label} has no pipes")));
    };
    Ok((tokio::io::join(stdout, stdin), Proxy { child, command: command.to_owned() }))
}

impl Proxy {
    /// `err`, with how the command ended when it has (a proxy that fails ends the connection).
    pub async fn explain(&mut self, err: Error) -> Error {
        let waited = tokio::time::timeout(std::time::Duration::from_millis(200), self.child.wait()).await;
        match waited {
            Ok(Ok(status)) if !status.success() => Error::new(
                err.kind,
                format!("{} (the ProxyCommand '{}' ended with {status})", err.message, self.command),
            ),
            _ => err,
        }
    }
}
