#!/usr/bin/env bash
# Thread scaling of lossbal-bench: runs it at one thread count and then at
# another, N rounds in alternation, and prints every round's rates and the
# medians of the per-round ratios (second / first), for training and for
# inference. Rounds alternate because these machines drift in speed: a
# ratio of two runs far apart says more about the machine than about the
# library.
#
# With --side-by-side, each round also runs B / A processes of A threads
# at once and prints their summed rate over the A-thread run's: what the
# machine allows the same work when nothing is shared and no thread waits
# for another, the yardstick for the B-thread run.
#
# Usage: bench_scaling.sh BUILD_DIR [--widths "64 16"] [--rounds N]
#                         [--pair A,B] [--side-by-side]
#                         [lossbal-bench options]
#   BUILD_DIR   a CMake build directory of liblossbal (BUILD_DIR/examples/
#               lossbal-bench is run);
#   --widths    every configuration once per width (default: --width, or 64);
#   --rounds    rounds per width (default 5);
#   --pair      the two thread counts (default 1,2);
#   --side-by-side  also B / A processes of A threads at once (B a
#               multiple of A);
#   the other options go to lossbal-bench unchanged, e.g. --arch resnet18
#   --input 1x28x28 --batch 64 --seconds 10 (not --threads).
set -euo pipefail

if (($# < 1)) || [[ $1 == -h || $1 == --help ]]; then
  sed -n '2,25s/^# \{0,1\}//p' "$0"
  exit 2
fi
bench=$1/examples/lossbal-bench
shift
[[ -x $bench ]] || { echo "bench_scaling.sh: no $bench (build the lossbal-bench target)" >&2; exit 2; }

widths="" rounds=5 pair="1,2" side_by_side=0 args=()
while (($#)); do
  case $1 in
    --widths) (($# >= 2)) || { echo "bench_scaling.sh: --widths needs a list" >&2; exit 2; }
              widths=$2; shift 2 ;;
    --width) (($# >= 2)) || { echo "bench_scaling.sh: --width needs a value" >&2; exit 2; }
             widths=${widths:-$2}; shift 2 ;;
    --rounds) (($# >= 2)) && [[ $2 =~ ^[1-9][0-9]*$ ]] ||
                { echo "bench_scaling.sh: --rounds needs a whole number above 0" >&2; exit 2; }
              rounds=$2; shift 2 ;;
    --pair) (($# >= 2)) && [[ $2 =~ ^[1-9][0-9]*,[1-9][0-9]*$ ]] ||
              { echo "bench_scaling.sh: --pair needs two thread counts, e.g. 1,2" >&2; exit 2; }
            pair=$2; shift 2 ;;
    --side-by-side) side_by_side=1; shift ;;
    --threads) echo "bench_scaling.sh: give the thread counts with --pair" >&2; exit 2 ;;
    *) args+=("$1"); shift ;;
  esac
done
widths=${widths:-64}
first=${pair%,*} second=${pair#*,}
copies=$((second / first))
if ((side_by_side)) && ((second % first != 0 || copies < 2)); then
  echo "bench_scaling.sh: --side-by-side needs a second thread count that is 2 or more times the first" >&2
  exit 2
fi

# shellcheck source=bench_common.sh
. "$(cd "$(dirname "$0")" && pwd)/bench_common.sh"

# side_by_side_rates WIDTH: `copies` runs of `first` threads at once; prints
# their summed training and inference rates.
side_by_side_rates() {
  local dir
  dir=$(mktemp -d)
  for ((copy = 0; copy < copies; copy++)); do
    "$bench" "${args[@]}" --width "$1" --threads "$first" | tail -n 1 >"$dir/$copy" &
  done
  wait
  cat "$dir"/* | sed 's/.*train_img_s=\([0-9.eE+-]*\).*infer_img_s=\([0-9.eE+-]*\).*/\1 \2/' |
    awk '{t += $1; i += $2} END {printf "%f %f", t, i}'
  rm -r "$dir"
}

summary=()
for width in $widths; do
  train_ratio=() infer_ratio=() train_side=() infer_side=()
  for ((round = 1; round <= rounds; round++)); do
    low=$("$bench" "${args[@]}" --width "$width" --threads "$first" | tail -n 1)
    high=$("$bench" "${args[@]}" --width "$width" --threads "$second" | tail -n 1)
    train_ratio+=("$(ratio "$(field train_img_s "$high")" "$(field train_img_s "$low")")")
    infer_ratio+=("$(ratio "$(field infer_img_s "$high")" "$(field infer_img_s "$low")")")
    echo "width $width, round $round: $first thread(s): $low"
    echo "width $width, round $round: $second thread(s): $high"
    echo "width $width, round $round: train ${train_ratio[-1]}x  infer ${infer_ratio[-1]}x"
    if ((side_by_side)); then
      read -r side_train side_infer <<<"$(side_by_side_rates "$width")"
      train_side+=("$(ratio "$side_train" "$(field train_img_s "$low")")")
      infer_side+=("$(ratio "$side_infer" "$(field infer_img_s "$low")")")
      echo "width $width, round $round: $copies x $first thread(s) side by side:" \
        "train ${train_side[-1]}x  infer ${infer_side[-1]}x"
    fi
  done
  summary+=("$(printf 'width %-4s train %sx (rounds %s)  infer %sx (rounds %s)' "$width" \
    "$(median "${train_ratio[@]}")" "${train_ratio[*]}" \
    "$(median "${infer_ratio[@]}")" "${infer_ratio[*]}")")
  if ((side_by_side)); then
    summary+=("$(printf '  %d processes side by side: train %sx (rounds %s)  infer %sx (rounds %s)' \
      "$copies" "$(median "${train_side[@]}")" "${train_side[*]}" \
      "$(median "${infer_side[@]}")" "${infer_side[*]}")")
  fi
done
echo
echo "$second threads / $first, medians of $rounds rounds (${args[*]}):"
printf '  %s\n' "${summary[@]}"
