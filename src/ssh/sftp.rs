//! SFTP (russh-sftp): pipelined uploads and downloads, atomic by default, and small file
//! operations. Transfers keep many requests in flight, so throughput does not wait on round trips.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use futures::stream::{FuturesUnordered, StreamExt};
use mlua::{Lua, LuaString, Result, Table, UserData, UserDataRef};
use russh_sftp::client::error::Error as SftpError;
use russh_sftp::client::RawSftpSession;
use russh_sftp::protocol::{FileAttributes, OpenFlags, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::session::{session_error, Connection};
use super::Session;
use crate::error::{Error, Kind, Result as EsshResult};
use crate::bridge;
use crate::runtime::deliver;

/// Bytes per read or write request: OpenSSH's sftp-server accepts up to 255 KiB.
const CHUNK: usize = 128 * 1024;
/// Requests in flight during a transfer.
const IN_FLIGHT: usize = 32;

/// Opens the sftp subsystem on a new channel of `conn`.
pub async fn open(conn: &Connection) -> EsshResult<Arc<RawSftpSession>> {
    let label = &conn.label;
    let channel = conn.handle.channel_open_session().await.map_err(|e| session_error(label, e))?;
    channel.request_subsystem(true, "sftp").await.map_err(|e| session_error(label, e))?;
    let sftp = RawSftpSession::new(channel.into_stream());
    sftp.set_timeout(120);
    sftp.init().await.map_err(|e| sftp_error(label, "start sftp", "", e))?;
    Ok(Arc::new(sftp))
}

fn sftp_error(label: &str, action: &str, path: &str, err: SftpError) -> Error {
    let (kind, what) = match &err {
        SftpError::Status(s) => match s.status_code {
            StatusCode::NoSuchFile => (Kind::NotFound, "no such file".to_owned()),
            StatusCode::PermissionDenied => (Kind::PermissionDenied, "permission denied".to_owned()),
            _ if s.error_message.is_empty() => (Kind::Remote, s.status_code.to_string()),
            _ => (Kind::Remote, s.error_message.clone()),
        },
        SftpError::Timeout => (Kind::Timeout, "the server did not answer in time".to_owned()),
        SftpError::IO(e) => (Kind::Network, e.clone()),
        other => (Kind::Remote, other.to_string()),
    };
    let target = if path.is_empty() { String::new() } else { format!(" {path}") };
    Error::new(kind, format!("cannot {action}{target} on {label}: {what}")).with("host", label).with("path", path)
}

fn local_error(err: &std::io::Error, action: &str, path: &Path) -> Error {
    Error::from_io(err, action, &path.display().to_string())
}

/// SSH string encoding, for extension requests.
fn ssh_string(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_be_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// Renames over an existing file: posix-rename@openssh.com, else remove and rename.
async fn replace(sftp: &RawSftpSession, from: &str, to: &str) -> std::result::Result<(), SftpError> {
    let mut data = Vec::new();
    ssh_string(&mut data, from);
    ssh_string(&mut data, to);
    match sftp.extended("posix-rename@openssh.com", data).await {
        Ok(russh_sftp::protocol::Packet::Status(s)) if s.status_code == StatusCode::Ok => Ok(()),
        _ => {
            let _ = sftp.remove(to).await;
            sftp.rename(from, to).await.map(|_| ())
        }
    }
}

/// Removes a temporary remote file unless the transfer was committed, even when the transfer
/// is cancelled midway.
struct RemoteLeftover {
    sftp: Arc<RawSftpSession>,
    path: Option<String>,
}

impl Drop for RemoteLeftover {
    fn drop(&mut self) {
        if let Some(path) = self.path.take() {
            let sftp = self.sftp.clone();
            crate::runtime::spawn_cleanup(async move {
                let _ = sftp.remove(path).await;
            });
        }
    }
}

/// Uploads `local` to `remote`; returns the bytes sent. The file gets `mode`, or the local
/// file's mode, from its creation on (the temporary file too), as `scp` and `sftp -p` keep it.
pub async fn upload(
    conn: Arc<Connection>,
    local: PathBuf,
    remote: String,
    mode: Option<u32>,
    atomic: bool,
) -> EsshResult<u64> {
    let label = conn.label.clone();
    let mut file = tokio::fs::File::open(&local).await.map_err(|e| local_error(&e, "open", &local))?;
    let source_mode = {
        use std::os::unix::fs::PermissionsExt;
        file.metadata().await.map_err(|e| local_error(&e, "stat", &local))?.permissions().mode() & 0o7777
    };
    let mode = mode.unwrap_or(source_mode);
    let sftp = open(&conn).await?;
    let target = if atomic { crate::fs::temporary_beside(&remote) } else { remote.clone() };
    let mut leftover = RemoteLeftover { sftp: sftp.clone(), path: atomic.then(|| target.clone()) };
    let attrs = FileAttributes { permissions: Some(mode), ..Default::default() };
    let flags = OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::TRUNCATE;
    let handle =
        sftp.open(target.clone(), flags, attrs).await.map_err(|e| sftp_error(&label, "create", &target, e))?.handle;
    let mut offset = 0u64;
    let mut pending = FuturesUnordered::new();
    let mut done = false;
    while !done || !pending.is_empty() {
        while !done && pending.len() < IN_FLIGHT {
            let mut buf = vec![0u8; CHUNK];
            let n = read_full(&mut file, &mut buf).await.map_err(|e| local_error(&e, "read", &local))?;
            if n == 0 {
                done = true;
                break;
            }
            buf.truncate(n);
            let at = offset;
            offset += n as u64;
            let (sftp, handle) = (sftp.clone(), handle.clone());
            pending.push(async move { sftp.write(handle, at, buf).await });
        }
        if let Some(result) = pending.next().await {
            result.map_err(|e| sftp_error(&label, "write", &target, e))?;
        }
    }
    // The server's umask may have narrowed the mode asked at creation.
    let attrs = FileAttributes { permissions: Some(mode), ..Default::default() };
    sftp.fsetstat(handle.clone(), attrs).await.map_err(|e| sftp_error(&label, "chmod", &target, e))?;
    sftp.close(handle).await.map_err(|e| sftp_error(&label, "close", &target, e))?;
    if atomic {
        replace(&sftp, &target, &remote).await.map_err(|e| sftp_error(&label, "rename into", &remote, e))?;
        leftover.path = None;
    }
    Ok(offset)
}

async fn read_full(file: &mut tokio::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        let n = file.read(&mut buf[filled..]).await?;
        if n == 0 {
            break;
        }
        filled += n;
    }
    Ok(filled)
}

/// Downloads `remote` to `local`; returns the bytes received. The file gets `mode`, or the
/// remote file's mode, from its creation on (the temporary file too).
pub async fn download(
    conn: Arc<Connection>,
    remote: String,
    local: PathBuf,
    mode: Option<u32>,
    atomic: bool,
) -> EsshResult<u64> {
    let label = conn.label.clone();
    let sftp = open(&conn).await?;
    let attrs = sftp.stat(remote.clone()).await.map_err(|e| sftp_error(&label, "stat", &remote, e))?.attrs;
    let size = attrs.size;
    let mode = mode.or(attrs.permissions.map(|p| p & 0o7777)).unwrap_or(0o600);
    let handle = sftp
        .open(remote.clone(), OpenFlags::READ, FileAttributes::default())
        .await
        .map_err(|e| sftp_error(&label, "open", &remote, e))?
        .handle;
    let local_text = local.display().to_string();
    let target = if atomic { PathBuf::from(crate::fs::temporary_beside(&local_text)) } else { local.clone() };
    let mut file = tokio::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&target)
        .await
        .map_err(|e| local_error(&e, "create", &target))?;
    let guard = crate::fs::Leftover::new(atomic.then(|| target.clone()));
    {
        use std::os::unix::fs::PermissionsExt;
        // The umask may have narrowed the mode asked at creation.
        file.set_permissions(std::fs::Permissions::from_mode(mode))
            .await
            .map_err(|e| local_error(&e, "chmod", &target))?;
    }
    let received = async {
        let mut next_offset = 0u64;
        let mut written = 0u64;
        let mut eof = false;
        let mut in_flight: VecDeque<_> = VecDeque::new();
        loop {
            // Keep requests in flight up to the known size; past it, one request finds EOF.
            while !eof && in_flight.len() < IN_FLIGHT && (size.is_none_or(|s| next_offset < s) || in_flight.is_empty())
            {
                let (sftp, handle, at) = (sftp.clone(), handle.clone(), next_offset);
                in_flight.push_back((at, tokio::spawn(async move { sftp.read(handle, at, CHUNK as u32).await })));
                next_offset += CHUNK as u64;
            }
            let Some((at, request)) = in_flight.pop_front() else { break };
            let result = request.await.map_err(|_| Error::new(Kind::Internal, "a read task failed"))?;
            match result {
                Ok(data) => {
                    if at != written {
                        return Err(Error::new(Kind::Remote, format!("{remote} changed size during the download")));
                    }
                    file.write_all(&data.data).await.map_err(|e| local_error(&e, "write", &target))?;
                    written += data.data.len() as u64;
                    if data.data.len() < CHUNK {
                        // A short read: re-aim every later request at the true position.
                        for (_, r) in in_flight.drain(..) {
                            r.abort();
                        }
                        next_offset = written;
                    }
                }
                Err(SftpError::Status(s)) if s.status_code == StatusCode::Eof => {
                    eof = true;
                    for (_, r) in in_flight.drain(..) {
                        r.abort();
                    }
                }
                Err(e) => return Err(sftp_error(&label, "read", &remote, e)),
            }
        }
        Ok(written)
    }
    .await?;
    let _ = sftp.close(handle).await;
    file.flush().await.map_err(|e| local_error(&e, "write", &target))?;
    file.sync_all().await.map_err(|e| local_error(&e, "sync", &target))?;
    drop(file);
    if atomic {
        tokio::fs::rename(&target, &local).await.map_err(|e| local_error(&e, "rename into", &local))?;
    }
    guard.commit();
    Ok(received)
}

/// An SFTP client as Lua holds it.
pub struct Sftp {
    raw: Arc<RawSftpSession>,
    label: String,
    names: Arc<[String]>,
}

/// The names of the host of the SFTP client that is `args[0]`.
pub(super) fn resources(args: &mlua::MultiValue) -> crate::bridge::Resources {
    super::names_of::<Sftp>(args, |s| s.names.clone())
}

impl UserData for Sftp {
    fn add_fields<F: mlua::UserDataFields<Self>>(fields: &mut F) {
        fields.add_meta_field_with("__index", method_index);
        fields.add_meta_field("__name", "ssh.Sftp");
    }
}

fn attrs_table(lua: &Lua, a: &FileAttributes) -> Result<Table> {
    let t = lua.create_table()?;
    t.raw_set("size", a.size)?;
    t.raw_set("uid", a.uid)?;
    t.raw_set("gid", a.gid)?;
    t.raw_set("mtime", a.mtime)?;
    t.raw_set("atime", a.atime)?;
    if let Some(p) = a.permissions {
        t.raw_set("mode", p & 0o7777)?;
        let kind = match p & 0o170000 {
            0o040000 => "directory",
            0o120000 => "symlink",
            0o100000 => "file",
            _ => "other",
        };
        t.raw_set("type", kind)?;
    }
    Ok(t)
}

fn transfer_options(options: Option<&Table>, what: &str) -> Result<(Option<u32>, bool)> {
    let Some(t) = options else { return Ok((None, true)) };
    if let Some(k) = bridge::unknown_option(t, &["mode", "atomic"])? {
        return Err(mlua::Error::runtime(format!("{what}: unknown option '{k}' (known: mode, atomic)")));
    }
    Ok((t.raw_get::<Option<u32>>("mode")?, t.raw_get::<Option<bool>>("atomic")?.unwrap_or(true)))
}

pub fn add_methods(lua: &Lua, m: &Table) -> Result<()> {
    m.raw_set(
        "upload",
        crate::runtime::waiting(
            lua,
            "session:upload",
            |_, (s, local, remote, options): (UserDataRef<Session>, String, String, Option<Table>)| {
                let conn = s.connection()?;
                let (mode, atomic) = transfer_options(options.as_ref(), "session:upload")?;
                Ok(async move {
                    let n = upload(conn, local.into(), remote, mode, atomic).await?;
                    deliver(move |_| Ok(n))
                })
            },
        )?,
    )?;
    m.raw_set(
        "download",
        crate::runtime::waiting(
            lua,
            "session:download",
            |_, (s, remote, local, options): (UserDataRef<Session>, String, String, Option<Table>)| {
                let conn = s.connection()?;
                let (mode, atomic) = transfer_options(options.as_ref(), "session:download")?;
                Ok(async move {
                    let n = download(conn, remote, local.into(), mode, atomic).await?;
                    deliver(move |_| Ok(n))
                })
            },
        )?,
    )?;
    m.raw_set(
        "sftp",
        crate::runtime::waiting(lua, "session:sftp", |_, s: UserDataRef<Session>| {
            let conn = s.connection()?;
            let names = s.names.clone();
            Ok(async move {
                let raw = open(&conn).await?;
                let label = conn.label.clone();
                deliver(move |lua| lua.create_userdata(Sftp { raw, label, names }))
            })
        })?,
    )?;
    Ok(())
}

/// The methods of ssh.Sftp.
pub fn method_index(lua: &Lua) -> Result<Table> {
    bridge::method_table(lua, "essh_native.ssh.Sftp", sftp_methods)
}

fn sftp_methods(lua: &Lua, m: &Table) -> Result<()> {
    m.raw_set(
        "stat",
        crate::runtime::waiting(lua, "sftp:stat", |_, (s, path): (UserDataRef<Sftp>, String)| {
            let (raw, label) = (s.raw.clone(), s.label.clone());
            Ok(async move {
                let a = raw.stat(path.clone()).await.map_err(|e| sftp_error(&label, "stat", &path, e))?.attrs;
                deliver(move |lua| attrs_table(lua, &a))
            })
        })?,
    )?;
    m.raw_set(
        "list",
        crate::runtime::waiting(lua, "sftp:list", |_, (s, path): (UserDataRef<Sftp>, String)| {
            let (raw, label) = (s.raw.clone(), s.label.clone());
            Ok(async move {
                let handle = raw.opendir(path.clone()).await.map_err(|e| sftp_error(&label, "list", &path, e))?.handle;
                let mut entries = Vec::new();
                loop {
                    match raw.readdir(handle.clone()).await {
                        Ok(name) => {
                            entries.extend(name.files.into_iter().filter(|f| f.filename != "." && f.filename != ".."))
                        }
                        Err(SftpError::Status(st)) if st.status_code == StatusCode::Eof => break,
                        Err(e) => return Err(sftp_error(&label, "list", &path, e)),
                    }
                }
                let _ = raw.close(handle).await;
                entries.sort_by(|a, b| a.filename.cmp(&b.filename));
                deliver(move |lua| {
                    let list = lua.create_table()?;
                    for f in entries {
                        let t = attrs_table(lua, &f.attrs)?;
                        t.raw_set("name", f.filename)?;
                        list.raw_push(t)?;
                    }
                    Ok(list)
                })
            })
        })?,
    )?;
    m.raw_set(
        "mkdir",
        crate::runtime::waiting(lua, "sftp:mkdir", |_, (s, path, mode): (UserDataRef<Sftp>, String, Option<u32>)| {
            let (raw, label) = (s.raw.clone(), s.label.clone());
            Ok(async move {
                let attrs = FileAttributes { permissions: Some(mode.unwrap_or(0o755)), ..Default::default() };
                raw.mkdir(path.clone(), attrs).await.map_err(|e| sftp_error(&label, "mkdir", &path, e))?;
                deliver(|_| Ok(true))
            })
        })?,
    )?;
    m.raw_set(
        "remove",
        crate::runtime::waiting(lua, "sftp:remove", |_, (s, path): (UserDataRef<Sftp>, String)| {
            let (raw, label) = (s.raw.clone(), s.label.clone());
            Ok(async move {
                let is_dir = raw.lstat(path.clone()).await.map(|a| a.attrs.is_dir()).unwrap_or(false);
                let result = if is_dir { raw.rmdir(path.clone()).await } else { raw.remove(path.clone()).await };
                result.map_err(|e| sftp_error(&label, "remove", &path, e))?;
                deliver(|_| Ok(true))
            })
        })?,
    )?;
    m.raw_set(
        "rename",
        crate::runtime::waiting(lua, "sftp:rename", |_, (s, from, to): (UserDataRef<Sftp>, String, String)| {
            let (raw, label) = (s.raw.clone(), s.label.clone());
            Ok(async move {
                raw.rename(from.clone(), to).await.map_err(|e| sftp_error(&label, "rename", &from, e))?;
                deliver(|_| Ok(true))
            })
        })?,
    )?;
    m.raw_set(
        "read",
        crate::runtime::waiting(lua, "sftp:read", |_, (s, path): (UserDataRef<Sftp>, String)| {
            let (raw, label) = (s.raw.clone(), s.label.clone());
            Ok(async move {
                let data = read_small(&raw, &path).await.map_err(|e| sftp_error(&label, "read", &path, e))?;
                deliver(move |lua| lua.create_string(&data))
            })
        })?,
    )?;
    m.raw_set(
        "write",
        crate::runtime::waiting(
            lua,
            "sftp:write",
            |_, (s, path, data, mode): (UserDataRef<Sftp>, String, LuaString, Option<u32>)| {
                let (raw, label) = (s.raw.clone(), s.label.clone());
                let data = data.as_bytes().to_vec();
                Ok(async move {
                    write_small(&raw, &path, data, mode).await.map_err(|e| sftp_error(&label, "write", &path, e))?;
                    deliver(|_| Ok(true))
                })
            },
        )?,
    )?;
    Ok(())
}

async fn read_small(raw: &RawSftpSession, path: &str) -> std::result::Result<Vec<u8>, SftpError> {
    let handle = raw.open(path, OpenFlags::READ, FileAttributes::default()).await?.handle;
    let mut out = Vec::new();
    loop {
        match raw.read(handle.clone(), out.len() as u64, CHUNK as u32).await {
            Ok(d) if d.data.is_empty() => break,
            Ok(d) => out.extend_from_slice(&d.data),
            Err(SftpError::Status(s)) if s.status_code == StatusCode::Eof => break,
            Err(e) => {
                let _ = raw.close(handle).await;
                return Err(e);
            }
        }
    }
    raw.close(handle).await?;
    Ok(out)
}

async fn write_small(
    raw: &RawSftpSession,
    path: &str,
    data: Vec<u8>,
    mode: Option<u32>,
) -> std::result::Result<(), SftpError> {
    let tmp = crate::fs::temporary_beside(path);
    let attrs = FileAttributes { permissions: Some(mode.unwrap_or(0o644)), ..Default::default() };
    let handle = raw.open(tmp.clone(), OpenFlags::WRITE | OpenFlags::CREATE | OpenFlags::TRUNCATE, attrs).await?.handle;
    let mut offset = 0u64;
    for chunk in data.chunks(CHUNK) {
        if let Err(e) = raw.write(handle.clone(), offset, chunk.to_vec()).await {
            let _ = raw.close(handle).await;
            let _ = raw.remove(tmp).await;
            return Err(e);
        }
        offset += chunk.len() as u64;
    }
    if let Some(mode) = mode {
        raw.fsetstat(handle.clone(), FileAttributes { permissions: Some(mode), ..Default::default() }).await?;
    }
    raw.close(handle).await?;
    if let Err(e) = replace(raw, &tmp, path).await {
        let _ = raw.remove(tmp).await;
        return Err(e);
    }
    Ok(())
}
