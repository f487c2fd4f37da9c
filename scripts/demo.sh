#!/usr/bin/env bash
# Set everything up, build, and profile the bundled example; prints the summary.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
bash scripts/build.sh build
./build/pyscope profile --calls --memory --force -o demo.db examples/demo.py
echo
echo "recorded into demo.db; try:"
echo "  ./build/pyscope top demo.db            # cProfile's table, with the sampled shares"
echo "  ./build/pyscope hot demo.db            # the hottest lines"
echo "  ./build/pyscope callers demo.db fib    # who called fib"
echo "  ./build/pyscope flamegraph demo.db -o demo.svg"
echo "  ./build/pyscope report demo.db -o demo.html    # the whole run as one page for a browser"
echo "  ./build/pyscope snapshots demo.db      # the memory snapshots"
echo "  ./build/pyscope diff demo.db 1 2       # what grew between 'start' and 'after cache'"
