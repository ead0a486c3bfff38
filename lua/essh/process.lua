--- essh.process: the native process module (see types/process.lua).
return require("essh_native").process
