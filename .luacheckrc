std = "max"
max_line_length = 130
files["spec"] = { std = "+busted" }
exclude_files = { "lua_modules", "types", "spec/data", "bench/data" }
