//! The XML of AWS answers, read into a tree of elements in any child order, then into Lua
//! values: generically (lists of `item` or `member` children, repeated names as lists), or
//! along botocore's shapes for EC2 (its member names and types, as boto3 gives them).

use std::collections::HashMap;

use mlua::{Lua, Table, Value};
use quick_xml::events::Event;

/// An element: its local name, its text and its child elements.
#[derive(Debug, Default, Clone)]
pub struct Node {
    pub name: String,
    pub text: String,
    pub children: Vec<Node>,
}

impl Node {
    pub fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }

    /// The text of the child `name`.
    pub fn text_of(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.as_str())
    }

    /// The first element called `name` at any depth, this one included.
    pub fn find(&self, name: &str) -> Option<&Node> {
        if self.name == name {
            return Some(self);
        }
        self.children.iter().find_map(|c| c.find(name))
    }
}

/// The document's root element.
pub fn parse(bytes: &[u8]) -> Result<Node, String> {
    let mut reader = quick_xml::Reader::from_reader(bytes);
    let mut stack: Vec<Node> = vec![Node::default()];
    let mut buf = Vec::new();
    let bad = |e: &dyn std::fmt::Display| format!("malformed XML: {e}");
    loop {
        let event = reader.read_event_into(&mut buf).map_err(|e| bad(&e))?;
        match event {
            Event::Start(e) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                stack.push(Node { name, ..Node::default() });
            }
            Event::Empty(e) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                if let Some(parent) = stack.last_mut() {
                    parent.children.push(Node { name, ..Node::default() });
                }
            }
            Event::End(_) => {
                let node = stack.pop().ok_or_else(|| bad(&"unbalanced end tag"))?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(node),
                    None => return Err(bad(&"unbalanced end tag")),
                }
            }
            Event::Text(t) => {
                let text = t.xml10_content().map_err(|e| bad(&e))?;
                if let Some(node) = stack.last_mut() {
                    node.text.push_str(&text);
                }
            }
            Event::CData(t) => {
                if let Some(node) = stack.last_mut() {
                    node.text.push_str(&String::from_utf8_lossy(&t));
                }
            }
            Event::GeneralRef(r) => {
                let resolved = match r.resolve_char_ref().map_err(|e| bad(&e))? {
                    Some(c) => c.to_string(),
                    None => {
                        let name = r.decode().map_err(|e| bad(&e))?;
                        quick_xml::escape::resolve_predefined_entity(&name)
                            .ok_or_else(|| bad(&format!("unknown entity &{name};")))?
                            .to_string()
                    }
                };
                if let Some(node) = stack.last_mut() {
                    node.text.push_str(&resolved);
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    let document = stack.pop().filter(|_| stack.is_empty()).ok_or_else(|| bad(&"unclosed element"))?;
    document.children.into_iter().next().ok_or_else(|| bad(&"no root element"))
}

/// The element as Lua: text for a leaf, a list when every child is an `item` or a `member`,
/// else a table by child name in which a repeated name, or one of `repeated` (S3's
/// `Contents`, say, which repeats once per object), is a list of its occurrences.
pub fn to_lua(lua: &Lua, node: &Node, repeated: &[&str]) -> mlua::Result<Value> {
    if node.children.is_empty() {
        return Ok(Value::String(lua.create_string(&node.text)?));
    }
    let t = lua.create_table()?;
    if node.children.iter().all(|c| c.name == "item" || c.name == "member") {
        for c in &node.children {
            t.raw_push(to_lua(lua, c, repeated)?)?;
        }
        return Ok(Value::Table(t));
    }
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for c in &node.children {
        *counts.entry(c.name.as_str()).or_default() += 1;
    }
    for c in &node.children {
        let value = to_lua(lua, c, repeated)?;
        if counts[c.name.as_str()] == 1 && !repeated.contains(&c.name.as_str()) {
            t.raw_set(c.name.as_str(), value)?;
            continue;
        }
        let list = match t.raw_get::<Value>(c.name.as_str())? {
            Value::Table(l) => l,
            _ => {
                let l = lua.create_table()?;
                t.raw_set(c.name.as_str(), &l)?;
                l
            }
        };
        list.raw_push(value)?;
    }
    Ok(Value::Table(t))
}

/// botocore's shapes, as tools/aws-shapes.py writes them.
pub struct Shapes {
    shapes: HashMap<String, Shape>,
}

enum Shape {
    /// location name -> (member name, shape)
    Structure(HashMap<String, (String, String)>),
    List(String),
    Scalar(String),
}

impl Shapes {
    pub fn parse(text: &str) -> Shapes {
        let mut shapes = HashMap::new();
        for line in text.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
            let mut words = line.split(' ');
            let (Some(name), Some(kind)) = (words.next(), words.next()) else { continue };
            let shape = match kind {
                "structure" => Shape::Structure(
                    words
                        .filter_map(|w| {
                            let (loc, rest) = w.split_once('=')?;
                            let (member, shape) = rest.split_once(':')?;
                            Some((loc.to_string(), (member.to_string(), shape.to_string())))
                        })
                        .collect(),
                ),
                "list" => Shape::List(words.next().unwrap_or("String").to_string()),
                other => Shape::Scalar(other.to_string()),
            };
            shapes.insert(name.to_string(), shape);
        }
        Shapes { shapes }
    }

    /// `node` read as the shape `name`: member names for location names, lists of items,
    /// integers, booleans and numbers typed, and, for a `Tags` list, its values also by key.
    pub fn to_lua(&self, lua: &Lua, node: &Node, name: &str) -> mlua::Result<Value> {
        match self.shapes.get(name) {
            Some(Shape::Structure(members)) => {
                let t = lua.create_table()?;
                for c in &node.children {
                    if let Some((member, shape)) = members.get(&c.name) {
                        t.raw_set(member.as_str(), self.to_lua(lua, c, shape)?)?;
                        if member == "Tags" {
                            if let Value::Table(tags) = t.raw_get::<Value>("Tags")? {
                                index_tags(&tags)?;
                            }
                        }
                    }
                }
                Ok(Value::Table(t))
            }
            Some(Shape::List(item)) => {
                let t = lua.create_table()?;
                for c in &node.children {
                    t.raw_push(self.to_lua(lua, c, item)?)?;
                }
                Ok(Value::Table(t))
            }
            Some(Shape::Scalar(kind)) => scalar(lua, kind, &node.text),
            None => Ok(Value::String(lua.create_string(&node.text)?)),
        }
    }
}

/// A tags list `{ {Key=, Value=}, ... }` also answers `tags.Key`.
fn index_tags(tags: &Table) -> mlua::Result<()> {
    let pairs: Vec<(String, Value)> = tags
        .sequence_values::<Table>()
        .filter_map(|t| t.ok())
        .filter_map(|t| Some((t.raw_get::<String>("Key").ok()?, t.raw_get::<Value>("Value").ok()?)))
        .collect();
    for (k, v) in pairs {
        tags.raw_set(k, v)?;
    }
    Ok(())
}

fn scalar(lua: &Lua, kind: &str, text: &str) -> mlua::Result<Value> {
    Ok(match kind {
        "integer" | "long" => match text.trim().parse::<i64>() {
            Ok(n) => Value::Integer(n as mlua::Integer),
            Err(_) => Value::String(lua.create_string(text)?),
        },
        "boolean" => Value::Boolean(text.trim() == "true"),
        "double" | "float" => match text.trim().parse::<f64>() {
            Ok(n) => Value::Number(n),
            Err(_) => Value::String(lua.create_string(text)?),
        },
        _ => Value::String(lua.create_string(text)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_elements_in_any_order_with_entities() {
        let doc = br#"<?xml version="1.0"?><R xmlns="x"><a>1 &amp; &#50;</a><b><item><k>v</k></item><item/></b><c><![CDATA[<z>]]></c></R>"#;
        let root = parse(doc).unwrap();
        assert_eq!(root.name, "R");
        assert_eq!(root.text_of("a"), Some("1 & 2"));
        assert_eq!(root.child("b").unwrap().children.len(), 2);
        assert_eq!(root.text_of("c"), Some("<z>"));
        assert_eq!(root.find("k").unwrap().text, "v");
    }

    #[test]
    fn malformed_documents_are_errors() {
        assert!(parse(b"<a><b></a>").unwrap_err().contains("malformed XML"));
        assert!(parse(b"<a>").is_err());
        assert!(parse(b"").is_err());
    }
}
