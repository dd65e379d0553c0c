#!/usr/bin/env bash
# Installs the build tree into a fresh prefix and uses it as a consumer would:
#  1. the installed files are where packagers expect them;
#  2. a CMake project finds it with find_package(lossbal) and links both
#     lossbal::lossbal (shared) and lossbal::lossbal_static;
#  3. a program links the static archive with the flags of
#     `pkg-config --static --libs lossbal` and needs no liblossbal.so.
# Usage: check_install.sh BUILD_DIR CONSUMER_SOURCE_DIR WORK_DIR C_COMPILER
set -euo pipefail
build=$1 consumer_src=$2 work=$3 cc=$4
rm -rf "$work"
mkdir -p "$work"
prefix=$work/prefix

cmake --install "$build" --prefix "$prefix" >"$work/install.log"

failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
libdir=$(dirname "$(find "$prefix" -name 'liblossbal.so.1' -print -quit)")
[[ -d $libdir ]] || { echo "FAIL: no liblossbal.so.1 installed"; exit 1; }
for file in "$prefix/include/lossbal/lossbal.h" "$prefix/include/lossbal/tensor.h" \
            "$libdir/liblossbal.a" "$libdir/liblossbal.so" "$libdir/pkgconfig/lossbal.pc" \
            "$libdir/cmake/lossbal/lossbalConfig.cmake" \
            "$libdir/cmake/lossbal/lossbalConfigVersion.cmake"; do
  [[ -e $file ]] || fail "not installed: ${file#$prefix/}"
done
[[ -L $libdir/liblossbal.so.1 ]] || fail "liblossbal.so.1 is not a symlink to the versioned file"

echo "-- find_package(lossbal)"
cmake -S "$consumer_src" -B "$work/consumer" -DCMAKE_PREFIX_PATH="$prefix" \
  -DCMAKE_C_COMPILER="$cc" >"$work/consumer-configure.log" ||
  { cat "$work/consumer-configure.log"; exit 1; }
cmake --build "$work/consumer" >"$work/consumer-build.log" ||
  { cat "$work/consumer-build.log"; exit 1; }
"$work/consumer/consumer_shared" || fail "consumer_shared did not run"
"$work/consumer/consumer_static" || fail "consumer_static did not run"
readelf -d "$work/consumer/consumer_shared" | grep -q 'liblossbal.so.1' ||
  fail "consumer_shared does not need liblossbal.so.1"
if readelf -d "$work/consumer/consumer_static" | grep -q 'liblossbal.so'; then
  fail "consumer_static depends on liblossbal.so"
fi

echo "-- pkg-config --static"
export PKG_CONFIG_PATH=$libdir/pkgconfig
cflags=$(pkg-config --cflags lossbal)
# -l:liblossbal.a makes the linker take the archive although the .so sits
# beside it; every other flag is exactly what pkg-config --static says.
libs=$(pkg-config --static --libs lossbal | sed 's/-llossbal\b/-l:liblossbal.a/')
[[ $libs == *-lopenblas* ]] || fail "pkg-config --static --libs lacks -lopenblas: $libs"
# shellcheck disable=SC2086
"$cc" -std=c11 -Wall -Werror $cflags "$consumer_src/consumer.c" -o "$work/pkgconfig_static" $libs -lm
"$work/pkgconfig_static" || fail "the pkg-config static consumer did not run"
if readelf -d "$work/pkgconfig_static" | grep -q 'liblossbal.so'; then
  fail "the pkg-config static consumer depends on liblossbal.so"
fi
# shellcheck disable=SC2086
"$cc" -std=c11 -Wall -Werror $cflags "$consumer_src/consumer.c" -o "$work/pkgconfig_shared" \
  $(pkg-config --libs lossbal) -lm -Wl,-rpath,"$libdir"
"$work/pkgconfig_shared" || fail "the pkg-config shared consumer did not run"

if ((failures)); then
  echo "$failures install check(s) failed"
  exit 1
fi
echo "install ok: find_package (shared, static) and pkg-config (static, shared) consumers run"
