//! Module definitions: one declaration per native module builds its Lua table, the
//! introspection returned by `essh_native.modules()`, and (through `tools/gen_types.lua`)
//! the LuaLS annotation files in `types/`.
//!
//! Type strings use LuaCATS syntax (`string`, `integer?`, `json.EncodeOptions?`, `any`).

use mlua::{Lua, Result, Table, Value};

use super::table::readonly;

/// Where a module may be used: the seed's module classes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// One input always gives one output.
    Deterministic,
    /// Output varies (time, randomness).
    Nondeterministic,
    /// Touches files or processes.
    Io,
    /// Talks to the network.
    Network,
    /// Persists data.
    Storage,
}

impl Class {
    pub fn name(self) -> &'static str {
        match self {
            Class::Deterministic => "deterministic",
            Class::Nondeterministic => "nondeterministic",
            Class::Io => "io",
            Class::Network => "network",
            Class::Storage => "storage",
        }
    }
}

/// A named, typed item of a declaration: a parameter, a return value, a record field or a
/// constant.
#[derive(Clone, Copy, Debug)]
pub struct Typed {
    pub name: &'static str,
    pub ty: &'static str,
    pub doc: &'static str,
}

/// The signature and one-line documentation of a function or method, and the permissions it
/// needs before it acts on the world (none for deterministic functions).
#[derive(Clone, Copy, Debug)]
pub struct FunctionDef {
    pub name: &'static str,
    pub doc: &'static str,
    pub params: &'static [Typed],
    pub returns: &'static [Typed],
    pub needs: &'static [Need],
}

impl FunctionDef {
    /// The same function, needing `needs`.
    pub const fn needs(self, needs: &'static [Need]) -> FunctionDef {
        FunctionDef { needs, ..self }
    }
}

/// A permission a function needs: its name (`read`, `write`, `net`, `ssh`, `run`, `env`) and
/// where the resource it is asked for stands in the call's arguments.
#[derive(Clone, Copy, Debug)]
pub struct Need {
    pub permission: &'static str,
    pub resource: Resource,
}

/// The resources a call asks for, read from its arguments by a function of the module's own:
/// each with its permission (None: every resource of it).
pub type Resources = Vec<(&'static str, Option<String>)>;

/// Where a permission's resource stands in a call's arguments (positions count from 0, and
/// from the first argument after self in methods).
#[derive(Clone, Copy, Debug)]
pub enum Resource {
    /// The argument itself: a path, a variable name.
    Arg(usize),
    /// The program of the argument: the first item of an argv list, `sh` for a command line.
    Command(usize),
    /// The host and port of the URL that is the argument.
    UrlHost(usize),
    /// The host and port of the URL in a field of the table that is the argument.
    UrlField(usize, &'static str),
    /// Nothing in particular: every variable, the temporary directory.
    Any,
    /// What the module's function finds in the whole call (self included), described in
    /// words for the documentation.
    Custom(&'static str, fn(&mlua::MultiValue) -> Resources),
}

impl Need {
    pub const fn arg(permission: &'static str, position: usize) -> Need {
        Need { permission, resource: Resource::Arg(position) }
    }

    pub const fn url_host(permission: &'static str, position: usize) -> Need {
        Need { permission, resource: Resource::UrlHost(position) }
    }

    pub const fn url_field(permission: &'static str, position: usize, field: &'static str) -> Need {
        Need { permission, resource: Resource::UrlField(position, field) }
    }

    pub const fn command(permission: &'static str, position: usize) -> Need {
        Need { permission, resource: Resource::Command(position) }
    }

    /// Resources the module's `find` reads from the call; `what` says which, for the docs.
    pub const fn custom(
        permission: &'static str,
        what: &'static str,
        find: fn(&mlua::MultiValue) -> Resources,
    ) -> Need {
        Need { permission, resource: Resource::Custom(what, find) }
    }

    pub const fn any(permission: &'static str) -> Need {
        Need { permission, resource: Resource::Any }
    }
}

impl Resource {
    /// How the resource reads in documentation: "argument 1", "the host of argument 1".
    pub fn describe(&self) -> String {
        match self {
            Resource::Arg(i) => format!("argument {}", i + 1),
            Resource::Command(i) => format!("the program of argument {}", i + 1),
            Resource::UrlHost(i) => format!("the host of argument {}", i + 1),
            Resource::UrlField(i, field) => format!("the host of the {field} of argument {}", i + 1),
            Resource::Any => "any".to_string(),
            Resource::Custom(what, _) => (*what).to_string(),
        }
    }
}

/// A record (an options table or a result table) or an object type with methods.
#[derive(Clone, Copy, Debug)]
pub struct TypeDef {
    pub name: &'static str,
    pub doc: &'static str,
    pub fields: &'static [Typed],
    pub methods: &'static [FunctionDef],
    /// The table its objects find their methods in; required when `methods` is not empty, so
    /// that the declared methods can be checked against the built ones.
    pub method_index: Option<fn(&Lua) -> Result<Table>>,
}

impl TypeDef {
    /// A record type: fields, no methods.
    pub const fn record(name: &'static str, doc: &'static str, fields: &'static [Typed]) -> TypeDef {
        TypeDef { name, doc, fields, methods: &[], method_index: None }
    }

    /// A type alias: `doc` is the LuaCATS type it stands for.
    pub const fn alias(name: &'static str, ty: &'static str) -> TypeDef {
        TypeDef { name, doc: ty, fields: &[], methods: &[], method_index: None }
    }
}

/// The one declaration of a native module.
pub struct ModuleDef {
    pub name: &'static str,
    pub description: &'static str,
    pub classes: &'static [Class],
    pub functions: &'static [FunctionDef],
    pub constants: &'static [Typed],
    pub types: &'static [TypeDef],
    /// Fills the module table with the functions and constants declared above.
    pub build: fn(&Lua, &Table) -> Result<()>,
}

/// Shorthand for a [`Typed`] item: `typed!(name: "type", "doc")`.
#[macro_export]
macro_rules! typed {
    ($name:ident : $ty:literal) => {
        $crate::bridge::Typed { name: stringify!($name), ty: $ty, doc: "" }
    };
    ($name:ident : $ty:literal, $doc:literal) => {
        $crate::bridge::Typed { name: stringify!($name), ty: $ty, doc: $doc }
    };
}

/// Shorthand for a [`FunctionDef`]:
/// `func!("name", "doc", [a: "string"], [r: "string?"])`.
#[macro_export]
macro_rules! func {
    ($name:literal, $doc:literal, [$($p:ident : $pt:literal),* $(,)?], [$($r:ident : $rt:literal),* $(,)?]) => {
        $crate::bridge::FunctionDef {
            name: $name,
            doc: $doc,
            params: &[$($crate::typed!($p : $pt)),*],
            returns: &[$($crate::typed!($r : $rt)),*],
            needs: &[],
        }
    };
}

impl ModuleDef {
    /// Builds the module's read-only table.
    pub fn open(&self, lua: &Lua) -> Result<Table> {
        let table = lua.create_table()?;
        (self.build)(lua, &table)?;
        self.check_exports(&table)?;
        for f in self.functions.iter().filter(|f| !f.needs.is_empty()) {
            super::guard::install(lua, &table, format!("{}.{}", self.name, f.name), f.needs, false)?;
        }
        for ty in self.types {
            self.check_methods(lua, ty)?;
            if let Some(index) = ty.method_index {
                let receiver = ty.name.rsplit('.').next().unwrap_or(ty.name).to_ascii_lowercase();
                let methods = index(lua)?;
                for m in ty.methods.iter().filter(|m| !m.needs.is_empty()) {
                    super::guard::install(lua, &methods, format!("{receiver}:{}", m.name), m.needs, true)?;
                }
            }
        }
        readonly(lua, &format!("essh_native.{}", self.name), table)
    }

    /// Every declared name is exported and nothing undeclared is: the declaration cannot drift
    /// from the code.
    fn check_exports(&self, table: &Table) -> Result<()> {
        let declared: Vec<&str> =
            self.functions.iter().map(|f| f.name).chain(self.constants.iter().map(|c| c.name)).collect();
        check_names(table, &declared, &format!("module {}", self.name))
    }

    /// The methods a type declares are the ones its objects have.
    fn check_methods(&self, lua: &Lua, ty: &TypeDef) -> Result<()> {
        let Some(index) = ty.method_index else {
            if ty.methods.is_empty() {
                return Ok(());
            }
            return Err(internal(format!(
                "module {} declares methods of {} but no method_index to check them against",
                self.name, ty.name
            )));
        };
        let declared: Vec<&str> = ty.methods.iter().map(|m| m.name).collect();
        check_names(&index(lua)?, &declared, &format!("module {}: type {}", self.name, ty.name))
    }

    /// The definition as Lua data, for `essh_native.modules()`.
    pub fn describe(&self, lua: &Lua) -> Result<Table> {
        let def = lua.create_table()?;
        def.set("name", self.name)?;
        def.set("description", self.description)?;
        def.set("classes", lua.create_sequence_from(self.classes.iter().map(|c| c.name()))?)?;
        let functions = lua.create_table()?;
        for f in self.functions {
            functions.push(describe_function(lua, f)?)?;
        }
        def.set("functions", functions)?;
        def.set("constants", describe_items(lua, self.constants)?)?;
        let types = lua.create_table()?;
        for t in self.types {
            let ty = lua.create_table()?;
            ty.set("name", t.name)?;
            ty.set("doc", t.doc)?;
            ty.set("fields", describe_items(lua, t.fields)?)?;
            let methods = lua.create_table()?;
            for m in t.methods {
                methods.push(describe_function(lua, m)?)?;
            }
            ty.set("methods", methods)?;
            types.push(ty)?;
        }
        def.set("types", types)?;
        Ok(def)
    }
}

/// `table`'s string keys that are functions or values are exactly `declared`. Keys starting
/// with `__` (metamethods kept in a method table) are not part of the interface.
fn check_names(table: &Table, declared: &[&str], what: &str) -> Result<()> {
    for name in declared {
        if table.raw_get::<Value>(*name)?.is_nil() {
            return Err(internal(format!("{what} declares {name} but does not build it")));
        }
    }
    for pair in table.pairs::<Value, Value>() {
        let (key, _) = pair?;
        let key = key.to_string().unwrap_or_default();
        if !key.starts_with("__") && !declared.contains(&key.as_str()) {
            return Err(internal(format!("{what} builds {key} but does not declare it")));
        }
    }
    Ok(())
}

fn describe_function(lua: &Lua, f: &FunctionDef) -> Result<Table> {
    let t = lua.create_table()?;
    t.set("name", f.name)?;
    t.set("doc", f.doc)?;
    t.set("params", describe_items(lua, f.params)?)?;
    t.set("returns", describe_items(lua, f.returns)?)?;
    let params: Vec<String> = f
        .params
        .iter()
        .map(|p| match p.ty.strip_suffix(" ...") {
            Some(ty) => format!("...: {ty}"),
            None => format!("{}: {}", p.name.trim_end_matches('_'), p.ty),
        })
        .collect();
    let returns: Vec<&str> = f.returns.iter().map(|r| r.ty).collect();
    t.set("signature", format!("({}) -> ({})", params.join(", "), returns.join(", ")))?;
    let needs = lua.create_table()?;
    for need in f.needs {
        let n = lua.create_table()?;
        n.set("permission", need.permission)?;
        n.set("resource", need.resource.describe())?;
        needs.push(n)?;
    }
    t.set("needs", needs)?;
    Ok(t)
}

fn describe_items(lua: &Lua, items: &[Typed]) -> Result<Table> {
    let list = lua.create_table()?;
    for s in items {
        let t = lua.create_table()?;
        // `fn_: "T"` names a parameter `fn`; `args: "T ..."` is a vararg `...: T`.
        match s.ty.strip_suffix(" ...") {
            Some(ty) => {
                t.set("name", "...")?;
                t.set("type", ty)?;
            }
            None => {
                t.set("name", s.name.trim_end_matches('_'))?;
                t.set("type", s.ty)?;
            }
        }
        t.set("doc", s.doc)?;
        list.push(t)?;
    }
    Ok(list)
}

fn internal(message: String) -> mlua::Error {
    mlua::Error::runtime(message)
}

#[cfg(all(test, feature = "vendored"))]
mod tests {
    use super::*;

    fn two_methods(lua: &Lua) -> Result<Table> {
        let t = lua.create_table()?;
        t.set("close", lua.create_function(|_, ()| Ok(()))?)?;
        t.set("__name", "x")?;
        t.set("extra", lua.create_function(|_, ()| Ok(()))?)?;
        Ok(t)
    }

    static CLOSE: &[FunctionDef] = &[crate::func!("close", "", [], [])];

    fn module_with(types: &'static [TypeDef]) -> ModuleDef {
        ModuleDef {
            name: "m",
            description: "",
            classes: &[],
            functions: &[],
            constants: &[],
            types,
            build: |_, _| Ok(()),
        }
    }

    #[test]
    fn an_undeclared_method_fails_the_open() {
        static TYPES: &[TypeDef] =
            &[TypeDef { name: "m.T", doc: "", fields: &[], methods: CLOSE, method_index: Some(two_methods) }];
        let err = module_with(TYPES).open(&Lua::new()).unwrap_err().to_string();
        assert!(err.contains("module m: type m.T builds extra but does not declare it"), "{err}");
    }

    #[test]
    fn declared_methods_need_a_method_index() {
        static TYPES: &[TypeDef] = &[TypeDef { name: "m.T", doc: "", fields: &[], methods: CLOSE, method_index: None }];
        let err = module_with(TYPES).open(&Lua::new()).unwrap_err().to_string();
        assert!(err.contains("declares methods of m.T but no method_index"), "{err}");
    }
}
