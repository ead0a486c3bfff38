//! watch: file events (notify: inotify on Linux), dispatched to Lua callbacks by `watch.run`,
//! which waits like every other primitive so watches and tasks coexist.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use mlua::{Lua, Result, Table};
use notify::event::{ModifyKind, RenameMode};
use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};

use crate::error::Error;
use crate::func;
use crate::bridge::{Need, self, Class, ModuleDef, TypeDef};
use crate::runtime::{deliver, duration};

pub static DEFINITION: ModuleDef = ModuleDef {
    name: "watch",
    description: "File events (create, modify, remove, rename) dispatched to callbacks, alongside tasks",
    classes: &[Class::Io],
    functions: &[
        func!("add", "Watches a file or directory; fn(event) runs from watch.run. Returns a handle with :remove().", [path: "string", fn_: "fun(event: watch.Event): boolean?", options: "watch.AddOptions?"], [handle: "watch.Handle"]).needs(&[Need::arg("read", 0)]),
        func!("run", "Dispatches events until no watch remains, a callback returns false, or the timeout passes.", [options: "watch.RunOptions?"], []),
        func!("wait", "Waits for one event on a path; nil and a timeout error when none comes in time.", [path: "string", options: "watch.RunOptions?"], [event: "watch.Event?", err: "essh.Error?"]).needs(&[Need::arg("read", 0)]),
    ],
    constants: &[],
    types: &[
        TypeDef::record("watch.Event", "", &[
                crate::typed!(path: "string"),
                crate::typed!(kind: "\"create\"|\"modify\"|\"remove\"|\"rename\""),
                crate::typed!(from: "string?", "The old path of a rename, when known."),
            ]),
        TypeDef::record("watch.AddOptions", "", &[
                crate::typed!(recursive: "boolean?", "Also watch everything below a directory."),
                crate::typed!(debounce_ms: "integer?", "Report a path once after it has been quiet this long."),
                crate::typed!(filter: "(string|fun(event: watch.Event): boolean)?", "A glob on the file name (\"*.lua\") or a predicate."),
            ]),
        TypeDef::record("watch.RunOptions", "", &[crate::typed!(timeout: "number?", "Seconds.")]),
        TypeDef {
            name: "watch.Handle",
            method_index: Some(|lua| lua.named_registry_value(HANDLE_KEY)),
            doc: "",
            fields: &[],
            methods: &[func!("remove", "Stops this watch.", [], [])],
        },
    ],
    build,
};

/// One file event, as plain data.
#[derive(Debug, Clone, PartialEq)]
pub struct FileEvent {
    pub path: String,
    pub kind: &'static str,
    pub from: Option<String>,
}

/// Turns a notify event into file events (none for accesses and unknown kinds).
pub fn translate(event: &notify::Event) -> Vec<FileEvent> {
    let text = |p: &PathBuf| p.to_string_lossy().into_owned();
    let kind = match event.kind {
        EventKind::Create(_) => "create",
        EventKind::Modify(ModifyKind::Name(RenameMode::Both)) if event.paths.len() == 2 => {
            return vec![FileEvent { path: text(&event.paths[1]), kind: "rename", from: Some(text(&event.paths[0])) }];
        }
        EventKind::Modify(ModifyKind::Name(_)) => "rename",
        EventKind::Modify(ModifyKind::Metadata(_)) => return Vec::new(),
        EventKind::Modify(_) => "modify",
        EventKind::Remove(_) => "remove",
        _ => return Vec::new(),
    };
    event.paths.iter().map(|p| FileEvent { path: text(p), kind, from: None }).collect()
}

/// How long a batch that ends in the middle of a rename waits for the rest of its events.
const RENAME_PAIRING: std::time::Duration = std::time::Duration::from_millis(50);

/// Whether the batch ends in the middle of a rename: its last rename names one path, and the
/// event that names both may follow (a rename out of the tree never has one, and waits
/// RENAME_PAIRING for nothing).
pub fn awaits_pair(batch: &[FileEvent]) -> bool {
    batch.iter().rev().find(|e| e.kind == "rename").is_some_and(|e| e.from.is_none())
}

/// A rename inside a watched tree arrives three times (old path, new path, both): keep the
/// old-path event and the one that names both paths.
pub fn without_duplicate_renames(batch: Vec<FileEvent>) -> Vec<FileEvent> {
    let paired: Vec<String> = batch.iter().filter(|e| e.from.is_some()).map(|e| e.path.clone()).collect();
    batch.into_iter().filter(|e| !(e.kind == "rename" && e.from.is_none() && paired.contains(&e.path))).collect()
}

/// The watcher of a Lua state and where its events arrive.
struct Watches {
    watcher: RefCell<notify::RecommendedWatcher>,
    events: Arc<tokio::sync::Mutex<UnboundedReceiver<FileEvent>>>,
    counts: RefCell<HashMap<(PathBuf, bool), usize>>,
}

fn watches(lua: &Lua) -> Result<mlua::AppDataRef<'_, Watches>> {
    if lua.app_data_ref::<Watches>().is_none() {
        let (tx, rx) = unbounded_channel();
        let watcher = notify::recommended_watcher(move |result: notify::Result<notify::Event>| {
            if let Ok(event) = result {
                for e in translate(&event) {
                    let _ = tx.send(e);
                }
            }
        })
        .map_err(|e| mlua::Error::runtime(format!("watch: cannot start the watcher: {e}")))?;
        lua.set_app_data(Watches {
            watcher: RefCell::new(watcher),
            events: Arc::new(tokio::sync::Mutex::new(rx)),
            counts: RefCell::new(HashMap::new()),
        });
    }
    lua.app_data_ref::<Watches>().ok_or_else(|| mlua::Error::runtime("watch: the watcher is gone"))
}

/// Where the Lua half keeps its handle class, whose methods ModuleDef checks.
const HANDLE_KEY: &str = "essh_native.watch.Handle";

fn build(lua: &Lua, m: &Table) -> Result<()> {
    let add = bridge::function(lua, "watch.add", |lua, (path, recursive): (String, bool)| {
        let ws = watches(lua)?;
        let full = PathBuf::from(crate::fs::abspath(&path));
        let key = (full.clone(), recursive);
        let first = !ws.counts.borrow().contains_key(&key);
        if first {
            let mode = if recursive { RecursiveMode::Recursive } else { RecursiveMode::NonRecursive };
            let result = ws.watcher.borrow_mut().watch(&full, mode);
            if let Err(e) = result {
                let err = match &e.kind {
                    notify::ErrorKind::PathNotFound => Error::new(
                        crate::error::Kind::NotFound,
                        format!("cannot watch {path}: no such file or directory"),
                    ),
                    notify::ErrorKind::Io(io) => Error::from_io(io, "watch", &path),
                    _ => Error::new(crate::error::Kind::Io, format!("cannot watch {path}: {e}")),
                };
                return crate::error::pair::<mlua::Value>(lua, Err(err.with("path", path.clone())));
            }
        }
        *ws.counts.borrow_mut().entry(key).or_insert(0) += 1;
        crate::error::pair(lua, Ok(full.to_string_lossy().into_owned()))
    })?;
    let remove = bridge::function(lua, "watch.remove", |lua, (path, recursive): (String, bool)| {
        let ws = watches(lua)?;
        let key = (PathBuf::from(&path), recursive);
        let last = {
            let mut counts = ws.counts.borrow_mut();
            match counts.get_mut(&key) {
                Some(n) if *n > 1 => {
                    *n -= 1;
                    false
                }
                Some(_) => {
                    counts.remove(&key);
                    true
                }
                None => false,
            }
        };
        if last {
            let _ = ws.watcher.borrow_mut().unwatch(&key.0);
        }
        Ok(())
    })?;
    // Waits for events (at most `timeout` seconds); returns a list, empty on timeout.
    let next = crate::runtime::waiting(lua, "watch.run", |lua, timeout: Option<f64>| {
        let events = watches(lua)?.events.clone();
        let limit = timeout.map(|t| duration(t.max(0.0), "watch.run")).transpose()?;
        Ok(async move {
            let mut rx = events.lock().await;
            let first = match limit {
                Some(d) => tokio::time::timeout(d, rx.recv()).await.ok().flatten(),
                None => rx.recv().await,
            };
            let mut batch: Vec<FileEvent> = first.into_iter().collect();
            while let Ok(e) = rx.try_recv() {
                batch.push(e);
            }
            // The events of one rename come one by one: they go out in one batch, paired.
            let deadline = tokio::time::Instant::now() + RENAME_PAIRING;
            while awaits_pair(&batch) {
                match tokio::time::timeout_at(deadline, rx.recv()).await {
                    Ok(Some(e)) => {
                        batch.push(e);
                        while let Ok(e) = rx.try_recv() {
                            batch.push(e);
                        }
                    }
                    _ => break,
                }
            }
            let batch = without_duplicate_renames(batch);
            deliver(move |lua| {
                let list = lua.create_table()?;
                for e in batch {
                    let t = lua.create_table()?;
                    t.raw_set("path", e.path)?;
                    t.raw_set("kind", e.kind)?;
                    t.raw_set("from", e.from)?;
                    list.raw_push(t)?;
                }
                Ok(list)
            })
        })
    })?;
    let native = lua.create_table()?;
    native.raw_set("add", add)?;
    native.raw_set("remove", remove)?;
    native.raw_set("next_events", next)?;
    native.raw_set("monotonic", lua.create_function(|_, ()| Ok(crate::runtime::monotonic()))?)?;
    native.raw_set(
        "timeout_error",
        lua.create_function(|_, message: String| Ok(Error::new(crate::error::Kind::Timeout, message)))?,
    )?;
    let api: Table = bridge::run_embedded(lua, "watch", include_str!("lua/watch.lua"), native)?;
    lua.set_named_registry_value(HANDLE_KEY, api.raw_get::<Table>("Handle")?)?;
    for name in ["add", "run", "wait"] {
        m.raw_set(name, api.raw_get::<mlua::Function>(name)?)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::event::{CreateKind, DataChange};

    #[test]
    fn events_translate_to_four_kinds() {
        let ev = |kind, paths: &[&str]| notify::Event {
            kind,
            paths: paths.iter().map(PathBuf::from).collect(),
            attrs: Default::default(),
        };
        assert_eq!(translate(&ev(EventKind::Create(CreateKind::File), &["/a"]))[0].kind, "create");
        assert_eq!(translate(&ev(EventKind::Modify(ModifyKind::Data(DataChange::Any)), &["/a"]))[0].kind, "modify");
        let both = translate(&ev(EventKind::Modify(ModifyKind::Name(RenameMode::Both)), &["/a", "/b"]));
        assert_eq!(both, vec![FileEvent { path: "/b".into(), kind: "rename", from: Some("/a".into()) }]);
        assert!(translate(&ev(EventKind::Access(notify::event::AccessKind::Any), &["/a"])).is_empty());
    }

    #[test]
    fn a_batch_that_ends_inside_a_rename_waits_for_its_pair() {
        let event = |path: &str, kind, from: Option<&str>| FileEvent { path: path.into(), kind, from: from.map(String::from) };
        let old = event("/a", "rename", None);
        let new = event("/b", "rename", None);
        let both = event("/b", "rename", Some("/a"));
        assert!(awaits_pair(&[event("/a", "create", None), old.clone(), new.clone()]));
        assert!(!awaits_pair(&[old.clone(), new.clone(), both.clone(), event("/b", "modify", None)]));
        assert!(!awaits_pair(&[event("/a", "create", None)]));
        assert_eq!(without_duplicate_renames(vec![old.clone(), new, both.clone()]), vec![old, both]);
    }
}
