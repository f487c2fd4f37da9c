#!/usr/bin/env bash
# Install what pyscope needs to build and test on Debian 12, as root.
# Installs nothing when everything is already there.
set -euo pipefail

# python3.11-dbg: the interpreter's debug file, which names its static
# functions in native stacks (the tests of --native look for them).
packages=(cmake make gcc pkg-config libsqlite3-dev sqlite3 libunwind-dev libdw-dev libcmocka-dev
          python3.11 python3.11-dev python3.11-venv python3.11-dbg binutils)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
