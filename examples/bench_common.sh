# Helpers shared by bench_resnet.sh and bench_scaling.sh (sourced, not run).

# field NAME LINE: the value of NAME=<float> in a result line.
field() { sed -n "s/.*\\b$1=\\([0-9.eE+-]*\\).*/\\1/p" <<<"$2"; }

# ratio A B: A / B with two decimals, or n/a when B is not above 0.
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

# median V...: the middle value (the mean of the two middle ones).
median() {
  printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1}
    END { if (NR % 2) printf "%.2f", v[(NR + 1) / 2];
          else printf "%.2f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
