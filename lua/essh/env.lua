--- essh.env: the native env module (see types/env.lua).
return require("essh_native").env
