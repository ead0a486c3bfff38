--- essh.runner.engine: essh v3's Go text/template engine for drivers (`engine = ...`) and
--- prefixes: the data v3 gave them (.Scripts .Task .Host .Driver .Debug .SSHConfigPath) and its
--- `environment` and `functions` sub-templates.
local gotemplate = require("essh_native").gotemplate

local M = {}

-- essh v3's sub-templates, as its drivers include them: {{template "environment" .}}.
local ENVIRONMENT = [[{{define "environment" -}}
export ESSH_TASK_NAME={{.Task.Name | ShellEscape}}
export ESSH_SSH_CONFIG={{.SSHConfigPath}}
export ESSH_DEBUG="{{if .Debug}}1{{end}}"
{{range $key, $value := .Task.Props -}}
export ESSH_TASK_PROPS_{{$key | ToUpper | EnvKeyEscape}}={{$value | ShellEscape }}
{{end -}}
{{range $index, $value := .Task.Args -}}
export ESSH_TASK_ARGS_{{Add $index 1 }}={{$value | ShellEscape }}
{{end -}}
{{if .Host -}}
export ESSH_HOSTNAME={{.Host.Name | ShellEscape}}
export ESSH_HOST_HOSTNAME={{.Host.Name | ShellEscape}}
{{range $i, $kvpair := .Host.SortedSSHConfig -}}
{{range $key, $value := $kvpair -}}
export ESSH_HOST_SSH_{{$key | ToUpper}}={{$value | ShellEscape }}
{{end -}}
{{end -}}
{{range $key, $value := .Host.Props -}}
export ESSH_HOST_PROPS_{{$key | ToUpper | EnvKeyEscape}}={{$value | ShellEscape }}
{{end -}}
{{range $i, $value := .Host.Tags -}}
export ESSH_HOST_TAGS_{{$value | ToUpper | EnvKeyEscape}}=1
{{end -}}
{{end -}}
{{end}}
]]

local FUNCTIONS = [[{{define "functions" -}}
function escp() {
    scp -F {{.SSHConfigPath}} "$@"
}
function ersync() {
    rsync -e "ssh -F {{.SSHConfigPath}}" "$@"
}

{{end}}
]]

-- An ssh option's value as text (a list as its items joined by commas).
local function option_text(v)
  if type(v) == "table" then
    local items = {}
    for i, x in ipairs(v) do items[i] = tostring(x) end
    return table.concat(items, ",")
  end
  if type(v) == "boolean" then return v and "yes" or "no" end
  return tostring(v)
end

local function strings(t)
  local out = {}
  for k, v in pairs(t or {}) do out[tostring(k)] = tostring(v) end
  return out
end

local function list_of(v)
  if v == nil then return {} end
  if type(v) == "table" then return v end
  return { v }
end

--- A host as v3's templates saw it (nil for a local task without hosts).
function M.host(host)
  if host == nil or host.is_this_machine then return nil end
  local config, sorted = {}, {}
  local keys = {}
  for k in pairs(rawget(host, "config") or {}) do keys[#keys + 1] = k end
  table.sort(keys)
  for i, k in ipairs(keys) do
    config[k] = option_text(host.config[k])
    sorted[i] = { [k] = config[k] }
  end
  local tags = {}
  for i, t in ipairs(host.tags or {}) do tags[i] = t end
  return { Name = host.name, Description = host.description or "", Props = strings(host.props), Tags = tags,
    Hidden = host.hidden == true, SSHConfig = config, SortedSSHConfig = sorted }
end

--- A task as v3's templates saw it, with its run's arguments.
function M.task(task, args)
  local prefix = task.prefix
  return { Name = task.name, Description = task.description or "", Props = strings(task.props),
    Args = args or {}, Backend = task:where_it_runs(), Targets = list_of(task.targets), Filters = list_of(task.filters),
    Parallel = task.parallel ~= nil and task.parallel ~= false, Privileged = task.privileged == true,
    User = task.user or "", Pty = task.pty == true, Driver = task.driver or "default", Hidden = task.hidden == true,
    Disabled = task.disabled == true, File = task.script_file or "",
    Prefix = type(prefix) == "string" and prefix or "", UsePrefix = prefix ~= nil and prefix ~= false }
end

--- The text of a driver's engine: a string, or what its function returns (given the driver).
function M.engine_text(driver)
  local engine = driver.engine
  if type(engine) == "function" then
    local text = engine(driver)
    if type(text) ~= "string" then
      error(("driver %s: its engine function must return a template (a string), got a %s"):format(driver.name,
        type(text)), 0)
    end
    return text
  end
  return engine
end

--- Renders a v3 driver for a task on a host. `context` holds scripts (the {code = ...}
--- entries), args, debug and ssh_config (the generated ssh_config's path).
function M.render(driver, task, host, context)
  local props = {}
  for k, v in pairs(rawget(driver, "_fields")) do
    if type(v) ~= "function" then props[k] = v end
  end
  local data = { Scripts = context.scripts, Task = M.task(task, context.args), Host = M.host(host),
    Driver = { Name = driver.name, Props = props }, Debug = context.debug == true,
    SSHConfigPath = context.ssh_config, GOOS = "linux", GOARCH = "amd64", Executable = "essh" }
  local text, err = gotemplate.render(M.engine_text(driver), data,
    { name = "driver " .. driver.name, templates = { ENVIRONMENT, FUNCTIONS } })
  if not text then error(("%s: %s"):format(rawget(driver, "_where") or "?", tostring(err)), 0) end
  return text
end

--- A v3 prefix template for `host` among `hosts`: {{.Host.Name}}, {{.Task.Name}}, and
--- HostnameAlignString (its argument repeated to pad the name to the longest).
function M.prefix(template, task, host, hosts)
  local width = 0
  for _, h in ipairs(hosts) do width = math.max(width, #h.name) end
  local text, err = gotemplate.render(template, { Host = M.host(host), Task = M.task(task) },
    { name = "prefix of task " .. task.name, align = width - #host.name })
  if not text then error(("%s: task %s: its prefix: %s"):format(rawget(task, "_where") or "?", task.name, tostring(err)), 0) end
  return text
end

return M
