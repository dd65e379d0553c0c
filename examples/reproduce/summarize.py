#!/usr/bin/env python3
"""Summarises the JSON files of examples/reproduce/run.sh as Markdown tables:
for every architecture and profile, each method's mean and standard
deviation over seeds of accuracy, S1-F1, S2-F1 and macro-F1 (percent), and
its training time (seconds, and relative to CE).

    python3 examples/reproduce/summarize.py OUT_DIR > tables.md

Standard library only.
"""
import json
import math
import os
import statistics
import sys
from collections import defaultdict

METRICS = [("accuracy", "Acc"), ("s1_f1", "S1-F1"), ("s2_f1", "S2-F1"),
           ("macro_f1", "macro-F1")]
PROFILE_ORDER = ["caltech", "part1", "part2"]


def mean_std(values, scale=100.0):
    values = [v * scale for v in values if v is not None and math.isfinite(v)]
    if not values:
        return "-"
    if len(values) == 1:
        return "%.1f" % values[0]
    return "%.1f ± %.1f" % (statistics.mean(values), statistics.stdev(values))


def load_runs(directory):
    runs = defaultdict(lambda: defaultdict(list))  # (arch, profile) -> method
    seeds = defaultdict(set)
    for name in sorted(os.listdir(directory)):
        if not name.endswith(".json"):
            continue
        with open(os.path.join(directory, name)) as f:
            run = json.load(f)
        key = ("%s width %d, %d epochs" % (run["arch"], run["width"],
                                           run["epochs"]), run["profile"])
        seeds[key].add(run["seed"])
        for method in run["methods"]:
            runs[key][method["name"]].append(method)
    return runs, seeds


def table(methods):
    header = ("| method | " + " | ".join(label for _, label in METRICS) +
              " | train s | time / CE |")
    lines = [header, "|" + "---|" * (len(METRICS) + 3)]
    ce_time = statistics.mean(m["train_seconds"] for m in methods["ce"]) \
        if "ce" in methods else None
    for name, runs in methods.items():
        cells = [mean_std([r[key] for r in runs]) for key, _ in METRICS]
        seconds = statistics.mean(r["train_seconds"] for r in runs)
        ratio = "%.2f" % (seconds / ce_time) if ce_time else "-"
        lines.append("| %s | %s | %.0f | %s |" %
                     (name.upper(), " | ".join(cells), seconds, ratio))
    return "\n".join(lines)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: summarize.py OUT_DIR")
    runs, seeds = load_runs(sys.argv[1])
    order = {p: i for i, p in enumerate(PROFILE_ORDER)}
    for key in sorted(runs, key=lambda k: (k[0], order.get(k[1], 99), k[1])):
        arch, profile = key
        print("### %s, profile %s (%d seeds: %s)\n" %
              (arch, profile, len(seeds[key]),
               ", ".join(str(s) for s in sorted(seeds[key]))))
        print(table(runs[key]))
        print()


if __name__ == "__main__":
    main()
