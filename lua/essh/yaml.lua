--- essh.yaml: the native yaml module (see types/yaml.lua).
return require("essh_native").yaml
