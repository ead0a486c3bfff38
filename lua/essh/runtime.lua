--- essh.runtime: the native runtime module (see types/runtime.lua).
return require("essh_native").runtime
