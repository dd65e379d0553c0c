#!/usr/bin/env bash
# Builds the release archives with cpack and checks how they are split:
# liblossbal1 holds only the shared object, liblossbal-dev the rest, and the
# tarball everything.
# Usage: check_cpack.sh BUILD_DIR WORK_DIR VERSION
set -euo pipefail
build=$1 work=$2 version=$3
major=${version%%.*}
rm -rf "$work"
mkdir -p "$work"
(cd "$work" && cpack --config "$build/CPackConfig.cmake" -B "$work" >cpack.log 2>&1) ||
  { cat "$work/cpack.log"; exit 1; }

failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
runtime=$(find "$work" -maxdepth 1 -name "liblossbal${major}_${version}_*.deb" -print -quit)
dev=$(find "$work" -maxdepth 1 -name "liblossbal-dev_${version}_*.deb" -print -quit)
tarball=$(find "$work" -maxdepth 1 -name "lossbal-${version}-*.tar.gz" -print -quit)
[[ -n $runtime ]] || fail "no liblossbal${major}_${version}_*.deb"
[[ -n $dev ]] || fail "no liblossbal-dev_${version}_*.deb"
[[ -n $tarball ]] || fail "no lossbal-${version}-*.tar.gz"
((failures == 0)) || { ls "$work"; exit 1; }

runtime_files=$(dpkg-deb -c "$runtime" | awk '{print $6}')
dev_files=$(dpkg-deb -c "$dev" | awk '{print $6}')
tar_files=$(tar -tzf "$tarball")

grep -q "liblossbal.so.$major\$" <<<"$runtime_files" || fail "runtime package lacks liblossbal.so.$major"
grep -q "liblossbal.so.$version\$" <<<"$runtime_files" || fail "runtime package lacks liblossbal.so.$version"
if grep -qE '\.h$|\.a$|\.pc$|\.cmake$|liblossbal\.so$' <<<"$runtime_files"; then
  fail "runtime package holds development files"
fi
for wanted in 'include/lossbal/lossbal.h' 'liblossbal\.a' 'liblossbal\.so$' \
              'pkgconfig/lossbal\.pc' 'cmake/lossbal/lossbalConfig\.cmake'; do
  grep -qE "$wanted" <<<"$dev_files" || fail "dev package lacks $wanted"
done
if grep -q "liblossbal.so.$version\$" <<<"$dev_files"; then
  fail "dev package holds the shared object itself"
fi
for wanted in 'include/lossbal/tensor.h' 'liblossbal\.a' "liblossbal\.so\.$version" 'lossbal\.pc'; do
  grep -qE "$wanted" <<<"$tar_files" || fail "tarball lacks $wanted"
done

[[ $(dpkg-deb -f "$runtime" Package) == "liblossbal$major" ]] || fail "runtime package name"
[[ $(dpkg-deb -f "$runtime" Section) == libs ]] || fail "runtime section is not libs"
[[ $(dpkg-deb -f "$dev" Depends) == *"liblossbal$major (= $version)"* ]] ||
  fail "dev package does not depend on liblossbal$major (= $version)"
[[ $(dpkg-deb -f "$runtime" Depends) == *libopenblas0* ]] || fail "runtime does not depend on OpenBLAS"

if ((failures)); then
  echo "$failures cpack check(s) failed"
  exit 1
fi
echo "cpack ok: $(basename "$runtime"), $(basename "$dev"), $(basename "$tarball")"
