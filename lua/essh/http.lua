--- essh.http: the native http module (see types/http.lua).
return require("essh_native").http
