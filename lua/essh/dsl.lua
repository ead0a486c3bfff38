--- `require "essh.dsl"`: a plain script opts into what config files get: the globals `host`,
--- `task`, `driver`, `group` (bound to essh's default registry) and `essh`, and `require` of
--- the short names ("json", "log", "inspect", ...) gives essh's modules.
local essh = require "essh"
require("essh.config").use_short_names()

-- luacheck: push ignore 122
_G.host, _G.task, _G.driver, _G.group, _G.essh = essh.host, essh.task, essh.driver, essh.group, essh
-- luacheck: pop

return essh
