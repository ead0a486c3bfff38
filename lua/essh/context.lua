--- essh.context: the task context a task's Lua functions receive (`script = function(t)`,
--- `prepare`, host hooks): `t.host`, `t.task`, `t.args`, `t.name`, `t.stdin`, and the
--- operations on the current host, over its connection.
local process = require("essh_native").process
local template = require "essh.template"
local sudo = require "essh.sudo"

local M = {}

local Context = {}

-- A context reads its own fields, then its methods, then the task's fields (`t.targets`, as
-- essh v3's prepare(t) read them); in prepare it also sets the run's task fields.
local OWN = { connection = true, stdin = true, host = true, args = true }

Context.__index = function(self, key)
  local method = Context[key]
  if method ~= nil or OWN[key] or type(key) ~= "string" or key:sub(1, 1) == "_" then return method end
  local task = rawget(self, "task")
  return task and task[key]
end

Context.__newindex = function(self, key, value)
  local task = rawget(self, "task")
  if rawget(self, "_prepare") and require("essh.task").FIELDS[key] then
    task[key] = value
  else
    rawset(self, key, value)
  end
end

--- The methods of a task context (see essh.Context in types/essh.lua).
M.methods = Context

--- A context for `task` on `host`, working over `conn` (nil in prepare, which runs here).
--- Fields: args, stdin (the fanned-out data), as_user (commands run as this user through
--- sudo), password (gives the sudo password, asked once per run).
function M.new(task, host, conn, fields)
  return setmetatable({ task = task, host = host, connection = conn, args = fields.args, name = task.name,
    stdin = fields.stdin, _user = fields.as_user, _sudo = {}, _password = fields.password,
    _prepare = fields.prepare }, Context)
end

-- The result of a call, or its error raised (a structured error: it carries no position).
local function checked(result, err)
  if result == nil then error(err, 0) end
  return result
end

-- A command on the current host as given: over the connection, or on this machine.
function Context:exec(command, options)
  if self.connection then return self.connection:exec(command, options) end
  return process.run(command, options)
end

--- How commands run as `as_user` here (see essh.sudo), found once per host.
function Context:sudo(as_user)
  local plan = self._sudo[as_user]
  if not plan then
    plan = sudo.plan(as_user, function(command) return self:exec(command) end, self._password)
    self._sudo[as_user] = plan
  end
  return plan
end

local AS_USER = { user = true, privileged = true }

--- Runs a command on the current host (locally for local tasks and in prepare) and returns
--- `{exitStatus, stdout, stderr, ok}`. It runs as the task's user (`privileged`, `user`), or
--- as `options.user`, or as root with `options.privileged = true` (false: as the login user).
function Context:run(command, options)
  local as_user = self._user
  if options and (options.user ~= nil or options.privileged ~= nil) then
    as_user = options.user or (options.privileged and "root") or nil
  end
  local opts = {}
  for k, v in pairs(options or {}) do
    if not AS_USER[k] then opts[k] = v end
  end
  if as_user then
    local plan = self:sudo(as_user)
    command, opts.stdin = sudo.command(plan, command), sudo.stdin(plan, opts.stdin)
  end
  return checked(self:exec(command, opts))
end

--- Runs a command on this machine, whatever the host.
function Context.run_local(_, command, options)
  return checked(process.run(command, options))
end

--- Copies a local file to the host.
function Context:upload(src, dst, options)
  if not self.connection then error("task:upload needs a remote host", 2) end
  return checked(self.connection:upload(src, dst, options))
end

--- Copies a file of the host to this machine.
function Context:download(src, dst, options)
  if not self.connection then error("task:download needs a remote host", 2) end
  return checked(self.connection:download(src, dst, options))
end

--- Renders the template file `src` with `vars` (and host, task) and writes it to `dst` on the host.
function Context:template(src, dst, vars)
  local all = { host = self.host, task = self.task }
  for k, v in pairs(vars or {}) do all[k] = v end
  local text = template.render_file(src, all)
  if self.connection then
    checked(self.connection:write(dst, text))
  else
    checked(require("essh.fs").write(dst, text))
  end
end

return M
