//! permissions: the policies of `bridge::policy` as Lua sees them. A policy is made from a
//! table of grants, then either raises the ceiling of the whole state (`restrict`, for good)
//! or applies inside a scope (`enter` ... `leave`, which the scheduler carries per task).
//! Nothing here widens what is allowed. The key essh's command claims first opens the audit
//! log, and only while no policy limits anything (before any config runs).

use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::rc::Rc;

use mlua::{Lua, Result, Table, UserData, UserDataMethods, UserDataRef, Value};

use crate::bridge::guard::with_state;
use crate::bridge::policy::{Layer, Policy, Scope, PERMISSIONS};
use crate::bridge::{self, export, Class, ModuleDef, TypeDef};
use crate::error::{self, Error};
use crate::func;

pub static DEFINITION: ModuleDef = ModuleDef {
    name: "permissions",
    description: "Permission policies (read, write, net, ssh, run, env, storage, db): grants, scopes, queries and the audit log",
    classes: &[Class::Nondeterministic],
    functions: &[
        func!("policy", "A policy from a table of grants: {name, hint, default = \"deny\"|\"allow\", base, allow = {perm = true|pattern|patterns}, deny = {...}}.", [spec: "permissions.Spec"], [policy: "permissions.Policy"]),
        func!("restrict", "Adds a policy that every later action of this Lua state must satisfy, for good.", [policy: "permissions.Policy"], []),
        func!("enter", "Adds a policy to the current scope (labelled with a task and host for the audit and the report); returns the new layer and the scope to leave to.", [policy: "permissions.Policy", labels: "{task: string?, host: string?}?"], [layer: "permissions.Layer", saved: "permissions.Scope"]),
        func!("leave", "Returns to a scope that enter gave (it must enclose the current one).", [saved: "permissions.Scope"], []),
        func!("query", "Whether a permission is granted here, for a resource or (with none) for all of them: \"granted\" or \"denied\", and whether some resources are (partial).", [permission: "string", resource: "string?"], [state: "\"granted\"|\"denied\"", partial: "boolean"]),
        func!("check", "Asks for a permission as native functions do: true, or nil and a permission_denied error (recorded in the audit and the scope's denials).", [permission: "string", resource: "string?", action: "string?"], [ok: "true?", err: "essh.Error?"]),
        func!("restricted", "Whether any policy in force limits anything.", [], [restricted: "boolean"]),
        func!("describe", "The policies in force, outermost first: {name, grants}.", [], [policies: "{name: string, grants: string}[]"]),
        func!("claim", "The key of essh's command (it opens the audit log); only the first call of a Lua state gets it.", [], [key: "permissions.Key"]),
    ],
    constants: &[crate::typed!(names: "string[]", "The permissions a policy may grant.")],
    types: &[
        TypeDef::record("permissions.Spec", "", &[
            crate::typed!(name: "string?", "Who sets the policy, for messages (\"the task deploy\")."),
            crate::typed!(hint: "string?", "What a refusal tells the user to do."),
            crate::typed!(default: "(\"deny\"|\"allow\")?", "Whether a permission the policy does not name is allowed (default deny)."),
            crate::typed!(base: "string?", "The directory relative paths are read from (default: the working directory)."),
            crate::typed!(allow: "table<string, boolean|string|string[]>?", "Grants: true for every resource, patterns for some."),
            crate::typed!(deny: "table<string, boolean|string|string[]>?", "Refusals, which win over grants."),
        ]),
        TypeDef { name: "permissions.Policy", doc: "A set of grants.", fields: &[], methods: &[
            func!("describe", "The grants in words.", [], [text: "string"]),
        ], method_index: Some(policy_index) },
        TypeDef { name: "permissions.Layer", doc: "A policy entered in a scope.", fields: &[], methods: &[
            func!("denials", "What the policy refused in this scope: {permission, action, resource}.", [], [denials: "{permission: string, action: string, resource: string?}[]"]),
        ], method_index: Some(layer_index) },
        TypeDef::record("permissions.Scope", "A scope to leave to.", &[]),
        TypeDef { name: "permissions.Key", doc: "The key of essh's command.", fields: &[], methods: &[
            func!("audit", "Writes one JSON line per permission decision to the file at path (appended, mode 0600).", [path: "string"], [ok: "true?", err: "essh.Error?"]),
            func!("own", "Enters essh's own scope (its run history), which no policy limits while it is the innermost one; returns the scope to leave to.", [], [saved: "permissions.Scope"]),
        ], method_index: Some(key_index) },
    ],
    build,
};

struct PolicyHandle(Rc<Policy>);
struct LayerHandle(Rc<Layer>);
struct ScopeHandle(Scope);
struct Key;

impl UserData for PolicyHandle {
    fn add_fields<F: mlua::UserDataFields<Self>>(fields: &mut F) {
        fields.add_meta_field_with("__index", policy_index);
        fields.add_meta_field("__name", "permissions.Policy");
    }

    fn add_methods<M: UserDataMethods<Self>>(methods: &mut M) {
        methods.add_meta_method(mlua::MetaMethod::ToString, |_, p, ()| {
            Ok(format!("permissions.Policy ({}: {})", p.0.name, p.0.describe()))
        });
    }
}

impl UserData for LayerHandle {
    fn add_fields<F: mlua::UserDataFields<Self>>(fields: &mut F) {
        fields.add_meta_field_with("__index", layer_index);
        fields.add_meta_field("__name", "permissions.Layer");
    }
}

impl UserData for ScopeHandle {
    fn add_fields<F: mlua::UserDataFields<Self>>(fields: &mut F) {
        fields.add_meta_field("__name", "permissions.Scope");
    }
}

impl UserData for Key {
    fn add_fields<F: mlua::UserDataFields<Self>>(fields: &mut F) {
        fields.add_meta_field_with("__index", key_index);
        fields.add_meta_field("__name", "permissions.Key");
    }
}

fn policy_index(lua: &Lua) -> Result<Table> {
    bridge::method_table(lua, "essh_native.permissions.Policy", |lua, m| {
        export(lua, m, "policy:describe", |_, p: UserDataRef<PolicyHandle>| Ok(p.0.describe()))
    })
}

fn layer_index(lua: &Lua) -> Result<Table> {
    bridge::method_table(lua, "essh_native.permissions.Layer", |lua, m| {
        export(lua, m, "layer:denials", |lua, l: UserDataRef<LayerHandle>| {
            let list = lua.create_table()?;
            for d in l.0.denials.borrow().iter() {
                let t = lua.create_table()?;
                t.set("permission", d.permission)?;
                t.set("action", d.action.as_str())?;
                t.set("resource", d.resource.as_deref())?;
                list.push(t)?;
            }
            Ok(list)
        })
    })
}

fn key_index(lua: &Lua) -> Result<Table> {
    bridge::method_table(lua, "essh_native.permissions.Key", |lua, m| {
        // Through the scheduler, as enter: the scope is the calling task's alone.
        let own = bridge::function(lua, "key:own", |lua, _: UserDataRef<Key>| {
            let saved = with_state(lua, |s| {
                let saved = s.current.clone();
                let mut next: Vec<Rc<Layer>> = saved.as_ref().clone();
                next.push(Layer::own());
                s.current = Rc::new(next);
                saved
            });
            lua.create_userdata(ScopeHandle(saved))
        })?;
        let scoping: mlua::Function = crate::runtime::scheduler(lua)?.raw_get("scoping")?;
        m.raw_set("own", scoping.call::<mlua::Function>(own)?)?;
        export(lua, m, "key:audit", |lua, (_, path): (UserDataRef<Key>, String)| {
            if with_state(lua, |s| s.restricted() || s.audit.is_some()) {
                let err = Error::new(
                    crate::error::Kind::PermissionDenied,
                    "the audit log opens once, before any policy limits anything",
                );
                return error::pair::<bool>(lua, Err(err));
            }
            let opened = std::fs::OpenOptions::new().create(true).append(true).mode(0o600).open(&path);
            match opened {
                Ok(file) => {
                    with_state(lua, |s| s.audit = Some(file));
                    error::pair(lua, Ok(true))
                }
                Err(e) => error::pair::<bool>(lua, Err(Error::from_io(&e, "open the audit log", &path))),
            }
        })
    })
}

fn patterns(value: Value, what: &str) -> Result<Option<Option<Vec<String>>>> {
    Ok(match value {
        Value::Boolean(true) => Some(None),
        Value::Boolean(false) => Some(Some(Vec::new())),
        Value::String(s) => Some(Some(vec![s.to_str()?.to_owned()])),
        Value::Table(t) => {
            let mut list = Vec::new();
            for item in t.sequence_values::<Value>() {
                match item? {
                    Value::String(s) => list.push(s.to_str()?.to_owned()),
                    other => {
                        return Err(mlua::Error::runtime(format!(
                            "{what}: expected patterns (strings), got {}",
                            other.type_name()
                        )))
                    }
                }
            }
            Some(Some(list))
        }
        other => {
            return Err(mlua::Error::runtime(format!(
                "{what}: expected true, false, a pattern or a list of patterns, got {}",
                other.type_name()
            )))
        }
    })
}

fn make_policy(spec: &Table) -> Result<Policy> {
    bridge::unknown_option(spec, &["name", "hint", "default", "base", "allow", "deny"])?
        .map_or(Ok(()), |k| Err(mlua::Error::runtime(format!("permissions.policy: unknown field '{k}'"))))?;
    let name: Option<String> = spec.get("name")?;
    let default: Option<String> = spec.get("default")?;
    let default_allow = match default.as_deref() {
        None | Some("deny") => false,
        Some("allow") => true,
        Some(other) => {
            return Err(mlua::Error::runtime(format!("permissions.policy: default must be \"allow\" or \"deny\", got \"{other}\"")))
        }
    };
    let mut policy = Policy::new(name.unwrap_or_else(|| "a policy".into()), default_allow);
    policy.hint = spec.get("hint")?;
    let base: PathBuf = match spec.get::<Option<String>>("base")? {
        Some(b) => b.into(),
        None => std::env::current_dir().unwrap_or_else(|_| "/".into()),
    };
    for (field, allow) in [("allow", true), ("deny", false)] {
        let Some(grants) = spec.get::<Option<Table>>(field)? else { continue };
        for pair in grants.pairs::<String, Value>() {
            let (permission, value) = pair?;
            let what = format!("permissions.policy: {field}.{permission}");
            let Some(list) = patterns(value, &what)? else { continue };
            let outcome = if allow {
                policy.allow(&permission, list.as_deref(), &base)
            } else {
                policy.deny(&permission, list.as_deref(), &base)
            };
            outcome.map_err(|e| mlua::Error::runtime(format!("permissions.policy: {e}")))?;
        }
    }
    Ok(policy)
}

/// The handle of the scope last handed to the scheduler: a task that did not change its scope
/// gets the same handle back, so a step of the scheduler allocates nothing.
#[derive(Default)]
struct LastHandle(Option<(Scope, mlua::AnyUserData)>);

/// The handle of `scope`.
fn handle_of(lua: &Lua, scope: Scope) -> Result<mlua::AnyUserData> {
    if let Some(last) = lua.app_data_ref::<LastHandle>() {
        if let Some((s, handle)) = &last.0 {
            if Rc::ptr_eq(s, &scope) {
                return Ok(handle.clone());
            }
        }
    }
    let handle = lua.create_userdata(ScopeHandle(scope.clone()))?;
    remember(lua, scope, handle.clone());
    Ok(handle)
}

fn remember(lua: &Lua, scope: Scope, handle: mlua::AnyUserData) {
    match lua.app_data_mut::<LastHandle>() {
        Some(mut last) => last.0 = Some((scope, handle)),
        None => {
            lua.set_app_data(LastHandle(Some((scope, handle))));
        }
    }
}

/// The handle of the current scope, for the scheduler to keep with a task it starts.
fn scope_get(lua: &Lua) -> Result<mlua::AnyUserData> {
    handle_of(lua, with_state(lua, |s| s.current.clone()))
}

/// Makes the scope of `handle` current (nil: the empty scope, before any enter) and returns
/// the handle of the one it replaces: the scheduler's, around each step of a task.
fn scope_swap(lua: &Lua, handle: Option<mlua::AnyUserData>) -> Result<mlua::AnyUserData> {
    let scope = match &handle {
        Some(h) => h.borrow::<ScopeHandle>()?.0.clone(),
        None => Scope::default(),
    };
    let previous = with_state(lua, |s| std::mem::replace(&mut s.current, scope.clone()));
    if let Some(h) = handle {
        remember(lua, scope, h);
    }
    handle_of(lua, previous)
}

/// The scheduler's two hands on the scope: `scope_get()` and `scope_swap(handle)`.
pub fn scheduler_natives(lua: &Lua, native: &Table) -> Result<()> {
    native.raw_set("scope_get", lua.create_function(|lua, ()| scope_get(lua))?)?;
    native.raw_set("scope_swap", lua.create_function(|lua, h: Option<mlua::AnyUserData>| scope_swap(lua, h))?)?;
    Ok(())
}

fn encloses(outer: &Scope, inner: &Scope) -> bool {
    outer.len() <= inner.len() && outer.iter().zip(inner.iter()).all(|(a, b)| Rc::ptr_eq(a, b))
}

fn build(lua: &Lua, m: &Table) -> Result<()> {
    m.raw_set("names", lua.create_sequence_from(PERMISSIONS)?)?;
    export(lua, m, "permissions.policy", |lua, spec: Table| {
        lua.create_userdata(PolicyHandle(Rc::new(make_policy(&spec)?)))
    })?;
    export(lua, m, "permissions.restrict", |lua, p: UserDataRef<PolicyHandle>| {
        let layer = Layer::new(p.0.clone(), None, None);
        with_state(lua, |s| s.ceiling.push(layer));
        Ok(())
    })?;
    let enter = bridge::function(lua, "permissions.enter", |lua, (p, labels): (UserDataRef<PolicyHandle>, Option<Table>)| {
        let (task, host) = match &labels {
            Some(t) => (t.get::<Option<String>>("task")?, t.get::<Option<String>>("host")?),
            None => (None, None),
        };
        let layer = Layer::new(p.0.clone(), task, host);
        let saved = with_state(lua, |s| {
            let saved = s.current.clone();
            let mut next: Vec<Rc<Layer>> = saved.as_ref().clone();
            next.push(layer.clone());
            s.current = Rc::new(next);
            saved
        });
        Ok((lua.create_userdata(LayerHandle(layer))?, lua.create_userdata(ScopeHandle(saved))?))
    })?;
    // Through the scheduler, which keeps scopes per task from the first enter on.
    let scoping: mlua::Function = crate::runtime::scheduler(lua)?.raw_get("scoping")?;
    m.raw_set("enter", scoping.call::<mlua::Function>(enter)?)?;
    export(lua, m, "permissions.leave", |lua, saved: UserDataRef<ScopeHandle>| {
        with_state(lua, |s| {
            if !encloses(&saved.0, &s.current) {
                return Err(mlua::Error::runtime("permissions.leave: the scope given does not enclose the current one"));
            }
            s.current = saved.0.clone();
            Ok(())
        })
    })?;
    export(lua, m, "permissions.query", |lua, (permission, resource): (String, Option<String>)| {
        known(&permission, "permissions.query")?;
        Ok(with_state(lua, |s| s.query(&permission, resource.as_deref())))
    })?;
    export(lua, m, "permissions.check", |lua, (permission, resource, action): (String, Option<String>, Option<String>)| {
        let permission = known(&permission, "permissions.check")?;
        let action = action.unwrap_or_else(|| "essh".into());
        let outcome = with_state(lua, |s| s.check(permission, &action, resource.as_deref()));
        error::pair(lua, outcome.map(|()| true))
    })?;
    export(lua, m, "permissions.restricted", |lua, ()| Ok(with_state(lua, |s| s.restricted())))?;
    export(lua, m, "permissions.describe", |lua, ()| {
        let list = lua.create_table()?;
        let layers: Vec<Rc<Layer>> = with_state(lua, |s| s.ceiling.iter().chain(s.current.iter()).cloned().collect());
        for l in layers {
            let t = lua.create_table()?;
            t.set("name", l.policy.name.as_str())?;
            t.set("grants", l.policy.describe())?;
            list.push(t)?;
        }
        Ok(list)
    })?;
    export(lua, m, "permissions.claim", |lua, ()| {
        if with_state(lua, |s| std::mem::replace(&mut s.key_claimed, true)) {
            return Err(mlua::Error::runtime("permissions.claim: the key of this Lua state is already claimed"));
        }
        lua.create_userdata(Key)
    })?;
    Ok(())
}

fn known(permission: &str, what: &str) -> Result<&'static str> {
    crate::bridge::policy::permission_name(permission).map_err(|e| mlua::Error::runtime(format!("{what}: {e}")))
}
