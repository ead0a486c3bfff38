--- essh.watch: the native watch module (see types/watch.lua).
return require("essh_native").watch
