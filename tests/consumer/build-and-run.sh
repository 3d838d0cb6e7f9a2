#!/usr/bin/env bash
# Installs the build tree $1 into a temporary prefix, then builds and runs the consumer
# project twice: with find_package(ismscode-harness), and with pkg-config alone.
set -euo pipefail
build_dir=$1
here=$(cd "$(dirname "$0")" && pwd)
prefix=$(mktemp -d)
trap 'rm -rf "$prefix"' EXIT

cmake --install "$build_dir" --prefix "$prefix" >/dev/null
for f in include/ismscode/harness/client.h include/ismscode/harness/gtest.h \
         lib/cmake/ismscode-harness/ismscode-harnessConfig.cmake \
         lib/pkgconfig/ismscode-harness.pc bin/ismsctl bin/ismscode-gateway bin/ismscode-mock; do
  [ -e "$prefix/$f" ] || { echo "not installed: $f" >&2; exit 1; }
done

cmake -S "$here" -B "$prefix/build" -G Ninja -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$prefix/build" >/dev/null
"$prefix/build/consumer_test"

export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
# shellcheck disable=SC2046
g++ -o "$prefix/pkgconfig_test" "$here/consumer_test.cc" \
    $(pkg-config --cflags --libs ismscode-harness-gtest-main) -Wl,-rpath,"$prefix/lib"
"$prefix/pkgconfig_test"

# The installed CLI runs from its prefix.
"$prefix/bin/ismsctl" --help >/dev/null
echo "consumer: find_package and pkg-config builds passed"
