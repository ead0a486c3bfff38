//! The columns a connection reads as JSON (its `json` option): their text comes back decoded
//! into Lua values, whatever the driver calls the column's type (MariaDB's JSON is LONGTEXT,
//! SQLite has no JSON type).

use std::sync::Arc;

use mlua::{IntoLuaMulti, Lua, MultiValue, Result, Table, Value};

use crate::error::Error;
use crate::luavalue::{DecodeOptions, DEFAULT_MAX_DEPTH};
use crate::runtime::Outcome;

#[derive(Clone, Default)]
pub struct JsonColumns(Arc<[String]>);

impl JsonColumns {
    /// The `json` option: a list of column names.
    pub fn from_option(value: Value) -> Result<JsonColumns> {
        let names = match value {
            Value::Nil => return Ok(JsonColumns::default()),
            Value::Table(t) => t.sequence_values::<String>().collect::<Result<Vec<_>>>(),
            other => return Err(mlua::Error::runtime(format!("db.connect: json must be a list of column names, got {}", other.type_name()))),
        };
        let names = names.map_err(|_| mlua::Error::runtime("db.connect: json must be a list of column names (strings)"))?;
        Ok(JsonColumns(names.into()))
    }

    /// A statement's answer with these columns of each row decoded: the rows, or nil and an
    /// error naming the first cell that is not JSON. Other answers pass unchanged.
    pub fn apply(&self, lua: &Lua, answer: MultiValue) -> Result<MultiValue> {
        let Some(Value::Table(rows)) = answer.front().filter(|_| !self.0.is_empty()) else {
            return Ok(answer);
        };
        match self.decode(lua, rows) {
            Ok(()) => Ok(answer),
            Err(e) => (Value::Nil, e).into_lua_multi(lua),
        }
    }

    /// `outcome` with these columns decoded when it is delivered.
    pub fn deliver(&self, outcome: Outcome) -> Outcome {
        if self.0.is_empty() {
            return outcome;
        }
        let columns = self.clone();
        let deliver = outcome?;
        Ok(Box::new(move |lua| columns.apply(lua, deliver(lua)?)))
    }

    fn decode(&self, lua: &Lua, rows: &Table) -> std::result::Result<(), Error> {
        let opts = DecodeOptions { all: false, max_depth: DEFAULT_MAX_DEPTH };
        let internal = |e: mlua::Error| Error::new(crate::error::Kind::Internal, e.to_string());
        for (i, row) in rows.sequence_values::<Table>().enumerate() {
            let row = row.map_err(internal)?;
            for name in self.0.iter() {
                let Value::String(text) = row.raw_get::<Value>(name.as_str()).map_err(internal)? else {
                    continue;
                };
                let value = crate::json::decode(lua, &text.as_bytes(), &opts)
                    .map_err(internal)?
                    .map_err(|e| Error::invalid(format!("db: column {name} of row {} is not JSON: {}", i + 1, e.message)))?;
                row.raw_set(name.as_str(), value).map_err(internal)?;
            }
        }
        Ok(())
    }
}
