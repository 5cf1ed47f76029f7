#!/usr/bin/env bash
# Builds mq and runs every test under ctest. This is what CI runs.
#   ./test.sh            release build (RelWithDebInfo) + all tests
set -euo pipefail
cd "$(dirname "$0")"
./deps.sh
jobs=$(nproc 2>/dev/null || echo 2)
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$jobs"
ctest --test-dir build --output-on-failure -j "$jobs" --timeout 300
