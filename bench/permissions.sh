#!/bin/sh
# make bench-permissions: bench/permissions.lua with the build of BASE (the commit before the
# permission check, default 087ff7c) and this checkout's, alternately, RUNS times each, on
# Lua 5.4 and LuaJIT; prints each row's best run for both (the machine's noise only ever adds
# time) and the ratio.
set -e
base=${BASE:-087ff7c}
runs=${RUNS:-5}
out=target/bench-permissions
mkdir -p "$out"
if [ ! -d "$out/base-src" ]; then git worktree add --detach "$out/base-src" "$base" >/dev/null; fi
for interp in lua5.4 luajit; do
  feature=$(echo "$interp" | sed 's/lua5\.\([0-9]\)/lua5\1/')
  if [ ! -f "$out/base-$feature/essh_native.so" ]; then
    (cd "$out/base-src" && CARGO_TARGET_DIR=../target cargo build --release --locked --features "$feature,module" >/dev/null)
    mkdir -p "$out/base-$feature"
    cp "$out/target/release/libessh_native.so" "$out/base-$feature/essh_native.so"
  fi
  make --no-print-directory build LUA=$interp >/dev/null
  : > "$out/$feature.tsv"
  i=0
  while [ $i -lt "$runs" ]; do
    SO="$out/base-$feature" $interp bench/permissions.lua | sed 's/^/base\t/' >> "$out/$feature.tsv"
    $interp bench/permissions.lua | sed 's/^/now\t/' >> "$out/$feature.tsv"
    i=$((i + 1))
  done
done
lua5.4 - "$out" <<'LUA'
local out = ...
local function fastest(list)
  table.sort(list)
  return list[1]
end
print("| interpreter | per call | before the check | with it | ratio |")
print("|---|---|---|---|---|")
for _, feature in ipairs { "lua54", "luajit" } do
  local values, order, units = {}, {}, {}
  for line in io.lines(out .. "/" .. feature .. ".tsv") do
    local build, _, label, value, unit = line:match("^(%S+)\t(%S+)\t([^\t]+)\t([^\t]+)\t(%S+)$")
    if not values[label] then values[label] = { base = {}, now = {} }; order[#order + 1] = label end
    table.insert(values[label][build], tonumber(value))
    units[label] = unit
  end
  for _, label in ipairs(order) do
    local v = values[label]
    local now = fastest(v.now)
    local shown = function(x) return units[label] == "s" and ("%.3f s"):format(x) or ("%d ns"):format(x) end
    if #v.base > 0 then
      local base = fastest(v.base)
      print(("| %s | %s | %s | %s | %.3f |"):format(feature, label, shown(base), shown(now), now / base))
    else
      print(("| %s | %s | | %s | |"):format(feature, label, shown(now)))
    end
  end
end
LUA
