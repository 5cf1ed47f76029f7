#!/bin/sh
# Installs the built tree into a temporary prefix, then configures, builds and
# runs tests/cmake_consumer against it with pkg-config disabled
# (CMAKE_DISABLE_FIND_PACKAGE_PkgConfig): the installed mqConfig.cmake must
# find LMDB by itself and leave the consumer's scope alone.
# usage: mqconfig_consumer_test.sh BUILD_DIR SOURCE_DIR CMAKE CXX_COMPILER
set -eu
build=$1 src=$2 cmake=$3 cxx=$4
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$cmake" --install "$build" --prefix "$tmp/prefix" >"$tmp/install.log" 2>&1 || { cat "$tmp/install.log"; exit 1; }
"$cmake" -S "$src/tests/cmake_consumer" -B "$tmp/consumer" -DCMAKE_PREFIX_PATH="$tmp/prefix" \
  -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_DISABLE_FIND_PACKAGE_PkgConfig=TRUE >"$tmp/configure.log" 2>&1 ||
  { cat "$tmp/configure.log"; exit 1; }
"$cmake" --build "$tmp/consumer" >"$tmp/build.log" 2>&1 || { cat "$tmp/build.log"; exit 1; }
"$tmp/consumer/consumer" "$tmp/q"
