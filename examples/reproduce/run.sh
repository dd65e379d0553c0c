#!/bin/sh
# Runs the paper's Table 2 protocol with lossbal-train: for every
# architecture, seed and profile (caltech, part1, part2 of Huang, Song and Lu
# 2019, applied to Fashion-MNIST), CE, oversampling, prior-weighted CE and
# the loss balance on the same split. One JSON file per run in OUT_DIR; runs
# whose JSON exists are skipped, so the script can be stopped and started
# again. examples/reproduce/summarize.py turns the files into the tables of
# docs/reproduction.md.
#
#   examples/reproduce/run.sh BUILD_DIR OUT_DIR
#
# Environment (defaults in brackets): ARCHS ["resnet18:8 resnet50:4"], as
# arch:width; SEEDS ["1 2 3"]; PROFILES ["caltech part1 part2"];
# EPOCHS [15]; EXTRA [""], more lossbal-train flags. Plots are written for
# the first seed.
set -eu

if [ $# -ne 2 ]; then
  echo "usage: $0 BUILD_DIR OUT_DIR" >&2
  exit 2
fi
train="$1/examples/lossbal-train"
out="$2"
[ -x "$train" ] || { echo "$0: no $train; build first" >&2; exit 2; }
mkdir -p "$out"

archs="${ARCHS:-resnet18:8 resnet50:4}"
seeds="${SEEDS:-1 2 3}"
profiles="${PROFILES:-caltech part1 part2}"
epochs="${EPOCHS:-15}"
first_seed="${seeds%% *}"

for arch_width in $archs; do
  arch="${arch_width%:*}"
  width="${arch_width#*:}"
  for seed in $seeds; do
    for profile in $profiles; do
      name="${arch}_w${width}_${profile}_seed${seed}"
      [ -f "$out/$name.json" ] && continue
      plots=""
      [ "$seed" = "$first_seed" ] && plots="--plots $out/plots_$name"
      echo "== $name"
      # shellcheck disable=SC2086
      "$train" --data fashion-mnist --profile "$profile" \
        --compare ce,os,pe,le --arch "$arch" --width "$width" \
        --epochs "$epochs" --batch 64 --lr 0.05 --schedule cosine \
        --seed "$seed" --progress never --json "$out/$name.json" \
        $plots ${EXTRA:-} > "$out/$name.log" 2>&1 ||
        { echo "$0: $name failed, see $out/$name.log" >&2; exit 1; }
      tail -n 6 "$out/$name.log"
    done
  done
done
