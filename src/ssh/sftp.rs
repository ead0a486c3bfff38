//! SFTP (russh-sftp): pipelined uploads and downloads, atomic by default, and small file operations.

use mlua::{Lua, Result, Table};

pub fn add_methods(_lua: &Lua, _methods: &Table) -> Result<()> {
    Ok(())
}
