#!/usr/bin/env bash
# Checks the ABI surface of the built libraries:
#  - the shared library's file carries the full version and its SONAME is
#    liblossbal.so.<major>;
#  - every dynamic symbol it defines starts with lb_ and is in node LOSSBAL_1;
#  - every global symbol the static archive defines starts with lb_.
# Usage: check_exports.sh SHARED_LIB STATIC_LIB VERSION
set -euo pipefail
shared=$1 static=$2 version=$3
major=${version%%.*}
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

[[ $(basename "$shared") == "liblossbal.so.$version" ]] ||
  fail "shared library file is $(basename "$shared"), expected liblossbal.so.$version"

soname=$(readelf -d "$shared" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
[[ $soname == "liblossbal.so.$major" ]] || fail "SONAME is '$soname', expected liblossbal.so.$major"

dynamic=$(nm -D --defined-only "$shared" | awk '{print $3}' | sed 's/@.*//' | grep -v '^LOSSBAL_' || true)
[[ -n $dynamic ]] || fail "the shared library exports nothing"
stray=$(grep -v '^lb_' <<<"$dynamic" || true)
[[ -z $stray ]] || fail "exported symbols outside the lb_ prefix: $(echo $stray)"

unversioned=$(nm -D --defined-only --with-symbol-versions "$shared" 2>/dev/null |
  awk '$3 ~ /^lb_/ && $3 !~ /@LOSSBAL_1$/ {print $3}' || true)
[[ -z $unversioned ]] || fail "symbols outside version node LOSSBAL_1: $(echo $unversioned)"

for required in lb_version lb_version_string lb_status_string lb_last_error \
                lb_set_num_threads lb_get_num_threads lb_tensor_create lb_tensor_free \
                lb_criterion_create lb_criterion_compute lb_criterion_free; do
  grep -qx "$required" <<<"$dynamic" || fail "$required is not exported"
done

static_globals=$(nm -g --defined-only "$static" | awk 'NF == 3 {print $3}')
stray=$(grep -v '^lb_' <<<"$static_globals" || true)
[[ -z $stray ]] || fail "static archive defines global symbols outside lb_: $(echo $stray)"

count=$(wc -l <<<"$dynamic")
if ((failures)); then
  echo "$failures export check(s) failed"
  exit 1
fi
echo "exports ok: SONAME $soname, $count lb_ symbols in LOSSBAL_1"
