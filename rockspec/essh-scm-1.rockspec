rockspec_format = "3.0"
package = "essh"
version = "scm-1"
source = {
   url = "git+https://github.com/essh-lua/essh.git",
}
description = {
   summary = "Lua-first SSH automation: hosts and tasks in Lua, run on many hosts at once",
   detailed = [[
essh describes a fleet and its jobs in Lua and runs them over SSH from a stock Lua
interpreter. Its native core (Rust) provides SSH, JSON, YAML, crypto, HTTP and file
watching; the pure-Lua library on top provides the host / task DSL and the runner.
Building needs a Rust toolchain (cargo) and crates.io.]],
   homepage = "https://github.com/essh-lua/essh",
   license = "MIT",
   labels = { "ssh", "automation", "devops", "json", "yaml" },
}
dependencies = {
   "lua >= 5.1, < 5.5",
}
build_dependencies = {}
build = {
   type = "make",
   build_target = "rock-build",
   install_target = "rock-install",
   build_variables = {
      LUA = "$(LUA)",
   },
   install_variables = {
      LUA = "$(LUA)",
      INST_LIBDIR = "$(LIBDIR)",
      INST_LUADIR = "$(LUADIR)",
      INST_BINDIR = "$(BINDIR)",
   },
}
test = {
   type = "command",
   script = "spec/run.lua",
}
