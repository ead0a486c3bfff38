//! mdns: DNS-SD over multicast DNS (mdns-sd): services discovered for a while, browsed as they
//! appear and leave (waiting like every other primitive, so tasks go on meanwhile), and
//! announced until their handle is closed.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mdns_sd::{IfKind, ResolvedService, ServiceDaemon, ServiceEvent, ServiceInfo};
use mlua::{IntoLuaMulti, Lua, MultiValue, Result, Table, UserData, UserDataRef, Value};

use crate::bridge::{self, Class, ModuleDef, Need, Resources, TypeDef};
use crate::error::{Error, Kind};
use crate::func;
use crate::runtime::{deliver, duration};

/// mDNS's multicast group, which every function reaches.
fn multicast(_: &MultiValue) -> Resources {
    vec![("net", Some("224.0.0.251:5353".to_string()))]
}

static NEEDS: &[Need] = &[Need::custom("net", "the mDNS group 224.0.0.251:5353", multicast)];

pub static DEFINITION: ModuleDef = ModuleDef {
    name: "mdns",
    description: "mDNS service discovery (DNS-SD): discover, browse appearances and departures, announce",
    classes: &[Class::Network],
    functions: &[
        func!("discover", "The instances of a service type (\"_ssh._tcp\") that answer within the timeout.", [service_type: "string", options: "mdns.DiscoverOptions?"], [instances: "mdns.Instance[]?", err: "essh.Error?"]).needs(NEEDS),
        func!("browse", "Calls fn for each instance that appears or leaves, until fn returns false or the timeout passes; other tasks run meanwhile.", [service_type: "string", fn_: "fun(event: mdns.Event): boolean?", options: "mdns.DiscoverOptions?"], [ok: "boolean?", err: "essh.Error?"]).needs(NEEDS),
        func!("announce", "Announces a service until the handle is closed or collected.", [service: "mdns.Service"], [handle: "mdns.Announcement?", err: "essh.Error?"]).needs(NEEDS),
    ],
    constants: &[],
    types: &[
        TypeDef::record("mdns.DiscoverOptions", "", &[
            crate::typed!(timeout: "number?", "Seconds (default 2 for discover; browse: until fn returns false)."),
            crate::typed!(interface: "string?", "Only this network interface (a name such as eth0, or an address)."),
        ]),
        TypeDef::record("mdns.Instance", "", &[
            crate::typed!(name: "string", "The instance name (\"web1\")."),
            crate::typed!(fullname: "string", "web1._ssh._tcp.local."),
            crate::typed!(type: "string", "_ssh._tcp.local."),
            crate::typed!(hostname: "string", "web1.local."),
            crate::typed!(addresses: "string[]", "IPv4 first, then IPv6."),
            crate::typed!(port: "integer"),
            crate::typed!(txt: "table<string, string>"),
        ]),
        TypeDef::record("mdns.Event", "mdns.Instance, plus:", &[
            crate::typed!(event: "\"appear\"|\"leave\""),
        ]),
        TypeDef::record("mdns.Service", "", &[
            crate::typed!(name: "string"),
            crate::typed!(type: "string", "_ssh._tcp"),
            crate::typed!(port: "integer"),
            crate::typed!(txt: "table<string, string|number|boolean>?"),
            crate::typed!(hostname: "string?", "Default: this machine's name in .local."),
            crate::typed!(addresses: "string[]?", "Default: every address of the machine's interfaces."),
            crate::typed!(interface: "string?", "Announce only on this interface."),
        ]),
        TypeDef {
            name: "mdns.Announcement",
            doc: "An announced service.",
            fields: &[crate::typed!(fullname: "string")],
            methods: &[func!("close", "Withdraws the service (goodbye packets).", [], [])],
            method_index: Some(announcement_index),
        },
    ],
    build,
};

/// `_ssh._tcp` as mdns-sd names it: `_ssh._tcp.local.`.
pub fn service_domain(service_type: &str) -> std::result::Result<String, String> {
    let t = service_type.trim_end_matches('.');
    let t = t.strip_suffix(".local").unwrap_or(t);
    let labels: Vec<&str> = t.split('.').collect();
    let ok = labels.len() >= 2
        && labels.iter().all(|l| l.starts_with('_') && l.len() > 1)
        && matches!(labels.last().copied(), Some("_tcp") | Some("_udp"));
    if !ok {
        return Err(format!("mdns: '{service_type}' is not a service type such as _ssh._tcp"));
    }
    Ok(format!("{t}.local."))
}

/// The instance name of a full name: `web 1._ssh._tcp.local.` gives `web 1`.
pub fn instance_name(fullname: &str, domain: &str) -> String {
    let name = fullname.strip_suffix(domain).map(|n| n.trim_end_matches('.')).unwrap_or(fullname);
    name.replace("\\.", ".").replace("\\\\", "\\")
}

fn mdns_error(e: impl std::fmt::Display) -> Error {
    Error::new(Kind::Network, format!("mdns: {e}"))
}

fn daemon(interface: Option<&str>) -> std::result::Result<ServiceDaemon, Error> {
    let d = ServiceDaemon::new().map_err(mdns_error)?;
    if let Some(name) = interface {
        d.disable_interface(IfKind::All).map_err(mdns_error)?;
        let kind = match name.parse::<std::net::IpAddr>() {
            Ok(addr) => IfKind::Addr(addr),
            Err(_) => IfKind::Name(name.to_string()),
        };
        d.enable_interface(kind).map_err(mdns_error)?;
    }
    Ok(d)
}

/// An instance, as plain data.
#[derive(Clone, Debug)]
pub struct Found {
    pub name: String,
    pub fullname: String,
    pub ty: String,
    pub hostname: String,
    pub addresses: Vec<std::net::IpAddr>,
    pub port: u16,
    pub txt: Vec<(String, String)>,
}

impl Found {
    fn of(s: &ResolvedService) -> Found {
        let mut addresses: Vec<std::net::IpAddr> = s.addresses.iter().map(|a| a.to_ip_addr()).collect();
        addresses.sort_by_key(|a| (a.is_ipv6(), *a));
        let mut txt: Vec<(String, String)> =
            s.txt_properties.iter().map(|p| (p.key().to_string(), p.val_str().to_string())).collect();
        txt.sort();
        Found {
            name: instance_name(&s.fullname, &s.ty_domain),
            fullname: s.fullname.clone(),
            ty: s.ty_domain.clone(),
            hostname: s.host.clone(),
            addresses,
            port: s.port,
            txt,
        }
    }

    fn gone(fullname: &str, domain: &str) -> Found {
        Found {
            name: instance_name(fullname, domain),
            fullname: fullname.to_string(),
            ty: domain.to_string(),
            hostname: String::new(),
            addresses: Vec::new(),
            port: 0,
            txt: Vec::new(),
        }
    }

    fn to_lua(&self, lua: &Lua, event: Option<&str>) -> Result<Table> {
        let t = lua.create_table()?;
        if let Some(e) = event {
            t.raw_set("event", e)?;
        }
        t.raw_set("name", self.name.as_str())?;
        t.raw_set("fullname", self.fullname.as_str())?;
        t.raw_set("type", self.ty.as_str())?;
        t.raw_set("hostname", self.hostname.as_str())?;
        t.raw_set("port", self.port)?;
        t.raw_set("addresses", lua.create_sequence_from(self.addresses.iter().map(|a| a.to_string()))?)?;
        let txt = lua.create_table()?;
        for (k, v) in &self.txt {
            txt.raw_set(k.as_str(), v.as_str())?;
        }
        t.raw_set("txt", txt)?;
        Ok(t)
    }
}

/// A running browse: its daemon, the events it has not handed out, and what it has seen.
pub struct Browser {
    daemon: ServiceDaemon,
    domain: String,
    events: mdns_sd::Receiver<ServiceEvent>,
    seen: Mutex<HashMap<String, Found>>,
}

impl Browser {
    fn start(service_type: &str, interface: Option<&str>) -> std::result::Result<Browser, Error> {
        let domain = service_domain(service_type).map_err(Error::invalid)?;
        let daemon = daemon(interface)?;
        let events = daemon.browse(&domain).map_err(mdns_error)?;
        Ok(Browser { daemon, domain, events, seen: Mutex::new(HashMap::new()) })
    }

    /// The next appearance or departure before `deadline`: None when it passes.
    async fn next(&self, deadline: Option<Instant>) -> std::result::Result<Option<(&'static str, Found)>, Error> {
        loop {
            let event = match deadline {
                Some(d) => match tokio::time::timeout(d.saturating_duration_since(Instant::now()), self.events.recv_async()).await {
                    Ok(e) => e,
                    Err(_) => return Ok(None),
                },
                None => self.events.recv_async().await,
            };
            let event = event.map_err(|_| mdns_error("the browse ended"))?;
            let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
            match event {
                ServiceEvent::ServiceResolved(s) => {
                    let found = Found::of(&s);
                    if seen.insert(found.fullname.clone(), found.clone()).is_none() {
                        return Ok(Some(("appear", found)));
                    }
                }
                ServiceEvent::ServiceRemoved(_, fullname) => {
                    let found = seen.remove(&fullname).unwrap_or_else(|| Found::gone(&fullname, &self.domain));
                    return Ok(Some(("leave", found)));
                }
                _ => {}
            }
        }
    }

    fn stop(&self) {
        let _ = self.daemon.stop_browse(&self.domain);
        let _ = self.daemon.shutdown();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A browse as Lua holds it.
pub struct Browsing(Arc<Browser>);

impl UserData for Browsing {}

/// An announced service; dropping it withdraws the service.
pub struct Announcement {
    daemon: Mutex<Option<ServiceDaemon>>,
    fullname: String,
}

impl Announcement {
    fn close(&self) {
        if let Some(d) = self.daemon.lock().unwrap_or_else(|p| p.into_inner()).take() {
            if let Ok(done) = d.unregister(&self.fullname) {
                let _ = done.recv_timeout(Duration::from_secs(2));
            }
            let _ = d.shutdown();
        }
    }
}

impl Drop for Announcement {
    fn drop(&mut self) {
        self.close();
    }
}

impl UserData for Announcement {
    fn add_fields<F: mlua::UserDataFields<Self>>(fields: &mut F) {
        fields.add_field_method_get("fullname", |_, a| Ok(a.fullname.clone()));
        fields.add_meta_field_with("__index", announcement_index);
    }

    fn add_methods<M: mlua::UserDataMethods<Self>>(methods: &mut M) {
        methods.add_meta_method(mlua::MetaMethod::ToString, |_, a, ()| Ok(format!("mdns.Announcement ({})", a.fullname)));
        #[cfg(feature = "lua54")]
        methods.add_meta_method(mlua::MetaMethod::Close, |_, a, _: Value| {
            a.close();
            Ok(())
        });
    }
}

fn announcement_index(lua: &Lua) -> Result<Table> {
    bridge::method_table(lua, "essh_native.mdns.Announcement", |lua, m| {
        bridge::export(lua, m, "announcement:close", |_, a: UserDataRef<Announcement>| {
            a.close();
            Ok(())
        })
    })
}

fn this_host() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into buf.
    let ok = unsafe { libc::gethostname(buf.as_mut_ptr() as *mut libc::c_char, buf.len()) } == 0;
    let name = if ok { String::from_utf8_lossy(&buf[..buf.iter().position(|&b| b == 0).unwrap_or(0)]).into_owned() } else { String::new() };
    let short = name.split('.').next().unwrap_or("").to_string();
    if short.is_empty() { "essh.local.".into() } else { format!("{short}.local.") }
}

fn text_of(v: Value, what: &str) -> Result<String> {
    Ok(match v {
        Value::String(s) => s.to_str()?.to_string(),
        Value::Integer(n) => n.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Boolean(b) => b.to_string(),
        other => return Err(mlua::Error::runtime(format!("mdns.announce: {what} must be a string, number or boolean, got {}", other.type_name()))),
    })
}

fn announce(lua: &Lua, spec: Table) -> Result<MultiValue> {
    const KNOWN: &[&str] = &["name", "type", "port", "txt", "hostname", "addresses", "interface"];
    if let Some(name) = bridge::unknown_option(&spec, KNOWN)? {
        return Err(mlua::Error::runtime(format!("mdns.announce: unknown field '{name}'")));
    }
    let name: String = spec.raw_get::<Option<String>>("name")?.ok_or_else(|| mlua::Error::runtime("mdns.announce: name is required"))?;
    let ty: String = spec.raw_get::<Option<String>>("type")?.ok_or_else(|| mlua::Error::runtime("mdns.announce: type is required (_ssh._tcp)"))?;
    let port: u16 = spec.raw_get::<Option<u16>>("port")?.ok_or_else(|| mlua::Error::runtime("mdns.announce: port is required"))?;
    let domain = service_domain(&ty).map_err(mlua::Error::runtime)?;
    let mut txt: HashMap<String, String> = HashMap::new();
    if let Some(t) = spec.raw_get::<Option<Table>>("txt")? {
        for pair in t.pairs::<String, Value>() {
            let (k, v) = pair?;
            txt.insert(k.clone(), text_of(v, &format!("txt.{k}"))?);
        }
    }
    let hostname = match spec.raw_get::<Option<String>>("hostname")? {
        Some(h) if h.ends_with('.') => h,
        Some(h) if h.ends_with(".local") => format!("{h}."),
        Some(h) => format!("{h}.local."),
        None => this_host(),
    };
    let mut addresses: Vec<std::net::IpAddr> = Vec::new();
    if let Some(list) = spec.raw_get::<Option<Table>>("addresses")? {
        for a in list.sequence_values::<String>() {
            let a = a?;
            addresses.push(a.parse().map_err(|_| mlua::Error::runtime(format!("mdns.announce: '{a}' is not an IP address")))?);
        }
    }
    let interface: Option<String> = spec.raw_get("interface")?;
    let outcome = (|| {
        let d = daemon(interface.as_deref())?;
        let info = ServiceInfo::new(&domain, &name, &hostname, &addresses[..], port, txt).map_err(mdns_error)?;
        let info = if addresses.is_empty() { info.enable_addr_auto() } else { info };
        let fullname = info.get_fullname().to_string();
        d.register(info).map_err(mdns_error)?;
        Ok(Announcement { daemon: Mutex::new(Some(d)), fullname })
    })();
    match outcome {
        Ok(a) => lua.create_userdata(a)?.into_lua_multi(lua),
        Err(e) => crate::error::pair::<Value>(lua, Err(e)),
    }
}

fn build(lua: &Lua, m: &Table) -> Result<()> {
    crate::runtime::export_waiting(lua, m, "mdns.discover", |lua, (ty, opts): (String, Option<Table>)| {
        let (timeout, interface) = discover_options(lua, opts.as_ref(), "mdns.discover", 2.0)?;
        let browser = Browser::start(&ty, interface.as_deref());
        Ok(async move {
            let browser = browser?;
            let deadline = Instant::now() + timeout.unwrap_or(Duration::from_secs(2));
            let mut found: Vec<Found> = Vec::new();
            let mut names = HashSet::new();
            while let Some((event, f)) = browser.next(Some(deadline)).await? {
                if event == "appear" && names.insert(f.fullname.clone()) {
                    found.push(f);
                } else if event == "leave" {
                    names.remove(&f.fullname);
                    found.retain(|x| x.fullname != f.fullname);
                }
            }
            browser.stop();
            found.sort_by(|a, b| a.name.cmp(&b.name));
            deliver(move |lua| lua.create_sequence_from(found.iter().map(|f| f.to_lua(lua, None)).collect::<Result<Vec<_>>>()?))
        })
    })?;
    let start = bridge::function(lua, "mdns.browse", |lua, (ty, opts): (String, Option<Table>)| {
        let (timeout, interface) = discover_options(lua, opts.as_ref(), "mdns.browse", 0.0)?;
        match Browser::start(&ty, interface.as_deref()) {
            Ok(b) => (lua.create_userdata(Browsing(Arc::new(b)))?, timeout.map(|d| d.as_secs_f64())).into_lua_multi(lua),
            Err(e) => crate::error::pair::<Value>(lua, Err(e)),
        }
    })?;
    let next = crate::runtime::waiting(lua, "mdns.browse", |_, (b, wait): (UserDataRef<Browsing>, Option<f64>)| {
        let deadline = wait.map(|w| Instant::now() + Duration::from_secs_f64(w.max(0.0)));
        let b = b.0.clone();
        Ok(async move {
            let next = b.next(deadline).await?;
            deliver(move |lua| match next {
                Some((event, f)) => Ok(Value::Table(f.to_lua(lua, Some(event))?)),
                None => Ok(Value::Nil),
            })
        })
    })?;
    let stop = bridge::function(lua, "mdns.browse", |_, b: UserDataRef<Browsing>| {
        b.0.stop();
        Ok(())
    })?;
    let native = lua.create_table()?;
    native.raw_set("start", start)?;
    native.raw_set("next", next)?;
    native.raw_set("stop", stop)?;
    native.raw_set("monotonic", lua.create_function(|_, ()| Ok(crate::runtime::monotonic()))?)?;
    let browse: mlua::Function = bridge::run_embedded(lua, "mdns", include_str!("lua/mdns_browse.lua"), native)?;
    m.raw_set("browse", browse)?;
    bridge::export(lua, m, "mdns.announce", announce)?;
    Ok(())
}

fn discover_options(_: &Lua, t: Option<&Table>, what: &str, _default: f64) -> Result<(Option<Duration>, Option<String>)> {
    let Some(t) = t else { return Ok((None, None)) };
    if let Some(name) = bridge::unknown_option(t, &["timeout", "interface"])? {
        return Err(mlua::Error::runtime(format!("{what}: unknown option '{name}'")));
    }
    let timeout = match t.raw_get::<Option<f64>>("timeout")? {
        Some(s) => Some(duration(s, what)?),
        None => None,
    };
    Ok((timeout, t.raw_get("interface")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_types_take_the_local_domain() {
        assert_eq!(service_domain("_ssh._tcp").unwrap(), "_ssh._tcp.local.");
        assert_eq!(service_domain("_http._tcp.local.").unwrap(), "_http._tcp.local.");
        assert!(service_domain("ssh").unwrap_err().contains("not a service type"));
        assert!(service_domain("_ssh._xyz").is_err());
    }

    #[test]
    fn instance_names_lose_their_domain_and_escapes() {
        assert_eq!(instance_name("web 1._ssh._tcp.local.", "_ssh._tcp.local."), "web 1");
        assert_eq!(instance_name("a\\.b._ssh._tcp.local.", "_ssh._tcp.local."), "a.b");
    }
}
