#!/usr/bin/env bash
# Runs the shipped scenarios (the `scenarios` test target) as N nextest partitions, the way
# a CI matrix shards them across machines, and checks that the partitions together hold
# every scenario exactly once.
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-2}"
list() { cargo nextest list -p mynasim-harness --test scenarios --message-format oneline "$@" 2>/dev/null | sed 's/^mynasim-harness::scenarios //' | sort; }
all="$(list)"
parts=""
for k in $(seq 1 "$N"); do
  parts+="$(list --partition "count:$k/$N")"$'\n'
done
parts="$(printf '%s' "$parts" | sed '/^$/d' | sort)"
if [ "$all" != "$parts" ]; then
  echo "partitions differ from the full list of scenarios:" >&2
  diff <(echo "$all") <(echo "$parts") >&2 || true
  exit 1
fi
echo "$(echo "$all" | wc -l) scenarios in $N partitions, each exactly once"
for k in $(seq 1 "$N"); do
  cargo nextest run -p mynasim-harness --test scenarios --partition "count:$k/$N" --no-fail-fast
done
