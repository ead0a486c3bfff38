//! The bridge: what every native module is built on, depending on nothing above it.
//!
//! - [`def`]: the declarations (modules, classes, signatures, types) that build a module's
//!   table, `essh_native.modules()` and the annotation files of `types/`.
//! - [`call`]: the call convention of native functions (results, `RAISE`, `WAIT`) and the
//!   trampoline that carries it out.
//! - [`direct`]: the unsafe direct-entry fast path for the hottest functions.
//! - [`policy`] and [`guard`]: permissions, and the check in front of every function that
//!   declares one.
//! - [`table`]: read-only module tables, method tables and the embedded Lua of `src/lua/`.
//! - [`warning`]: where native warnings go.

pub mod call;
pub mod def;
pub mod direct;
pub mod guard;
pub mod policy;
pub mod table;
pub mod warning;

pub use call::{export, function, message_of, raise_mark, short_name, trampoline, unknown_option, wait_mark};
pub use def::{Class, FunctionDef, ModuleDef, Need, Resource, Resources, TypeDef, Typed};
pub use table::{method_table, readonly, run_embedded};
pub use warning::{on_warning, warn};
