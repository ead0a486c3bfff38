--- essh.base64: the native base64 module (see types/base64.lua).
return require("essh_native").base64
