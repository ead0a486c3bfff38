//! gotemplate: Go's text/template (over the gotmpl crate), for essh v3's drivers, prefixes and
//! `template.dostring`, with v3's functions ShellEscape, ToUpper, ToLower, EnvKeyEscape, Add
//! and, for a prefix, HostnameAlignString.

use std::collections::BTreeMap;
use std::sync::Arc;

use gotmpl::parse::{Expr, ListNode, Node, PipeNode, Pos};
use gotmpl::{FuncMap, Template, TemplateError, Value as GoValue, ValueFunc};
use mlua::{Lua, Result, Table, Value};

use crate::bridge::{export, Class, ModuleDef, TypeDef};
use crate::error::{self, Error};
use crate::func;

pub static DEFINITION: ModuleDef = ModuleDef {
    name: "gotemplate",
    description: "Go text/template, as essh v3's drivers, prefixes and template module used it",
    classes: &[Class::Deterministic],
    functions: &[
        func!("check", "Parses a Go text/template as render would, a call of a function it does not have included; true, or nil and an error naming the template's line.", [text: "string", options: "gotemplate.Options?"], [ok: "boolean?", err: "essh.Error?"]),
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

/// The name and the alignment of `options` (gotemplate.Options).
fn name_and_align(options: &Option<Table>) -> Result<(String, Option<usize>)> {
    let name = options.as_ref().map(|o| o.raw_get::<Option<String>>("name")).transpose()?.flatten();
    let align = options.as_ref().map(|o| o.raw_get::<Option<usize>>("align")).transpose()?.flatten();
    Ok((name.unwrap_or_else(|| "T".to_string()), align))
}

fn utf8(text: &mlua::LuaString) -> error::Result<String> {
    Ok(text.to_str().map_err(|_| Error::invalid("the template is not valid UTF-8"))?.to_string())
}

fn build(lua: &Lua, m: &Table) -> Result<()> {
    export(lua, m, "gotemplate.check", |lua, (text, options): (mlua::LuaString, Option<Table>)| {
        let (name, align) = name_and_align(&options)?;
        error::pair(lua, utf8(&text).and_then(|text| parse(&text, &name, align)).map(|_| true))
    })?;
    export(lua, m, "gotemplate.render", |lua, (text, data, options): (mlua::LuaString, Value, Option<Table>)| {
        let (name, align) = name_and_align(&options)?;
        let mut extra = Vec::new();
        if let Some(list) = options.as_ref().map(|o| o.raw_get::<Option<Table>>("templates")).transpose()?.flatten() {
            for text in list.sequence_values::<mlua::LuaString>() {
                extra.push(text?.to_str()?.to_string());
            }
        }
        let result = (|| {
            let text = utf8(&text)?;
            let data = to_go(&data, 0)?;
            render(&text, &data, &name, &extra, align)
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

/// The functions every Go template has (text/template's builtins).
const BUILTINS: [&str; 19] = [
    "and", "call", "eq", "ge", "gt", "html", "index", "js", "le", "len", "lt", "ne", "not", "or", "print", "printf",
    "println", "slice", "urlquery",
];

/// v3's functions, and HostnameAlignString for a prefix padded by `align`.
fn v3_functions(align: Option<usize>) -> FuncMap {
    let mut functions = FuncMap::new();
    let mut add = |name: &str, f: ValueFunc| {
        functions.insert(name.to_string(), f);
    };
    add("ShellEscape", Arc::new(|a| Ok(GoValue::from(shell_escape(&one_string("ShellEscape", a)?)))));
    add("ToUpper", Arc::new(|a| Ok(GoValue::from(one_string("ToUpper", a)?.to_uppercase()))));
    add("ToLower", Arc::new(|a| Ok(GoValue::from(one_string("ToLower", a)?.to_lowercase()))));
    add("EnvKeyEscape", Arc::new(|a| Ok(GoValue::from(env_key_escape(&one_string("EnvKeyEscape", a)?)))));
    add(
        "Add",
        Arc::new(|a| match a {
            [x, y] => match (int_of(x), int_of(y)) {
                (Some(x), Some(y)) => Ok(GoValue::Int(x.wrapping_add(y))),
                _ => Err(TemplateError::Exec("Add takes two integers".to_string())),
            },
            _ => Err(TemplateError::ArgCount { name: "Add".to_string(), expected: 2, got: a.len() }),
        }),
    );
    if let Some(extra_width) = align {
        add(
            "HostnameAlignString",
            Arc::new(move |a| Ok(GoValue::from(one_string("HostnameAlignString", a)?.repeat(extra_width + 1)))),
        );
    }
    functions
}

/// `text` parsed as template `name`, refused as Go refuses it, a function it calls that does
/// not exist included (gotmpl finds those only when it executes the call).
pub fn parse(text: &str, name: &str, align: Option<usize>) -> error::Result<Template> {
    let functions = v3_functions(align);
    let template = Template::new(name).funcs(functions.clone()).parse(text).map_err(template_error(name))?;
    let known = |f: &str| BUILTINS.contains(&f) || functions.contains_key(f);
    for tree in template.templates().into_iter().filter_map(|t| template.lookup(t)) {
        if let Some((pos, function)) = first_unknown_in_list(tree, &known) {
            let before = text.get(..pos.offset).unwrap_or(text);
            let col = before.rsplit('\n').next().map_or(0, |line| line.chars().count()) + 1;
            return Err(Error::invalid(
                TemplateError::Parse {
                    name: Some(name.to_string()),
                    line: pos.line,
                    col,
                    message: format!("function {function:?} not defined"),
                }
                .to_string(),
            ));
        }
    }
    Ok(template)
}

type Known<'a> = dyn Fn(&str) -> bool + 'a;

fn first_unknown_in_list(list: &ListNode, known: &Known) -> Option<(Pos, String)> {
    list.nodes.iter().find_map(|node| first_unknown_in_node(node, known))
}

fn first_unknown_in_node(node: &Node, known: &Known) -> Option<(Pos, String)> {
    match node {
        Node::List(list) => first_unknown_in_list(list, known),
        Node::Action(action) => first_unknown_in_pipe(&action.pipe, known),
        Node::If(branch) | Node::Range(branch) | Node::With(branch) => first_unknown_in_pipe(&branch.pipe, known)
            .or_else(|| first_unknown_in_list(&branch.body, known))
            .or_else(|| branch.else_body.as_ref().and_then(|e| first_unknown_in_list(e, known))),
        Node::Template(call) => call.pipe.as_ref().and_then(|p| first_unknown_in_pipe(p, known)),
        Node::Define(define) => first_unknown_in_list(&define.body, known),
        Node::Text(_) | Node::Break(_) | Node::Continue(_) => None,
    }
}

fn first_unknown_in_pipe(pipe: &PipeNode, known: &Known) -> Option<(Pos, String)> {
    pipe.commands.iter().flat_map(|c| c.args.iter()).find_map(|e| first_unknown_in_expr(e, known))
}

fn first_unknown_in_expr(expr: &Expr, known: &Known) -> Option<(Pos, String)> {
    match expr {
        Expr::Identifier(pos, name) if !known(name) => Some((*pos, name.to_string())),
        Expr::Pipe(_, pipe) => first_unknown_in_pipe(pipe, known),
        Expr::Chain(_, inner, _) => first_unknown_in_expr(inner, known),
        _ => None,
    }
}

/// An error of template `name`, which names it when gotmpl's message does not (its
/// execution errors).
fn template_error(name: &str) -> impl Fn(TemplateError) -> Error + '_ {
    move |e| {
        let message = e.to_string();
        if message.starts_with("template:") {
            Error::invalid(message)
        } else {
            Error::invalid(format!("template: {name}: {message}"))
        }
    }
}

/// Executes `text` (then parses `extra` for their defines) with `data`.
pub fn render(text: &str, data: &GoValue, name: &str, extra: &[String], align: Option<usize>) -> error::Result<String> {
    let mut template = parse(text, name, align)?;
    for more in extra {
        template = template.parse(more).map_err(template_error(name))?;
    }
    template.execute_to_string(data).map_err(template_error(name))
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

    #[test]
    fn refuses_a_call_of_a_function_it_does_not_have_as_go_does_when_it_parses() {
        let err = parse("[{{ .Task.Name }}]\n{{if .X}}{{ Add 1 (host.name) }}{{end}}", "prefix", Some(0)).err().unwrap();
        assert_eq!(err.message, "template: prefix:2:20: function \"host\" not defined");
        let in_define = parse("{{define \"d\"}}{{ nope }}{{end}}", "T", None).err().unwrap();
        assert!(in_define.message.contains("function \"nope\" not defined"), "{}", in_define.message);
        let align_only_in_prefixes = parse("{{HostnameAlignString \" \"}}", "driver x", None).err().unwrap();
        assert!(align_only_in_prefixes.message.contains("driver x:1:"), "{}", align_only_in_prefixes.message);
        assert!(parse("{{HostnameAlignString \" \"}}", "prefix", Some(0)).is_ok());
    }

    #[test]
    fn knows_every_builtin_gotmpl_has() {
        for name in BUILTINS {
            let err = render(&format!("{{{{ {name} }}}}"), &GoValue::Nil, "T", &[], None).err();
            assert!(err.as_ref().is_none_or(|e| !e.message.contains("not defined")), "{name}: {err:?}");
            let gotmpl_own = Template::new("T").parse(&format!("{{{{ {name} }}}}")).unwrap().execute_to_string(&GoValue::Nil);
            assert!(!matches!(gotmpl_own, Err(TemplateError::UndefinedFunction(_))), "{name}");
        }
        let unknown = Template::new("T").parse("{{ nope }}").unwrap().execute_to_string(&GoValue::Nil);
        assert!(matches!(unknown, Err(TemplateError::UndefinedFunction(_))));
    }

    #[test]
    fn names_the_template_in_errors_of_execution() {
        let err = render("{{ Add 1 \"x\" }}", &GoValue::Nil, "prefix of task t", &[], None).unwrap_err();
        assert!(err.message.starts_with("template: prefix of task t: "), "{}", err.message);
    }
}
