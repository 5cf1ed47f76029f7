#!/bin/sh
# Installs the built tree into a temporary prefix, then builds
# tests/cmake_consumer/main.cc with nothing but the compiler and the flags
# `pkg-config --cflags --libs mq` gives (no CMake, no --static), and runs it.
# Also checks that the installed mq.pc says the project's version.
# usage: mqpc_consumer_test.sh BUILD_DIR SOURCE_DIR CMAKE CXX_COMPILER PKG_CONFIG VERSION
set -eu
build=$1 src=$2 cmake=$3 cxx=$4 pkgconfig=$5 version=$6
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$cmake" --install "$build" --prefix "$tmp/prefix" >"$tmp/install.log" 2>&1 || { cat "$tmp/install.log"; exit 1; }
pc=$(find "$tmp/prefix" -name mq.pc -path '*/pkgconfig/*')
[ -n "$pc" ] || { echo "mq.pc was not installed"; exit 1; }
PKG_CONFIG_PATH=$(dirname "$pc")
export PKG_CONFIG_PATH
got=$("$pkgconfig" --modversion mq)
[ "$got" = "$version" ] || { echo "pkg-config --modversion mq: $got, expected $version"; exit 1; }
flags=$("$pkgconfig" --cflags --libs mq)
# shellcheck disable=SC2086 # the flags are words
"$cxx" -std=c++20 -o "$tmp/consumer" "$src/tests/cmake_consumer/main.cc" $flags >"$tmp/build.log" 2>&1 ||
  { echo "$cxx ... $flags"; cat "$tmp/build.log"; exit 1; }
LD_LIBRARY_PATH=$("$pkgconfig" --variable=libdir mq) "$tmp/consumer" "$tmp/q"
