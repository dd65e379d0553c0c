#!/usr/bin/env bash
# The thread-scaling goal's figures in one go (docs/performance.md,
# "Limits"): for ResNet-18 at widths 16 and 64 and ResNet-50 at width 16,
# training and inference, `bench_alternate --threads 1,2 --side-by-side
# --copy-batch 32` in one process each (1 thread against 2, and two
# one-thread copies of 32 images each run at once in the same rounds), with
# `bench_machine` before and after as the machine's own yardstick. Prints a
# table: the two-thread scaling, the copies' scaling and the two threads'
# rate over the copies' (medians of the per-round ratios, quartiles in
# brackets), then how many of the six reach 1.8x, for the threads and for
# the copies. Takes about 6 minutes on a 2-core machine.
#
# Usage: bench_scaling_goal.sh BUILD_DIR [--rounds-factor F]
#   BUILD_DIR        a CMake build directory of liblossbal (its examples/
#                    bench_alternate and bench_machine are run);
#   --rounds-factor  rounds times F (default 1: 41 at width 16, 21 else).
set -euo pipefail

if (($# < 1)) || [[ $1 == -h || $1 == --help ]]; then
  sed -n '2,16s/^# \{0,1\}//p' "$0"
  exit 2
fi
alternate=$1/examples/bench_alternate
machine=$1/examples/bench_machine
shift
for program in "$alternate" "$machine"; do
  [[ -x $program ]] || { echo "bench_scaling_goal.sh: no $program (build the examples)" >&2; exit 2; }
done
factor=1
while (($#)); do
  case $1 in
    --rounds-factor) (($# >= 2)) && [[ $2 =~ ^[0-9]+(\.[0-9]+)?$ ]] ||
                       { echo "bench_scaling_goal.sh: --rounds-factor needs a number" >&2; exit 2; }
                     factor=$2; shift 2 ;;
    *) echo "bench_scaling_goal.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

# rounds N: N times the factor, at least 3.
rounds() { awk -v n="$1" -v f="$factor" 'BEGIN { r = int(n * f + 0.5); print (r < 3 ? 3 : r) }'; }

# machine_line: bench_machine's three medians on one line.
machine_line() {
  "$machine" | awk '/median/ { printf "%s %s  ", $1, $8 }'
}

# measure MODE DEPTH WIDTH ROUNDS CALLS: one table row's three figures.
measure() {
  local out
  out=$("$alternate" --mode "$1" --depth "$2" --width "$3" --batch 64 \
    --rounds "$4" --calls "$5" --threads 1,2 --side-by-side --copy-batch 32)
  # "... median time A / time B 1.80 (quartiles 1.64, 1.88; ...)" and
  # "... median their rate / A's 1.80 (quartiles ...); B's rate / the
  # copies' rate 1.02 (quartiles 0.92, 1.05)".
  awk '
    /median time A \/ time B/ {
      match($0, /time B [0-9.]+ \(quartiles [0-9.]+, [0-9.]+/)
      split(substr($0, RSTART + 7, RLENGTH - 7), a, /[ (,]+/)
      threads = sprintf("%.2fx (%.2f, %.2f)", a[1], a[3], a[4])
    }
    /side by side/ {
      match($0, /A.s [0-9.]+ \(quartiles [0-9.]+, [0-9.]+/)
      split(substr($0, RSTART + 4, RLENGTH - 4), b, /[ (,]+/)
      match($0, /copies. rate [0-9.]+ \(quartiles [0-9.]+, [0-9.]+/)
      split(substr($0, RSTART + 13, RLENGTH - 13), c, /[ (,]+/)
      copies = sprintf("%.2fx (%.2f, %.2f)", b[1], b[3], b[4])
      over = sprintf("%.3f (%.3f, %.3f)", c[1], c[3], c[4])
    }
    END { printf "| %s | %s | %s |", threads, copies, over }' <<<"$out"
}

echo "machine before: $(machine_line)"
rows=()
while read -r name mode depth width rounds_wanted calls; do
  rows+=("| $name $(measure "$mode" "$depth" "$width" "$(rounds "$rounds_wanted")" "$calls")")
done <<'CONFIGURATIONS'
ResNet-18_w16_training train 18 16 41 3
ResNet-18_w16_inference infer 18 16 41 10
ResNet-18_w64_training train 18 64 21 1
ResNet-18_w64_inference infer 18 64 21 3
ResNet-50_w16_training train 50 16 21 1
ResNet-50_w16_inference infer 50 16 21 3
CONFIGURATIONS
echo "machine after: $(machine_line)"
echo
echo "| configuration | 2 threads / 1 | 2 copies / 1 | 2 threads / copies |"
echo "|---|---|---|---|"
printf '%s\n' "${rows[@]}" | sed 's/_/ /g'
echo
# The goal's verdict, and the machine's: how many medians reach 1.8x. Where
# the copies, which share nothing, stay under it, the machine is the limit.
printf '%s\n' "${rows[@]}" | awk -F'|' '
  { threads += ($3 + 0 >= 1.8); copies += ($4 + 0 >= 1.8) }
  END { printf "2 threads >= 1.8x: %d of %d; 2 copies >= 1.8x: %d of %d\n",
               threads, NR, copies, NR }'
