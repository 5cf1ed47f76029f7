#!/bin/sh
# python_typecheck (ctest, python/CMakeLists.txt): the stubs python/mq/_mq.pyi
# against the built module (mypy.stubtest: every name the module has is in
# the stubs and the other way round), then the package and a program using
# every API (tests/typing_usage.py) against the stubs (mypy --strict).
# Exit 77 (skipped) when mypy is not installed.
#   typecheck.sh PYTHON BUILD_PYTHON_DIR SOURCE_PYTHON_DIR
set -eu
py=$1 src=$3
cd "$2"
if ! "$py" -c 'import mypy' 2>/dev/null; then
  echo "typecheck.sh: $py has no mypy (Debian's python3-mypy; deps.sh installs it): the stubs are not checked"
  exit 77
fi
export PYTHONPATH=.
"$py" -m mypy.stubtest mq._mq --allowlist "$src/stubtest-allowlist.txt" --mypy-config-file "$src/mypy.ini"
"$py" -m mypy --config-file "$src/mypy.ini" --strict --no-incremental mq "$src/tests/typing_usage.py"
