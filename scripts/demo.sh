#!/usr/bin/env bash
# Set everything up, build, and profile the bundled example; prints the summary.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
bash scripts/build.sh build
./build/pyscope profile --force -o demo.db examples/demo.py
echo
echo "recorded into demo.db; try: ./build/pyscope summary demo.db"
