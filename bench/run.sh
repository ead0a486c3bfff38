#!/bin/sh
# make bench: every codec benchmark on Lua 5.4 and LuaJIT, in one run.
set -e
data=${BENCH_DATA:-bench/data}
for interp in lua5.4 luajit; do
  $interp bench/codecs.lua "$data" bench/out
done
