#!/usr/bin/env bash
# Install what pyscope needs to build and test on Debian 12, as root.
# Installs nothing when everything is already there.
set -euo pipefail

# python3.11-dbg: the interpreter's debug file, which names its static
# functions in native stacks (the tests of --native look for them).
# libpython3.11-testsuite: CPython's own regression tests, which
# tests/e2e/test_cpython_suite.py runs under pyscope.
# libprotobuf-c-dev, protobuf-c-compiler and zlib1g-dev: the pprof export.
# libcurl4-openssl-dev: pyscope push, which sends profiles over HTTP(S).
# golang-go and golang-github-google-pprof-dev: the pprof tool, built from
# Debian's sources, which tests/e2e/test_pprof.py reads the export with.
packages=(cmake make gcc pkg-config libsqlite3-dev sqlite3 libunwind-dev libdw-dev libcmocka-dev
          python3.11 python3.11-dev python3.11-venv python3.11-dbg libpython3.11-testsuite binutils
          libprotobuf-c-dev protobuf-c-compiler zlib1g-dev libcurl4-openssl-dev golang-go
          golang-github-google-pprof-dev)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# The browser test (tests/e2e/test_speedscope_app.py) opens exports in the
# speedscope app in Debian's chromium, driven from node. A node and npm from
# elsewhere than Debian's packages do as well.
dpkg-query -W -f='${Status}' chromium 2>/dev/null | grep -q "install ok installed" || missing+=(chromium)
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    missing+=(nodejs npm)
fi
if ((${#missing[@]})); then
    echo "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The npm packages of that test, at the versions of tests/e2e/node's
# package-lock.json: installed when missing or older than the lock file.
node_dir=$(dirname "$0")/../tests/e2e/node
if [[ ! -f $node_dir/node_modules/.package-lock.json ||
      $node_dir/package-lock.json -nt $node_dir/node_modules/.package-lock.json ]]; then
    echo "installing: the npm packages of tests/e2e/node"
    (cd "$node_dir" && npm ci --ignore-scripts --no-audit --no-fund)
fi
