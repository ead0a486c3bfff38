std = "max"
max_line_length = 130
files["spec"] = { std = "+busted" }
-- A config for the essh command: its DSL comes as globals.
files["examples/db-backup.lua"] = { read_globals = { "task", "host", "group", "driver" } }
exclude_files = { "lua_modules", "types", "spec/data", "bench/data" }
