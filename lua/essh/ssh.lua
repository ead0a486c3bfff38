--- essh.ssh: the native ssh module (see types/ssh.lua).
return require("essh_native").ssh
