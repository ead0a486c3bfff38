--- essh.json: the native json module (see types/json.lua).
return require("essh_native").json
