#!/usr/bin/env bash
# Set everything up, build, and run the whole test suite with ctest: once in
# the normal build and once built with AddressSanitizer and UBSan.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
export PYSCOPE_TEST_REQUIRE_BROWSER=1 # deps.sh installed it: the browser test must not skip
export PYSCOPE_TEST_REQUIRE_CPYTHON_SUITE=1 # and CPython's test suite
export PYSCOPE_TEST_REQUIRE_PPROF=1 # and the pprof tool
# Every CPython version pyscope supports has an interpreter here: each must get
# its extension and its tests, none may be left out.
bash scripts/build.sh build -DPYSCOPE_REQUIRE_ALL_PYTHONS=ON
(cd build && ctest --output-on-failure -j2)
bash scripts/build.sh build-asan -DPYSCOPE_SANITIZE=ON -DPYSCOPE_REQUIRE_ALL_PYTHONS=ON
(cd build-asan && ctest --output-on-failure -j2)
