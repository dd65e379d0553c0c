#!/usr/bin/env bash
# Runs lossbal-bench and its PyTorch twin (bench_resnet_torch.py) on the same
# configuration, one after the other, and prints both result lines and the
# ratios liblossbal / PyTorch (above 1: liblossbal is faster or, for memory,
# uses more).
#
# Usage: bench_resnet.sh BUILD_DIR [--widths "64 16"] [--rounds N]
#                        [lossbal-bench options]
#   BUILD_DIR   a CMake build directory of liblossbal (BUILD_DIR/examples/
#               lossbal-bench is run);
#   --widths    run every configuration once per width, in this order,
#               side by side in one run (default: the --width option, or 64);
#   --rounds    run each pair N times, alternating, and report medians: of
#               the rates, and of the per-round ratios (default 1);
#   the other options go to both programs unchanged, for example
#   --arch resnet18 --input 1x28x28 --classes 10 --batch 64 --threads 2
#   --seconds 10.
# PyTorch runs under $PYTHON, else Debian's /usr/bin/python3 (where
# python3-torch installs), else the python3 on PATH.
set -euo pipefail

if (($# < 1)) || [[ $1 == -h || $1 == --help ]]; then
  sed -n '2,19s/^# \{0,1\}//p' "$0"
  exit 2
fi
build=$1
shift
here=$(cd "$(dirname "$0")" && pwd)
bench=$build/examples/lossbal-bench
torch_script=$here/bench_resnet_torch.py
if [[ -n ${PYTHON:-} ]]; then
  python=$PYTHON
elif [[ -x /usr/bin/python3 ]]; then
  python=/usr/bin/python3
else
  python=python3
fi
[[ -x $bench ]] || { echo "bench_resnet.sh: no $bench (build the lossbal-bench target)" >&2; exit 2; }

widths=""
rounds=1
args=()
while (($#)); do
  case $1 in
    --widths) (($# >= 2)) || { echo "bench_resnet.sh: --widths needs a list" >&2; exit 2; }
              widths=$2; shift 2 ;;
    --rounds) (($# >= 2)) && [[ $2 =~ ^[1-9][0-9]*$ ]] ||
                { echo "bench_resnet.sh: --rounds needs a whole number above 0" >&2; exit 2; }
              rounds=$2; shift 2 ;;
    --width) (($# >= 2)) || { echo "bench_resnet.sh: --width needs a value" >&2; exit 2; }
             widths=${widths:-$2}; shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done
widths=${widths:-64}

# shellcheck source=bench_common.sh
. "$here/bench_common.sh"

summary=()
for width in $widths; do
  ours_train=() ours_infer=() ours_rss=() theirs_train=() theirs_infer=()
  theirs_rss=() train_ratio=() infer_ratio=() rss_ratio=()
  ours_train_rss=() theirs_train_rss=() train_rss_ratio=()
  for ((round = 1; round <= rounds; round++)); do
    echo "== width $width, round $round of $rounds: liblossbal"
    ours=$("$bench" "${args[@]}" --width "$width")
    printf '%s\n' "$ours"
    ours=$(tail -n 1 <<<"$ours")
    echo "== width $width, round $round of $rounds: PyTorch"
    theirs=$("$python" "$torch_script" "${args[@]}" --width "$width")
    printf '%s\n' "$theirs"
    theirs=$(tail -n 1 <<<"$theirs")
    echo "liblossbal: $ours"
    echo "PyTorch:    $theirs"
    ours_train+=("$(field train_img_s "$ours")")
    ours_infer+=("$(field infer_img_s "$ours")")
    ours_rss+=("$(field peak_rss_mb "$ours")")
    theirs_train+=("$(field train_img_s "$theirs")")
    theirs_infer+=("$(field infer_img_s "$theirs")")
    theirs_rss+=("$(field peak_rss_mb "$theirs")")
    train_ratio+=("$(ratio "${ours_train[-1]}" "${theirs_train[-1]}")")
    infer_ratio+=("$(ratio "${ours_infer[-1]}" "${theirs_infer[-1]}")")
    rss_ratio+=("$(ratio "${ours_rss[-1]}" "${theirs_rss[-1]}")")
    ours_train_rss+=("$(field train_rss_mb "$ours")")
    theirs_train_rss+=("$(field train_rss_mb "$theirs")")
    train_rss_ratio+=("$(ratio "${ours_train_rss[-1]}" "${theirs_train_rss[-1]}")")
    echo "ratio liblossbal/PyTorch, round $round: train ${train_ratio[-1]}x  infer ${infer_ratio[-1]}x  peak RSS in training ${train_rss_ratio[-1]}x, overall ${rss_ratio[-1]}x"
  done
  if ((rounds > 1)); then
    detail=" (per round: train ${train_ratio[*]}; infer ${infer_ratio[*]})"
  else
    detail=""
  fi
  line=$(printf 'width %-4s train %sx (%s vs %s img/s)  infer %sx (%s vs %s img/s)  peak RSS in training %sx (%s vs %s MB), overall %sx (%s vs %s MB)%s' \
    "$width" \
    "$(median "${train_ratio[@]}")" "$(median "${ours_train[@]}")" "$(median "${theirs_train[@]}")" \
    "$(median "${infer_ratio[@]}")" "$(median "${ours_infer[@]}")" "$(median "${theirs_infer[@]}")" \
    "$(median "${train_rss_ratio[@]}")" "$(median "${ours_train_rss[@]}")" "$(median "${theirs_train_rss[@]}")" \
    "$(median "${rss_ratio[@]}")" "$(median "${ours_rss[@]}")" "$(median "${theirs_rss[@]}")" \
    "$detail")
  summary+=("$line")
done
echo
if ((rounds > 1)); then
  echo "liblossbal / PyTorch, medians of $rounds rounds (${args[*]}):"
else
  echo "liblossbal / PyTorch (${args[*]}):"
fi
printf '  %s\n' "${summary[@]}"
