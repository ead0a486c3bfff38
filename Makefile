# essh: build, install, test, lint and benchmark the native module and the Lua library.
#
# LUA picks the interpreter (lua5.1, lua5.2, lua5.3, lua5.4 or luajit); the cargo feature is
# derived from it, so the same rules serve `luarocks make` (which passes LUA) and developers.

LUA ?= lua5.4
CARGO ?= cargo
INTERPRETERS := lua5.1 lua5.2 lua5.3 lua5.4 luajit
INSTALLED := $(foreach i,$(INTERPRETERS),$(if $(shell command -v $(i) 2>/dev/null),$(i)))
TREE ?= lua_modules

# lua5.4 -> lua54, luajit -> luajit
feature = $(shell $(1) -e 'print(jit and "luajit" or ("lua" .. _VERSION:match("%d+%.%d+"):gsub("%.", "")))')
FEATURE := $(call feature,$(LUA))
SO := build/$(FEATURE)/essh_native.so
# cargo's output directory: CARGO_TARGET_DIR when set (tools/release sets it for the source rock).
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)
# The cargo profile of the module: release, or ci for `make test` (see Cargo.toml), which
# exports it so that the rocks its specs build share the same build.
PROFILE ?= release
PROFILE_DIR := $(if $(filter dev,$(PROFILE)),debug,$(PROFILE))
DIST ?= dist

.PHONY: all build install dist rocks test test-rust test-lua bench bench-codecs bench-io bench-ssh bench-runner bench-permissions bench-storage bench-db-sqlx bench-db-pairs bench-db-instructions stress lint generate deps demo fuzz clean rock-build rock-install

all: build

# LuaRocks runs `make rock-build CC=gcc`, and make exports command-line variables to recipes:
# build scripts that watch CC (ring's) would rebuild, and the next plain `make build` again.
UNSET_CC := $(if $(filter command line,$(origin CC)),env -u CC)

build:
	$(UNSET_CC) $(CARGO) build --profile $(PROFILE) --locked --features $(FEATURE),module
	mkdir -p build/$(FEATURE)
	cp $(TARGET_DIR)/$(PROFILE_DIR)/libessh_native.so $(SO).new && mv -f $(SO).new $(SO)

# Installs the rock for each interpreter into its own tree: lua_modules/<interpreter>.
install:
	@for i in $(INSTALLED); do \
	  tools/luarocks-for $$i --tree $(TREE)/$$i make rockspec/essh-scm-1.rockspec || exit 1; \
	done

# The release: DIST/essh-V.tar.gz, rockspec/essh-V-1.rockspec and DIST/essh-V-1.src.rock.
dist:
	tools/release dist $(DIST)

# Rocks servers for `luarocks install essh --only-server=...`: DIST/rocks/src (the source rock)
# and DIST/rocks/<interpreter> (a binary rock for each installed interpreter, no cargo needed).
rocks:
	tools/release rocks $(DIST) $(INSTALLED)

test: test-rust test-lua
test test-rust test-lua: export PROFILE = ci

test-rust:
	$(CARGO) test --profile $(PROFILE) --locked --features lua54,vendored

test-lua:
	@for i in $(INSTALLED); do \
	  echo "== busted on $$i"; \
	  $(MAKE) --no-print-directory build LUA=$$i >/dev/null || exit 1; \
	  $$i spec/run.lua || exit 1; \
	done
	@tools/check-no-servers


bench: bench-codecs bench-io bench-ssh bench-runner bench-permissions bench-aws bench-db bench-db-pairs bench-db-sqlx bench-storage bench-startup

bench-codecs:
	@for i in lua5.4 luajit; do $(MAKE) --no-print-directory build LUA=$$i >/dev/null || exit 1; done
	bench/run.sh

bench-io:
	@for i in lua5.4 luajit lua5.1; do $(MAKE) --no-print-directory build LUA=$$i >/dev/null || exit 1; done
	@for i in lua5.4 luajit lua5.1; do $$i bench/io.lua || exit 1; done

# Needs root (a test user for the throwaway sshd) and PyPI for the peers (asyncssh, Fabric, parallel-ssh).
bench-ssh:
	@$(MAKE) --no-print-directory build LUA=lua5.4 >/dev/null
	lua5.4 bench/ssh.lua
	lua5.4 bench/latency.lua

# Needs root (a throwaway sshd): 2 GiB of output, 500 hosts, SIGINTs, 10,000 hosts (BENCHMARKS.md).
stress:
	@$(MAKE) --no-print-directory build LUA=lua5.4 >/dev/null
	lua5.4 bench/stress.lua

# Needs root and PyPI too (pyinfra, ansible-core).
bench-runner:
	@$(MAKE) --no-print-directory build LUA=lua5.4 >/dev/null
	lua5.4 bench/runner.lua

# The permission check against the build of BASE (the commit before it), alternately.
bench-permissions:
	bench/permissions.sh

# Needs PyPI (moto, boto3 and the AWS CLI in build/venv).
bench-aws:
	@for i in lua5.4 luajit; do $(MAKE) --no-print-directory build LUA=$$i >/dev/null || exit 1; done
	lua5.4 bench/aws.lua

# Needs root (the servers run as root and postgres) and Debian's lua-sql-* (make deps).
bench-db:
	@$(MAKE) --no-print-directory build LUA=lua5.4 >/dev/null
	lua5.4 bench/db.lua

# Row-at-a-time inserts as interleaved pairs with LuaSQL, the median ratio.
bench-db-pairs:
	@$(MAKE) --no-print-directory build LUA=lua5.4 >/dev/null
	lua5.4 bench/db_pairs.lua

# sqlx alone beside essh and LuaSQL, one insert at a time (as bench-db needs).
# Needs valgrind (not installed by make deps).
bench-db-instructions:
	@$(MAKE) --no-print-directory build LUA=lua5.4 >/dev/null
	lua5.4 bench/db_instructions.lua

bench-db-sqlx:
	@$(MAKE) --no-print-directory build LUA=lua5.4 >/dev/null
	$(UNSET_CC) $(CARGO) build --profile release --locked --features $(FEATURE),module --example sqlx_inserts
	SQLX_INSERTS=$(TARGET_DIR)/release/examples/sqlx_inserts lua5.4 bench/sqlx_inserts.lua

# Needs Debian's lua-sql-sqlite3 (make deps).
bench-storage:
	@$(MAKE) --no-print-directory build LUA=lua5.4 >/dev/null
	lua5.4 bench/storage.lua

bench-startup:
	@for i in lua5.4 luajit lua5.1; do $(MAKE) --no-print-directory build LUA=$$i >/dev/null || exit 1; done
	lua5.4 bench/startup.lua

lint:
	$(CARGO) fmt --check
	$(CARGO) clippy --locked --features lua54,module -- -D warnings
	@# Each database driver builds alone (the cargo features db-mysql, db-postgres, db-sqlite).
	@for f in db-mysql db-postgres db-sqlite; do \
	  $(CARGO) clippy --locked --no-default-features --features lua54,module,$$f -- -D warnings || exit 1; \
	done
	luacheck lua src/lua bin spec bench tools examples

# types/ and the lua/essh/ shims of the native modules, from essh_native.modules().
generate: build
	$(LUA) tools/generate.lua

deps:
	tools/install-deps

# Installs the rock for $(LUA) into lua_modules/ and runs the demo against that install.
demo:
	tools/luarocks-for $(LUA) --tree $(TREE)/$(LUA) make rockspec/essh-scm-1.rockspec >/dev/null
	eval "$$(tools/luarocks-for $(LUA) --tree $(TREE)/$(LUA) path)" && $(LUA) examples/demo.lua

fuzz: build
	FUZZ_SECONDS=$${FUZZ_SECONDS:-600} $(CARGO) test --release --locked --features lua54,vendored --lib fuzz_tests -- --nocapture
	ESSH_FUZZ_SEED=$${FUZZ_SEED:-$$(date +%s)} ESSH_FUZZ_CASES=$${FUZZ_CASES:-100000} $(LUA) spec/run.lua spec/dsl_fuzz_spec.lua

clean:
	rm -rf build target

# Called by `luarocks make` with LUA, LIBDIR, LUADIR and BINDIR set for the target tree.
rock-build: build

rock-install:
	mkdir -p "$(INST_LIBDIR)" "$(INST_LUADIR)" "$(INST_BINDIR)"
	cp $(SO) "$(INST_LIBDIR)/essh_native.so"
	cp -R lua/essh "$(INST_LUADIR)/"
	cp bin/essh "$(INST_BINDIR)/essh"
