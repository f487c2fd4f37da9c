#!/usr/bin/env bash
# The stress tests at full length, RUNS times each (default 100), sampled at
# 10 kHz; the test suite runs the same tests 3 times each.
#   scripts/stress.sh [RUNS] [BUILD_DIR] [TEST...]
# TEST names what to run, as unittest names it (default test_sampling.Stress:
# every fixture of the sampler's Stress class); test_native_stress runs the
# stress of --native (loading and unloading libraries, threads, fork).
#   scripts/stress.sh 100 build test_native_stress
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-100}
build=${2:-build}
shift $(($# < 2 ? $# : 2))
tests=("$@")
((${#tests[@]})) || tests=(test_sampling.Stress)
[ -x "$build/pyscope" ] || bash scripts/build.sh "$build"
case $build in /*) bin=$build/pyscope ;; *) bin=$PWD/$build/pyscope ;; esac
cd tests/e2e
PYSCOPE_BIN="$bin" PYSCOPE_TEST_PYTHON=/usr/bin/python3.11 \
    PYTHONDONTWRITEBYTECODE=1 PYSCOPE_STRESS_RUNS="$runs" \
    /usr/bin/python3.11 -m unittest -v "${tests[@]}"
