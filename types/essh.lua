---@meta
-- The Lua API of essh, for editors (LuaLS / LuaCATS). Written by hand; spec/annotations_spec.lua
-- checks it against the code: every function of `essh`, every task and host field, every
-- method of the task context, every option of `essh.run`, every field of its report and every
-- event must be annotated here, and nothing that is gone.

-- The fields that give the native modules (essh.json ...) are in types/essh_modules.lua.
---@class essh
---@field _VERSION string The version of essh.
---@field native essh_native The native core, as `require "essh_native"` returns it.
---@field registry essh.Registry The default registry, which essh.host, essh.task ... fill.
---@field template table Templates: `render(text, vars)`, `render_file(path, vars)`, filters.
---@field log table Levelled, structured logging.
---@field inspect fun(value: any, options: table?): string Readable text of any value.
---@field shell essh.Shell
---@field sh table essh v3's sh module: local programs as functions (`sh.ls("-la")`, pipes as methods).
---@field version string The version of essh (essh v3's essh.version).
---@field ssh_config string The generated ssh_config's path (every host's block); set it to write another file.
---@field inventory essh.Inventory Hosts defined from EC2 instances and mDNS announcements.
---@field storage essh.StorageModule State that outlives a run: `open(name_or_url)` gives a store.
local essh = {}

---@class essh.Shell
local Shell = {}

--- `s` quoted for a POSIX shell (left bare when nothing in it is special).
---@param s any
---@return string
function Shell.quote(s) end

--- A value that prints as ****** in logs, inspect and concatenation; `secret.reveal(s)` gives it back.
---@param value string
---@return essh.Secret
function essh.secret(value) end

---@class essh.Secret

--- SSH options (CamelCase, case-insensitive like ssh_config) and metadata of a host.
---@class essh.HostSpec
---@field HostName string? The address to reach (default: the host's name).
---@field User string?
---@field Port integer|string?
---@field IdentityFile string|string[]?
---@field ProxyJump string?
---@field UserKnownHostsFile string?
---@field StrictHostKeyChecking "yes"|"no"|"accept-new"?
---@field ConnectTimeout integer?
---@field ServerAliveInterval integer?
---@field description string? Shown by `essh --hosts`.
---@field hidden boolean? Left out of listings unless --all.
---@field tags string[]? Names a task's targets and filters can select.
---@field props table<string, any>? Values scripts see as ESSH_HOST_PROPS_*.
---@field init fun(host: essh.Host)? Runs once, when the host is defined; may set any field.
---@field hooks_before_connect (essh.Hook|essh.Hook[])? Run here before a login connects (alias before_connect).
---@field hooks_after_connect (essh.Hook|essh.Hook[])? Run on the host once a login connects, before its shell (alias after_connect).
---@field hooks_after_disconnect (essh.Hook|essh.Hook[])? Run here after a login ends (alias after_disconnect).
---@field hooks_in_tasks boolean? Run the hooks around task connections too (as before_connect, after_connect, after_disconnect).
---@field override boolean? Accepted and ignored: a definition replaces an earlier one of the same name anyway.
---@field connection "ssh"|"local"? How the host's work is done (default "ssh"; "local": on this machine).
---@field ssh_backend "native"|"openssh"? The ssh client of an ssh connection (default "native"; "openssh": the system's ssh, one ControlMaster a host).

--- A defined host: its spec's fields, and its name.
---@alias essh.Hook string|fun(host: essh.Host, t: essh.Context): (string|function|nil) A command, or a function that may return one (or another function).

---@class essh.Host: essh.HostSpec
---@field name string
local Host = {}

--- Whether the host has `tag`.
---@param tag string
---@return boolean
function Host:has_tag(tag) end

--- Whether `target` names this host or one of its tags.
---@param target string
---@return boolean
function Host:matches(target) end

--- The host as an ssh_config block, for OpenSSH tools.
---@return string
function Host:ssh_config() end

--- Defines a host: `host "web1" { HostName = "10.0.0.5", tags = {"web"} }`, or `host("web1", spec)`.
---@param name string
---@param spec essh.HostSpec?
---@return essh.Host
function essh.host(name, spec) end

--- A task definition.
---@class essh.TaskSpec
---@field description string? Shown by `essh --tasks`.
---@field hidden boolean? Left out of listings unless --all.
---@field disabled boolean? Refused by the essh command.
---@field targets (string|string[])? Host names or tags; a task with targets runs on hosts.
---@field filters (string|string[])? The hosts must also match every one of these.
---@field backend "remote"|"local"? Where the script runs (default "local", as in essh v3: once, or once per target host with its variables; "remote" for a Lua function with targets).
---@field parallel (boolean|integer)? Run hosts at once (true: up to 32; a number: at most that many).
---@field prefix (boolean|string)? Prefix lines with essh v3's [remote:NAME], or a Go template ({{.Host.Name}}, HostnameAlignString).
---@field privileged boolean? Run as root through sudo.
---@field user string? Run as this user through sudo.
---@field env table<string, string>? Environment variables of the script.
---@field props table<string, any>? Values scripts see as ESSH_TASK_PROPS_*.
---@field args string[]? Default arguments (ESSH_TASK_ARGS_1 ...).
---@field driver string? The driver whose template wraps the script (default: set -e and essh's variables).
---@field timeout number? Seconds a host may take before it fails.
---@field on_failure ("abort"|"continue"|number)? What a failed host does to the others (default "abort").
---@field prepare fun(t: essh.Context): boolean? Runs here before the hosts are chosen (t.targets = ... changes them); false or raising stops the task.
---@field script string|(string|{code: string, description: string?}|function)[]|{code: string}|fun(t: essh.Context) A shell script (sent over stdin), essh v3's lists of scripts, or a Lua function.
---@field script_file string? A file (or an http(s) URL) whose content is the script.
---@field pty boolean? Give the remote script a terminal (as ssh -t -t).
---@field ssh_options string[]? ssh command-line options for the task's connections ({"-o", "Compression=yes"}, {"-A"}).
---@field permissions table<string, boolean|string|string[]>? What the task may do, and nothing else: read, write (paths), net (host[:port]), ssh (hosts, tags), run (programs), env (variables), storage, db; `all = true` for everything.
---@field override boolean? Accepted and ignored: a definition replaces an earlier one of the same name anyway.
---@field stdin boolean? The runner's stdin goes to every host's script.
---@field lock string? The name of a lock of the default store (essh.storage) the task holds while it runs; a second run refuses to start, naming the holder.

---@class essh.Task: essh.TaskSpec
---@field name string

--- Defines a task: `task "deploy" { targets = "web", script = "..." }`, `task "n" "script"`,
--- `task "n"` (fields set later), or an unnamed `task {...}` (the task `default`).
---@param name string|essh.TaskSpec
---@param spec essh.TaskSpec|string?
---@return essh.Task
function essh.task(name, spec) end

--- Defines a driver: `template` (essh's engine) or essh v3's `engine` (Go text/template, or a
--- function returning it), and any other fields its templates read (.Driver.Props).
---@param name string|table
---@param spec string|function|table?
---@return table
function essh.driver(name, spec) end

--- Default fields for hosts, tasks or drivers (one kind a group), which members that do not
--- set them take; also `hosts = { name = {...} }`, `tasks = ...`, `drivers = ...`.
---@param spec table
---@return table
function essh.group(spec) end

--- A command of the essh command line: `essh name args...` runs `run(args)`, whose return is the exit code.
---@param name string
---@param spec {description: string?, run: fun(args: string[]): (integer|boolean|nil)}?
---@return table|fun(spec: table): table
function essh.command(name, spec) end

--- essh v3's debug output: `[essh debug] msg` on stderr with --debug or ESSH_DEBUG.
---@param msg string
function essh.debug(msg) end

--- essh v3's host query: `:filter(f)`, `:visible()`, `:hidden()`, `:get()`, `:first()`.
---@param selection (string|string[])?
---@return table
function essh.select_hosts(selection) end

--- essh v3's registry of the config file running: `:type()` is "local" or "global" (~/.essh).
---@return {type: fun(): string}
function essh.current_registry() end

--- The hosts named or tagged by `targets` (nil: all), in definition order.
---@param targets (string|string[])?
---@return essh.Host[]
function essh.hosts(targets) end

--- A host query: `:filter(f)`, `:visible()`, `:list()`, `:first()`, `:each(fn)`, `:names()`.
---@param targets (string|string[])?
---@return table
function essh.select(targets) end

---@class essh.AwsInventory
---@field filters table? describeInstances Filters, either form; running instances unless a filter names a state.
---@field hostname string|string[]|fun(instance: table): string? Field(s) tried in order ("tag:Name", "PrivateDnsName", "InstanceId" by default).
---@field address string|string[]|fun(instance: table): string? The HostName ("PrivateIpAddress", then "PublicIpAddress").
---@field tags (string|{ key: string, prefix: string })[]? Host tags from fields: "tag:Role" gives web; { key = "tag:Env", prefix = "env" } gives env_prod.
---@field props table<string, string|fun(instance: table): any>? Host props from fields (instance_id, region, availability_zone always).
---@field ssh table? ssh options of every host (User, ProxyJump...).
---@field cache number? Seconds to keep the answer in ~/.essh/cache (mode 0600).
---@field region string?
---@field regions string[]? Several regions at once.
---@field profile string?
---@field endpoint string?
---@field credentials aws.Credentials?
---@field description string|fun(instance: table): string?

---@class essh.MdnsInventory
---@field service string? Default "_ssh._tcp".
---@field timeout number? Seconds to listen (default 2).
---@field interface string?
---@field tags_from_txt string? A TXT key holding comma-separated tags.
---@field tags string[]? Host tags from instance fields.
---@field props table? Host props from instance fields.
---@field hostname string|fun(instance: mdns.Instance): string? Default: the instance name.
---@field address string|fun(instance: mdns.Instance): string? Default: its first address.
---@field ssh table? ssh options of every host.

---@class essh.StorageModule
---@field open fun(name_or_url: string?, options: { timeout: number?, aws: aws.Options? }?): essh.Store?, essh.Error? A name (~/.essh/<name>.db), sqlite:path, postgres://..., or s3://bucket/prefix (aws: the S3 client's options).
---@field release_all fun() Gives back every lock this process holds (essh.main calls it before it returns).

---@class essh.Store
---@field get fun(self: essh.Store, key: string): any, essh.Error?
---@field set fun(self: essh.Store, key: string, value: any, options: { ttl: number?, keep: integer? }?): boolean?, essh.Error? value: anything json encodes but nil (delete removes a key); ttl: seconds the value lives; keep: how many history lines of the key stay.
---@field delete fun(self: essh.Store, key: string): boolean?, essh.Error?
---@field keys fun(self: essh.Store, prefix: string?): string[]?, essh.Error? The live keys that start with prefix's bytes, in byte order.
---@field update fun(self: essh.Store, key: string, fn: fun(old: any): any, options: { attempts: integer? }?): any, essh.Error?
---@field history fun(self: essh.Store, key: string, n: integer?): { value: any, at: number, by: { user: string, machine: string, pid: integer } }[]?, essh.Error?
---@field lock fun(self: essh.Store, name: string, options: { ttl: number?, wait: number? }?): essh.Lock?, essh.Error?
---@field close fun(self: essh.Store)

---@class essh.Lock
---@field release fun(self: essh.Lock): boolean?, essh.Error?

---@class essh.Inventory
local inventory = {}

--- Defines one host per EC2 instance; returns them.
---@param spec essh.AwsInventory
---@return essh.Host[]
function inventory.aws(spec) end

--- Defines one host per mDNS instance that answers; returns them.
---@param spec essh.MdnsInventory
---@return essh.Host[]
function inventory.mdns(spec) end

--- Runs a config file into the default registry.
---@param path string
---@return essh.Registry? registry
---@return string? err A file:line error.
function essh.load(path) end

--- What a task's Lua functions receive (`script = function(t)`, `prepare`, host hooks).
---@class essh.Context
---@field task essh.Task
---@field host essh.Host
---@field name string The task's name.
---@field args string[]
---@field stdin string? The runner's stdin, when the task says `stdin = true`.
local Context = {}

---@class essh.CommandResult
---@field exitStatus integer?
---@field exit_status integer?
---@field signal string?
---@field stdout string
---@field stderr string
---@field ok boolean
---@field duration number

--- Runs a command on the current host (as the task's user; `options.user`, `options.privileged`
--- per call) and returns its result; raises when it cannot run.
---@param command string
---@param options table?
---@return essh.CommandResult
function Context:run(command, options) end

--- Runs a command on this machine.
---@param command string|string[]
---@param options table?
---@return essh.CommandResult
function Context:run_local(command, options) end

--- Runs a command on the current host as given (no sudo); result or nil and the error.
---@param command string
---@param options table?
---@return essh.CommandResult? result
---@return essh.Error? err
function Context:exec(command, options) end

--- Copies a local file to the host; returns the bytes copied.
---@param src string
---@param dst string
---@param options ssh.TransferOptions?
---@return integer
function Context:upload(src, dst, options) end

--- Copies a file of the host here; returns the bytes copied.
---@param src string
---@param dst string
---@param options ssh.TransferOptions?
---@return integer
function Context:download(src, dst, options) end

--- Renders the template file `src` with `vars` (and host, task) into `dst` on the host.
---@param src string
---@param dst string
---@param vars table?
function Context:template(src, dst, vars) end

--- How commands run as `as_user` here through sudo (asked once per host): see essh.sudo.
---@param as_user string
---@return {prefix: string, stdin: string, marker: string?}
function Context:sudo(as_user) end

---@class essh.RunOptions
---@field select (string|string[])? Run on these hosts instead of the task's targets.
---@field filter (string|string[])? Keep only hosts matching every filter.
---@field parallel (boolean|integer)? Overrides the task's parallel.
---@field dry_run boolean? Print what would run; connect to nothing.
---@field args string[]? The task's arguments.
---@field on_failure ("abort"|"continue"|number)? Overrides the task's on_failure.
---@field sudo_password (string|essh.Secret|fun(): (string|essh.Secret)?)? Asked once, when a host's sudo needs it.
---@field stdin string? The data fanned out to every host (default: all of io.stdin).
---@field color boolean? Colour the prefixes (default: on a terminal without NO_COLOR).
---@field stdout {write: function}? Where the hosts' output goes (default io.stdout).
---@field stderr {write: function}? Where their error output goes (default io.stderr).

---@class essh.HostReport
---@field status "queued"|"connecting"|"running"|"ok"|"failed"|"unreachable"|"skipped"|"interrupted"|"dry-run"
---@field ok boolean
---@field exitStatus integer?
---@field error (string|essh.Error)?
---@field duration number?

---@class essh.Report
---@field ok boolean Every host ran and succeeded.
---@field hosts table<string, essh.HostReport>
---@field failed string[]
---@field unreachable string[]
---@field skipped string[]
---@field interrupted boolean? Ctrl-C stopped the run.
---@field error string? Why the task stopped before its hosts (prepare failed, or no host matched).
---@field empty boolean? No host matched the task's targets and filters (exit code 2).
---@field duration number Seconds the run took.
---@field task string The task's name.
---@field args string[] The run's arguments.

--- Runs a task (its name or record) on its hosts; every run but a dry one goes into the run
--- history (`essh --history`; ESSH_HISTORY=off keeps nothing).
---@param task string|essh.Task
---@param options essh.RunOptions?
---@return essh.Report
function essh.run(task, options) end

---@alias essh.Event "task_start"|"host_start"|"host_status"|"host_done"|"task_done"

--- Calls `fn` on an event: task_start(task, hosts), host_start(task, host),
--- host_status(task, host, entry), host_done(task, host, entry), task_done(task, report).
--- Returns a function that removes the listener.
---@param event essh.Event
---@param fn function
---@return fun()
function essh.on(event, fn) end

--- Runs a command line like the essh command does, on what this program defined; returns the
--- exit code: 0 all ok, 1 a host failed, 2 usage or config error (or no host matched), 3 only
--- unreachable, 130 Ctrl-C.
---@param argv string[]
---@return integer
function essh.main(argv) end

---@class essh.Registry

return essh
