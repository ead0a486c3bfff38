--- essh.crypto: the native crypto module (see types/crypto.lua).
return require("essh_native").crypto
