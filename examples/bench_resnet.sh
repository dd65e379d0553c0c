#!/usr/bin/env bash
# Runs lossbal-bench and its PyTorch twin (bench_resnet_torch.py) on the same
# configuration, one after the other, and prints both result lines and the
# ratios liblossbal / PyTorch (above 1: liblossbal is faster or, for memory,
# uses more).
#
# Usage: bench_resnet.sh BUILD_DIR [--widths "64 16"] [lossbal-bench options]
#   BUILD_DIR   a CMake build directory of liblossbal (BUILD_DIR/examples/
#               lossbal-bench is run);
#   --widths    run every configuration once per width, in this order,
#               side by side in one run (default: the --width option, or 64);
#   the other options go to both programs unchanged, for example
#   --arch resnet18 --input 1x28x28 --classes 10 --batch 64 --threads 2
#   --seconds 10.
# PyTorch runs under $PYTHON, else Debian's /usr/bin/python3 (where
# python3-torch installs), else the python3 on PATH.
set -euo pipefail

if (($# < 1)) || [[ $1 == -h || $1 == --help ]]; then
  sed -n '2,16s/^# \{0,1\}//p' "$0"
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
args=()
while (($#)); do
  case $1 in
    --widths) (($# >= 2)) || { echo "bench_resnet.sh: --widths needs a list" >&2; exit 2; }
              widths=$2; shift 2 ;;
    --width) (($# >= 2)) || { echo "bench_resnet.sh: --width needs a value" >&2; exit 2; }
             widths=${widths:-$2}; shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done
widths=${widths:-64}

# field NAME LINE: the value of NAME=<float> in a result line.
field() { sed -n "s/.*\\b$1=\\([0-9.eE+-]*\\).*/\\1/p" <<<"$2"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

summary=()
for width in $widths; do
  echo "== width $width: liblossbal"
  ours=$("$bench" "${args[@]}" --width "$width")
  printf '%s\n' "$ours"
  ours=$(tail -n 1 <<<"$ours")
  echo "== width $width: PyTorch"
  theirs=$("$python" "$torch_script" "${args[@]}" --width "$width")
  printf '%s\n' "$theirs"
  theirs=$(tail -n 1 <<<"$theirs")
  echo "liblossbal: $ours"
  echo "PyTorch:    $theirs"
  line=$(printf 'width %-4s train %s (%s vs %s img/s)  infer %s (%s vs %s img/s)  peak RSS %s (%s vs %s MB)' \
    "$width" \
    "$(ratio "$(field train_img_s "$ours")" "$(field train_img_s "$theirs")")x" \
    "$(field train_img_s "$ours")" "$(field train_img_s "$theirs")" \
    "$(ratio "$(field infer_img_s "$ours")" "$(field infer_img_s "$theirs")")x" \
    "$(field infer_img_s "$ours")" "$(field infer_img_s "$theirs")" \
    "$(ratio "$(field peak_rss_mb "$ours")" "$(field peak_rss_mb "$theirs")")x" \
    "$(field peak_rss_mb "$ours")" "$(field peak_rss_mb "$theirs")")
  echo "ratio liblossbal/PyTorch: $line"
  summary+=("$line")
done
echo
echo "liblossbal / PyTorch (${args[*]}):"
printf '  %s\n' "${summary[@]}"
