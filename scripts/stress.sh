#!/usr/bin/env bash
# The sampler's stress tests at full length: every fixture of the Stress
# class in tests/e2e/test_sampling.py, RUNS times each (default 100), sampled
# at 10 kHz. The test suite runs the same tests 3 times each.
#   scripts/stress.sh [RUNS] [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-100}
build=${2:-build}
[ -x "$build/pyscope" ] || bash scripts/build.sh "$build"
cd tests/e2e
PYSCOPE_BIN="$PWD/../../$build/pyscope" PYSCOPE_TEST_PYTHON=/usr/bin/python3.11 \
    PYTHONDONTWRITEBYTECODE=1 PYSCOPE_STRESS_RUNS="$runs" \
    /usr/bin/python3.11 -m unittest -v test_sampling.Stress
