//! fs: files and directories. Writes are atomic by default (temporary file, fsync, rename), so a
//! crash or an interrupted write never leaves a half-written destination.

use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use mlua::{Lua, LuaString, MultiValue, Result, Table, Value};

use crate::error::{self, Error};
use crate::func;
use crate::bridge::{Need, export, Class, ModuleDef, TypeDef};

pub static DEFINITION: ModuleDef = ModuleDef {
    name: "fs",
    description: "Files and directories: atomic writes, stat, list, glob, copy, move, temporary files, paths",
    classes: &[Class::Io],
    functions: &[
        func!("read", "The whole content of a file.", [path: "string"], [data: "string?", err: "essh.Error?"]).needs(&[Need::arg("read", 0)]),
        func!("write", "Writes a whole file, atomically unless told otherwise.", [path: "string", data: "string", options: "fs.WriteOptions?"], [ok: "true?", err: "essh.Error?"]).needs(&[Need::arg("write", 0)]),
        func!("append", "Appends to a file, creating it when missing.", [path: "string", data: "string"], [ok: "true?", err: "essh.Error?"]).needs(&[Need::arg("write", 0)]),
        func!("exists", "Whether a path exists (a dangling symlink does not).", [path: "string"], [exists: "boolean"]).needs(&[Need::arg("read", 0)]),
        func!("stat", "size, mode, type (file, directory, symlink, other), mtime, atime, uid, gid; symlink tells whether the path itself is a link.", [path: "string"], [stat: "fs.Stat?", err: "essh.Error?"]).needs(&[Need::arg("read", 0)]),
        func!("mkdir", "Creates a directory (and its parents with {parents = true}).", [path: "string", options: "fs.MkdirOptions?"], [ok: "true?", err: "essh.Error?"]).needs(&[Need::arg("write", 0)]),
        func!("list", "The names in a directory, sorted, without . and ..", [path: "string"], [names: "string[]?", err: "essh.Error?"]).needs(&[Need::arg("read", 0)]),
        func!("glob", "Paths matching a pattern (* ? [abc] and ** across directories), sorted.", [pattern: "string"], [paths: "string[]"]).needs(&[Need::arg("read", 0)]),
        func!("remove", "Removes a file or an empty directory; a directory tree only with {recursive = true}.", [path: "string", options: "fs.RemoveOptions?"], [ok: "true?", err: "essh.Error?"]).needs(&[Need::arg("write", 0)]),
        func!("copy", "Copies a file (with its mode), atomically.", [from: "string", to: "string"], [ok: "true?", err: "essh.Error?"]).needs(&[Need::arg("read", 0), Need::arg("write", 1)]),
        func!("move", "Moves a file or directory (across file systems too).", [from: "string", to: "string"], [ok: "true?", err: "essh.Error?"]).needs(&[Need::arg("write", 0), Need::arg("write", 1)]),
        func!("tempdir", "Creates a new private directory under the system's temporary directory.", [prefix: "string?"], [path: "string?", err: "essh.Error?"]).needs(&[Need::any("write")]),
        func!("tempfile", "Creates a new private empty file under the system's temporary directory.", [prefix: "string?"], [path: "string?", err: "essh.Error?"]).needs(&[Need::any("write")]),
        func!("join", "Joins path parts with /; an absolute part starts over.", [parts: "string ..."], [path: "string"]),
        func!("dirname", "The directory part of a path.", [path: "string"], [dir: "string"]),
        func!("basename", "The last part of a path.", [path: "string"], [name: "string"]),
        func!("abspath", "An absolute, normalized path (symlinks are not resolved).", [path: "string"], [path: "string"]),
        func!("chmod", "Sets a path's permission bits.", [path: "string", mode: "integer"], [ok: "true?", err: "essh.Error?"]).needs(&[Need::arg("write", 0)]),
        func!("symlink", "Creates a symbolic link at link pointing to target.", [target: "string", link: "string"], [ok: "true?", err: "essh.Error?"]).needs(&[Need::arg("write", 1)]),
        func!("realpath", "The absolute path with every symbolic link resolved; the path must exist.", [path: "string"], [path: "string?", err: "essh.Error?"]).needs(&[Need::arg("read", 0)]),
        func!("remove_at_exit", "Removes path (a directory with everything in it) when this program exits.", [path: "string"], []).needs(&[Need::arg("write", 0)]),
        func!("getcwd", "The working directory of this process.", [], [path: "string?", err: "essh.Error?"]),
        func!("chdir", "Changes the working directory of this process.", [path: "string"], [ok: "true?", err: "essh.Error?"]).needs(&[Need::arg("read", 0)]),
    ],
    constants: &[],
    types: &[
        TypeDef::record("fs.WriteOptions", "", &[
                crate::typed!(atomic: "boolean?", "Temporary file, fsync, rename (default true)."),
                crate::typed!(mode: "integer?", "Permission bits of a new file."),
            ]),
        TypeDef::record("fs.MkdirOptions", "", &[
                crate::typed!(parents: "boolean?", "Create missing parents; an existing directory is fine."),
                crate::typed!(mode: "integer?", "Permission bits (default 0755)."),
            ]),
        TypeDef::record("fs.RemoveOptions", "", &[crate::typed!(recursive: "boolean?", "Remove a directory and everything in it.")]),
        TypeDef::record("fs.Stat", "", &[
                crate::typed!(size: "integer"),
                crate::typed!(mode: "integer", "Permission bits."),
                crate::typed!(type: "\"file\"|\"directory\"|\"symlink\"|\"other\""),
                crate::typed!(symlink: "boolean", "The path itself is a symbolic link."),
                crate::typed!(mtime: "number"),
                crate::typed!(atime: "number"),
                crate::typed!(uid: "integer"),
                crate::typed!(gid: "integer"),
            ]),
    ],
    build,
};

/// Paths removed when the program exits (or this library is unloaded).
static REMOVE_AT_EXIT: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
static REMOVAL_REGISTERED: std::sync::Once = std::sync::Once::new();

extern "C" fn remove_registered_paths() {
    let paths = std::mem::take(&mut *REMOVE_AT_EXIT.lock().unwrap_or_else(|p| p.into_inner()));
    for path in paths {
        let _ = match std::fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() => std::fs::remove_dir_all(&path),
            Ok(_) => std::fs::remove_file(&path),
            Err(_) => Ok(()),
        };
    }
}

/// Has `path` removed when the program exits.
pub fn remove_at_exit(path: String) {
    REMOVAL_REGISTERED.call_once(|| {
        // SAFETY: a plain extern "C" function without arguments; glibc runs it at exit, or when
        // this library is unloaded.
        unsafe { libc::atexit(remove_registered_paths) };
    });
    REMOVE_AT_EXIT.lock().unwrap_or_else(|p| p.into_inner()).push(path);
}

/// A fresh temporary name beside `path`: `dir/.name.essh-<random>.tmp`.
pub fn temporary_beside(path: &str) -> String {
    let mut random = [0u8; 6];
    let _ = getrandom::fill(&mut random);
    let tag = crate::crypto::to_hex(&random);
    let (dir, name) = match path.rsplit_once('/') {
        Some((dir, name)) => (format!("{dir}/"), name),
        None => (String::new(), path),
    };
    format!("{dir}.{name}.essh-{tag}.tmp")
}

/// Removes a temporary file when dropped, unless the work that made it committed it.
pub struct Leftover(Option<PathBuf>);

impl Leftover {
    /// Guards `path`, or nothing when it is None (a transfer that writes in place).
    pub fn new(path: Option<impl Into<PathBuf>>) -> Self {
        Leftover(path.map(Into::into))
    }

    pub fn commit(mut self) {
        self.0 = None;
    }
}

impl Drop for Leftover {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Writes `bytes` to `path` through a temporary file that is synced, then renamed over it.
pub fn write_atomically(path: &str, bytes: &[u8], mode: Option<u32>) -> error::Result<()> {
    let temp = temporary_beside(path);
    let leftover = Leftover::new(Some(&temp));
    let mut file = std::fs::File::create(&temp).map_err(|e| Error::from_io(&e, "create", &temp))?;
    let mode = match (mode, std::fs::metadata(path)) {
        (Some(m), _) => Some(m),
        (None, Ok(old)) => Some(old.permissions().mode() & 0o7777),
        (None, Err(_)) => None,
    };
    if let Some(mode) = mode {
        file.set_permissions(std::fs::Permissions::from_mode(mode)).map_err(|e| Error::from_io(&e, "chmod", &temp))?;
    }
    file.write_all(bytes).map_err(|e| Error::from_io(&e, "write", &temp))?;
    file.sync_all().map_err(|e| Error::from_io(&e, "sync", &temp))?;
    std::fs::rename(&temp, path).map_err(|e| Error::from_io(&e, "replace", path))?;
    leftover.commit();
    if let Some(dir) = Path::new(path).parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

fn type_name(ft: std::fs::FileType) -> &'static str {
    if ft.is_file() {
        "file"
    } else if ft.is_dir() {
        "directory"
    } else if ft.is_symlink() {
        "symlink"
    } else {
        "other"
    }
}

fn stat(lua: &Lua, path: &str) -> Result<MultiValue> {
    // The path itself; a symlink is followed unless it dangles.
    let link = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) => return error::pair::<Value>(lua, Err(Error::from_io(&e, "stat", path))),
    };
    let meta = if link.file_type().is_symlink() {
        std::fs::metadata(path).unwrap_or_else(|_| link.clone())
    } else {
        link.clone()
    };
    let t = lua.create_table()?;
    t.raw_set("size", meta.len())?;
    t.raw_set("mode", meta.permissions().mode() & 0o7777)?;
    t.raw_set("type", type_name(meta.file_type()))?;
    t.raw_set("symlink", link.file_type().is_symlink())?;
    t.raw_set("mtime", meta.mtime() as f64 + meta.mtime_nsec() as f64 / 1e9)?;
    t.raw_set("atime", meta.atime() as f64 + meta.atime_nsec() as f64 / 1e9)?;
    t.raw_set("uid", meta.uid())?;
    t.raw_set("gid", meta.gid())?;
    error::pair(lua, Ok(t))
}

fn list(path: &str) -> error::Result<Vec<String>> {
    let mut names: Vec<String> = std::fs::read_dir(path)
        .map_err(|e| Error::from_io(&e, "list", path))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    Ok(names)
}

/// `*`, `?` and `[...]` within one path component.
fn component_match(pattern: &[u8], name: &[u8]) -> bool {
    match (pattern.first(), name.first()) {
        (None, None) => true,
        (Some(b'*'), _) => {
            component_match(&pattern[1..], name) || (!name.is_empty() && component_match(pattern, &name[1..]))
        }
        (Some(b'?'), Some(_)) => component_match(&pattern[1..], &name[1..]),
        (Some(b'['), Some(&c)) => match pattern.iter().position(|&b| b == b']') {
            Some(end) if end > 1 => {
                let set = &pattern[1..end];
                let (negate, set) = match set.first() {
                    Some(b'!') | Some(b'^') => (true, &set[1..]),
                    _ => (false, set),
                };
                let mut hit = false;
                let mut i = 0;
                while i < set.len() {
                    if i + 2 < set.len() && set[i + 1] == b'-' {
                        hit |= set[i] <= c && c <= set[i + 2];
                        i += 3;
                    } else {
                        hit |= set[i] == c;
                        i += 1;
                    }
                }
                hit != negate && component_match(&pattern[end + 1..], &name[1..])
            }
            _ => c == b'[' && component_match(&pattern[1..], &name[1..]),
        },
        (Some(a), Some(b)) if a == b => component_match(&pattern[1..], &name[1..]),
        _ => false,
    }
}

/// Expands a glob pattern: `**` matches any number of directories; hidden names match only a
/// pattern that starts with a dot.
pub fn glob(pattern: &str) -> Vec<String> {
    let absolute = pattern.starts_with('/');
    let parts: Vec<&str> = pattern.split('/').filter(|p| !p.is_empty()).collect();
    let start = if absolute { PathBuf::from("/") } else { PathBuf::from(".") };
    let mut out = Vec::new();
    walk(&start, &parts, absolute, &mut out);
    out.sort();
    out.dedup();
    out
}

fn display(path: &Path, absolute: bool) -> String {
    let text = path.to_string_lossy();
    if absolute {
        text.into_owned()
    } else {
        text.strip_prefix("./").unwrap_or(&text).to_owned()
    }
}

fn walk(dir: &Path, parts: &[&str], absolute: bool, out: &mut Vec<String>) {
    let Some((first, rest)) = parts.split_first() else {
        out.push(display(dir, absolute));
        return;
    };
    if *first == "**" {
        walk(dir, rest, absolute, out);
        for name in list(&dir.to_string_lossy()).unwrap_or_default() {
            let path = dir.join(&name);
            if !name.starts_with('.') && path.is_dir() && !path.is_symlink() {
                walk(&path, parts, absolute, out);
            }
        }
        return;
    }
    if !first.contains(['*', '?', '[']) {
        let path = dir.join(first);
        if path.symlink_metadata().is_ok() {
            walk(&path, rest, absolute, out);
        }
        return;
    }
    for name in list(&dir.to_string_lossy()).unwrap_or_default() {
        if name.starts_with('.') && !first.starts_with('.') {
            continue;
        }
        if component_match(first.as_bytes(), name.as_bytes()) {
            let path = dir.join(&name);
            if rest.is_empty() || path.is_dir() {
                walk(&path, rest, absolute, out);
            }
        }
    }
}

/// Joins path parts; an absolute part starts over.
pub fn join(parts: &[String]) -> String {
    let mut out = String::new();
    for part in parts.iter().filter(|p| !p.is_empty()) {
        if part.starts_with('/') || out.is_empty() {
            out = part.clone();
        } else {
            if !out.ends_with('/') {
                out.push('/');
            }
            out.push_str(part);
        }
    }
    out
}

pub fn dirname(path: &str) -> String {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return if path.starts_with('/') { "/".into() } else { ".".into() };
    }
    match trimmed.rfind('/') {
        Some(0) => "/".into(),
        Some(i) => match trimmed[..i].trim_end_matches('/') {
            "" => "/".into(),
            dir => dir.to_owned(),
        },
        None => ".".into(),
    }
}

pub fn basename(path: &str) -> String {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return if path.starts_with('/') { "/".into() } else { String::new() };
    }
    trimmed.rsplit('/').next().unwrap_or(trimmed).to_owned()
}

/// Absolute and normalized (`.` and `..` resolved by text, symlinks left alone).
pub fn abspath(path: &str) -> String {
    let full = if path.starts_with('/') {
        path.to_owned()
    } else {
        let cwd = std::env::current_dir().map(|d| d.to_string_lossy().into_owned()).unwrap_or_else(|_| "/".into());
        format!("{cwd}/{path}")
    };
    let mut parts: Vec<&str> = Vec::new();
    for part in full.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

fn remove(path: &str, recursive: bool) -> error::Result<()> {
    let meta = std::fs::symlink_metadata(path).map_err(|e| Error::from_io(&e, "remove", path))?;
    if !meta.is_dir() {
        return std::fs::remove_file(path).map_err(|e| Error::from_io(&e, "remove", path));
    }
    if recursive {
        return std::fs::remove_dir_all(path).map_err(|e| Error::from_io(&e, "remove", path));
    }
    std::fs::remove_dir(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::DirectoryNotEmpty {
            Error::invalid(format!("cannot remove {path}: the directory is not empty (pass {{recursive = true}})"))
                .with("path", path)
        } else {
            Error::from_io(&e, "remove", path)
        }
    })
}

fn copy(from: &str, to: &str) -> error::Result<()> {
    let data = std::fs::read(from).map_err(|e| Error::from_io(&e, "read", from))?;
    let mode = std::fs::metadata(from).map(|m| m.permissions().mode() & 0o7777).ok();
    write_atomically(to, &data, mode)
}

fn move_path(from: &str, to: &str) -> error::Result<()> {
    match std::fs::rename(from, to) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EXDEV) => {
            let meta = std::fs::symlink_metadata(from).map_err(|e| Error::from_io(&e, "move", from))?;
            if meta.is_dir() {
                copy_tree(Path::new(from), Path::new(to))?;
            } else {
                copy(from, to)?;
            }
            remove(from, true)
        }
        Err(e) => Err(Error::from_io(&e, "move", from)),
    }
}

fn copy_tree(from: &Path, to: &Path) -> error::Result<()> {
    let shown = |p: &Path| p.display().to_string();
    std::fs::create_dir_all(to).map_err(|e| Error::from_io(&e, "create", &shown(to)))?;
    for entry in std::fs::read_dir(from).map_err(|e| Error::from_io(&e, "list", &shown(from)))? {
        let entry = entry.map_err(|e| Error::from_io(&e, "list", &shown(from)))?;
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            copy_tree(&src, &dst)?;
        } else {
            copy(&shown(&src), &shown(&dst))?;
        }
    }
    Ok(())
}

fn temp_path(prefix: Option<String>, dir: bool) -> error::Result<String> {
    let base = std::env::temp_dir();
    let prefix = prefix.unwrap_or_else(|| "essh".into());
    for _ in 0..16 {
        let mut random = [0u8; 6];
        let _ = getrandom::fill(&mut random);
        let path = base.join(format!("{prefix}-{}", crate::crypto::to_hex(&random)));
        let shown = path.display().to_string();
        let made = if dir {
            std::fs::DirBuilder::new().mode(0o700).create(&path)
        } else {
            std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&path).map(|_| ())
        };
        match made {
            Ok(()) => return Ok(shown),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(Error::from_io(&e, "create", &shown)),
        }
    }
    Err(Error::new(error::Kind::AlreadyExists, "cannot find a free temporary name"))
}

use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};

fn opt<T: mlua::FromLua>(t: Option<&Table>, key: &str) -> Result<Option<T>> {
    match t {
        Some(t) => t.raw_get::<Option<T>>(key),
        None => Ok(None),
    }
}

fn build(lua: &Lua, m: &Table) -> Result<()> {
    export(lua, m, "fs.read", |lua, path: String| {
        error::bytes_pair(lua, std::fs::read(&path).map_err(|e| Error::from_io(&e, "read", &path)))
    })?;
    export(lua, m, "fs.write", |lua, (path, data, options): (String, LuaString, Option<Table>)| {
        let atomic = opt::<bool>(options.as_ref(), "atomic")?.unwrap_or(true);
        let mode = opt::<u32>(options.as_ref(), "mode")?;
        let result = if atomic {
            write_atomically(&path, &data.as_bytes(), mode)
        } else {
            std::fs::write(&path, &*data.as_bytes()).map_err(|e| Error::from_io(&e, "write", &path)).and_then(|()| {
                match mode {
                    Some(m) => std::fs::set_permissions(&path, std::fs::Permissions::from_mode(m))
                        .map_err(|e| Error::from_io(&e, "chmod", &path)),
                    None => Ok(()),
                }
            })
        };
        error::pair(lua, result.map(|()| true))
    })?;
    export(lua, m, "fs.append", |lua, (path, data): (String, LuaString)| {
        let result = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .and_then(|mut f| f.write_all(&data.as_bytes()))
            .map_err(|e| Error::from_io(&e, "append to", &path));
        error::pair(lua, result.map(|()| true))
    })?;
    export(lua, m, "fs.exists", |_, path: String| Ok(Path::new(&path).exists()))?;
    export(lua, m, "fs.stat", |lua, path: String| stat(lua, &path))?;
    export(lua, m, "fs.mkdir", |lua, (path, options): (String, Option<Table>)| {
        let parents = opt::<bool>(options.as_ref(), "parents")?.unwrap_or(false);
        let mode = opt::<u32>(options.as_ref(), "mode")?.unwrap_or(0o755);
        let result = std::fs::DirBuilder::new()
            .recursive(parents)
            .mode(mode)
            .create(&path)
            .map_err(|e| Error::from_io(&e, "create directory", &path));
        error::pair(lua, result.map(|()| true))
    })?;
    export(lua, m, "fs.list", |lua, path: String| error::pair(lua, list(&path)))?;
    export(lua, m, "fs.glob", |_, pattern: String| Ok(glob(&pattern)))?;
    export(lua, m, "fs.remove", |lua, (path, options): (String, Option<Table>)| {
        let recursive = opt::<bool>(options.as_ref(), "recursive")?.unwrap_or(false);
        error::pair(lua, remove(&path, recursive).map(|()| true))
    })?;
    export(lua, m, "fs.copy", |lua, (from, to): (String, String)| error::pair(lua, copy(&from, &to).map(|()| true)))?;
    export(lua, m, "fs.move", |lua, (from, to): (String, String)| {
        error::pair(lua, move_path(&from, &to).map(|()| true))
    })?;
    export(lua, m, "fs.tempdir", |lua, prefix: Option<String>| error::pair(lua, temp_path(prefix, true)))?;
    export(lua, m, "fs.tempfile", |lua, prefix: Option<String>| error::pair(lua, temp_path(prefix, false)))?;
    export(lua, m, "fs.join", |_, parts: mlua::Variadic<String>| Ok(join(&parts)))?;
    export(lua, m, "fs.dirname", |_, path: String| Ok(dirname(&path)))?;
    export(lua, m, "fs.basename", |_, path: String| Ok(basename(&path)))?;
    export(lua, m, "fs.abspath", |_, path: String| Ok(abspath(&path)))?;
    export(lua, m, "fs.chmod", |lua, (path, mode): (String, u32)| {
        let result = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
            .map_err(|e| Error::from_io(&e, "chmod", &path));
        error::pair(lua, result.map(|()| true))
    })?;
    export(lua, m, "fs.symlink", |lua, (target, link): (String, String)| {
        let result = std::os::unix::fs::symlink(&target, &link).map_err(|e| Error::from_io(&e, "create the link", &link));
        error::pair(lua, result.map(|()| true))
    })?;
    export(lua, m, "fs.realpath", |lua, path: String| {
        let result = std::fs::canonicalize(&path)
            .map_err(|e| Error::from_io(&e, "resolve", &path))
            .and_then(|p| p.into_os_string().into_string().map_err(|_| Error::invalid(format!("{path}: not UTF-8"))));
        error::pair(lua, result)
    })?;
    export(lua, m, "fs.remove_at_exit", |_, path: String| {
        remove_at_exit(path);
        Ok(())
    })?;
    export(lua, m, "fs.getcwd", |lua, ()| {
        let result = std::env::current_dir()
            .map_err(|e| Error::from_io(&e, "read", "the working directory"))
            .and_then(|p| p.into_os_string().into_string().map_err(|_| Error::invalid("the working directory is not UTF-8")));
        error::pair(lua, result)
    })?;
    export(lua, m, "fs.chdir", |lua, path: String| {
        let result = std::env::set_current_dir(&path).map_err(|e| Error::from_io(&e, "enter", &path));
        error::pair(lua, result.map(|()| true))
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(join(&["a".into(), "b/".into(), "c".into()]), "a/b/c");
        assert_eq!(join(&["a".into(), "/abs".into(), "c".into()]), "/abs/c");
        assert_eq!(dirname("/a/b/c"), "/a/b");
        assert_eq!(dirname("/a"), "/");
        assert_eq!(dirname("a"), ".");
        assert_eq!(dirname("a/b/"), "a");
        assert_eq!(basename("/a/b/c.txt"), "c.txt");
        assert_eq!(basename("/a/b/"), "b");
        assert_eq!(abspath("/a/./b/../c"), "/a/c");
    }

    #[test]
    fn components_match_like_the_shell() {
        assert!(component_match(b"*.lua", b"init.lua"));
        assert!(!component_match(b"*.lua", b"init.luac"));
        assert!(component_match(b"f?o", b"foo"));
        assert!(component_match(b"[a-c]x", b"bx"));
        assert!(!component_match(b"[!a-c]x", b"bx"));
    }

    #[test]
    fn atomic_writes_keep_the_mode_of_the_file_they_replace() {
        let dir = std::env::temp_dir().join(format!("essh-fs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f").display().to_string();
        write_atomically(&path, b"one", Some(0o600)).unwrap();
        write_atomically(&path, b"two", None).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
