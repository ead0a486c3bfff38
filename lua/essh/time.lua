--- essh.time: the native time module (see types/time.lua).
return require("essh_native").time
