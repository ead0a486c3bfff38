//! gotemplate: Go's text/template (over the gotmpl crate), for essh v3's drivers, prefixes and
//! `template.dostring`, with v3's functions ShellEscape, ToUpper, ToLower, EnvKeyEscape, Add
//! and, for a prefix, HostnameAlignString.

use std::collections::BTreeMap;
use std::sync::Arc;

use gotmpl::{Template, TemplateError, Value as GoValue};
use mlua::{Lua, Result, Table, Value};

use crate::bridge::{export, Class, ModuleDef, TypeDef};
use crate::error::{self, Error};
use crate::func;

pub static DEFINITION: ModuleDef = ModuleDef {
    name: "gotemplate",
    description: "Go text/template, as essh v3's drivers, prefixes and template module used it",
    classes: &[Class::Deterministic],
    functions: &[
        func!("render", "Executes a Go text/template with data (tables with items 1..n are lists, other tables maps); the rendered text, or nil and an error naming the template's line.", [text: "string", data: "any", options: "gotemplate.Options?"], [text: "string?", err: "essh.Error?"]),
    ],
    constants: &[],
    types: &[TypeDef::record("gotemplate.Options", "", &[
        crate::typed!(name: "string?", "The template's name in errors (default \"T\")."),
        crate::typed!(templates: "string[]?", "More template texts parsed after it, for their {{define}}s."),
        crate::typed!(align: "integer?", "Gives HostnameAlignString: HostnameAlignString \" \" is align + 1 spaces."),
    ])],
    build,
};

/// How deep nested tables may go before the data is refused (a cycle gets there too).
const MAX_DEPTH: usize = 100;

fn build(lua: &Lua, m: &Table) -> Result<()> {
    export(lua, m, "gotemplate.render", |lua, (text, data, options): (mlua::LuaString, Value, Option<Table>)| {
        let name = options.as_ref().map(|o| o.raw_get::<Option<String>>("name")).transpose()?.flatten();
        let align = options.as_ref().map(|o| o.raw_get::<Option<usize>>("align")).transpose()?.flatten();
        let mut extra = Vec::new();
        if let Some(list) = options.as_ref().map(|o| o.raw_get::<Option<Table>>("templates")).transpose()?.flatten() {
            for text in list.sequence_values::<mlua::LuaString>() {
                extra.push(text?.to_str()?.to_string());
            }
        }
        let result = (|| {
            let text = text.to_str().map_err(|_| Error::invalid("the template is not valid UTF-8"))?;
            let data = to_go(&data, 0)?;
            render(&text, &data, name.as_deref().unwrap_or("T"), &extra, align)
        })();
        error::pair(lua, result)
    })?;
    Ok(())
}

/// A Lua value as template data.
fn to_go(value: &Value, depth: usize) -> error::Result<GoValue> {
    if depth > MAX_DEPTH {
        return Err(Error::invalid(format!("template data nests deeper than {MAX_DEPTH} levels (a cycle?)")));
    }
    Ok(match value {
        Value::Nil | Value::LightUserData(_) => GoValue::Nil,
        Value::Boolean(b) => GoValue::Bool(*b),
        Value::Integer(i) => GoValue::Int(*i),
        Value::Number(n) if n.fract() == 0.0 && n.abs() < 9.007_199_254_740_992e15 => GoValue::Int(*n as i64),
        Value::Number(n) => GoValue::Float(*n),
        Value::String(s) => GoValue::String(Arc::from(
            s.to_str().map_err(|_| Error::invalid("template data holds a string that is not valid UTF-8"))?.as_ref(),
        )),
        Value::Table(t) => table_to_go(t, depth)?,
        Value::Error(e) => GoValue::String(Arc::from(e.to_string().as_str())),
        _ => GoValue::Nil,
    })
}

/// A table with items 1..n is a list (v3 read tables the same way); any other a map whose keys
/// are written as strings.
fn table_to_go(t: &Table, depth: usize) -> error::Result<GoValue> {
    let lua_err = |e: mlua::Error| Error::invalid(format!("template data: {e}"));
    let len = t.raw_len();
    if len > 0 {
        let mut items = Vec::with_capacity(len);
        for i in 1..=len {
            items.push(to_go(&t.raw_get::<Value>(i).map_err(lua_err)?, depth + 1)?);
        }
        return Ok(GoValue::List(items.into()));
    }
    let mut map = BTreeMap::new();
    for pair in t.pairs::<Value, Value>() {
        let (k, v) = pair.map_err(lua_err)?;
        let key = match &k {
            Value::String(s) => s.to_str().map_err(|_| Error::invalid("template data has a key that is not UTF-8"))?.to_string(),
            Value::Integer(i) => i.to_string(),
            Value::Number(n) => n.to_string(),
            Value::Boolean(b) => b.to_string(),
            _ => continue,
        };
        map.insert(Arc::from(key.as_str()), to_go(&v, depth + 1)?);
    }
    Ok(GoValue::Map(Arc::new(map)))
}

/// v3's ShellEscape: the text in single quotes, each ' written as '"'"'.
pub fn shell_escape(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\"'\"'"))
}

/// v3's EnvKeyEscape: - and . become _.
pub fn env_key_escape(s: &str) -> String {
    s.replace(['-', '.'], "_")
}

fn one_string(name: &str, args: &[GoValue]) -> gotmpl::Result<String> {
    match args {
        [GoValue::String(s)] => Ok(s.to_string()),
        [other] => Ok(other.to_string()),
        _ => Err(TemplateError::ArgCount { name: name.to_string(), expected: 1, got: args.len() }),
    }
}

fn int_of(v: &GoValue) -> Option<i64> {
    match v {
        GoValue::Int(i) => Some(*i),
        GoValue::Uint(u) => i64::try_from(*u).ok(),
        GoValue::Float(f) if f.fract() == 0.0 => Some(*f as i64),
        _ => None,
    }
}

/// Executes `text` (then parses `extra` for their defines) with `data`.
pub fn render(text: &str, data: &GoValue, name: &str, extra: &[String], align: Option<usize>) -> error::Result<String> {
    let mut template = Template::new(name)
        .func("ShellEscape", |a| Ok(GoValue::from(shell_escape(&one_string("ShellEscape", a)?))))
        .func("ToUpper", |a| Ok(GoValue::from(one_string("ToUpper", a)?.to_uppercase())))
        .func("ToLower", |a| Ok(GoValue::from(one_string("ToLower", a)?.to_lowercase())))
        .func("EnvKeyEscape", |a| Ok(GoValue::from(env_key_escape(&one_string("EnvKeyEscape", a)?))))
        .func("Add", |a| match a {
            [x, y] => match (int_of(x), int_of(y)) {
                (Some(x), Some(y)) => Ok(GoValue::Int(x.wrapping_add(y))),
                _ => Err(TemplateError::Exec("Add takes two integers".to_string())),
            },
            _ => Err(TemplateError::ArgCount { name: "Add".to_string(), expected: 2, got: a.len() }),
        });
    if let Some(extra_width) = align {
        template = template.func("HostnameAlignString", move |a| {
            Ok(GoValue::from(one_string("HostnameAlignString", a)?.repeat(extra_width + 1)))
        });
    }
    let failed = |e: TemplateError| Error::invalid(e.to_string());
    let mut template = template.parse(text).map_err(failed)?;
    for more in extra {
        template = template.parse(more).map_err(failed)?;
    }
    template.execute_to_string(data).map_err(failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, GoValue)]) -> GoValue {
        GoValue::Map(Arc::new(pairs.iter().map(|(k, v)| (Arc::from(*k), v.clone())).collect()))
    }

    #[test]
    fn renders_defines_ranges_over_sorted_maps_and_v3s_functions() {
        let defines = r#"{{define "vars" -}}
{{range $key, $value := .Props}}{{$key | ToUpper | EnvKeyEscape}}={{$value | ShellEscape}} {{end -}}
{{range $i, $a := .Args}}{{Add $i 1}}:{{$a}} {{end -}}
{{end}}
"#;
        let text = "{{template \"vars\" .}}[{{.Name | ToLower}}]";
        let data = map(&[
            ("Name", GoValue::from("IT'S")),
            ("Props", map(&[("b.x", GoValue::from("it's")), ("a-y", GoValue::from("1"))])),
            ("Args", GoValue::List(vec![GoValue::from("v1"), GoValue::from("v2")].into())),
        ]);
        let out = render(text, &data, "base", &[defines.to_string()], None).unwrap();
        assert_eq!(out, "A_Y='1' B_X='it'\"'\"'s' 1:v1 2:v2 [it's]");
    }

    #[test]
    fn aligns_prefixes_and_reports_errors_with_their_line() {
        let data = map(&[("Host", map(&[("Name", GoValue::from("web1"))]))]);
        let out = render("[remote:{{.Host.Name}}]{{HostnameAlignString \" \"}}", &data, "T", &[], Some(2)).unwrap();
        assert_eq!(out, "[remote:web1]   ");
        let err = render("a\n{{if}}", &data, "driver x", &[], None).unwrap_err();
        assert!(err.message.contains("driver x:2"), "{}", err.message);
        let missing = render("{{HostnameAlignString \" \"}}", &data, "T", &[], None).unwrap_err();
        assert!(missing.message.contains("HostnameAlignString"), "{}", missing.message);
    }
}
