#!/usr/bin/env bash
# The issue #2 scale figure through the real command line: generate a 5,000-node,
# 150,000-pod, 10,000-service topology and time `kdp cluster -o json` on it (wall time and
# peak resident memory). Usage: scripts/bench-cluster.sh [path/to/kdp]
set -euo pipefail
kdp=${1:-.build/release/kdp}
out=${BENCH_OUT:-bench-out}
mkdir -p "$out"
"$kdp" generate --nodes 5000 --pods-per-node 30 --services 10000 --endpoints-per-service 2 --seed 1 > "$out/large.yaml"
echo "topology: $(wc -c < "$out/large.yaml") bytes, $(grep -c '^  - ' "$out/large.yaml") objects"
if [ -x /usr/bin/time ]; then
  /usr/bin/time -f "kdp cluster -o json: %e s wall, %M KiB peak RSS" "$kdp" cluster --topology "$out/large.yaml" -o json > "$out/large.json"
else
  TIMEFORMAT="kdp cluster -o json: %R s wall (install 'time' for peak memory)"
  time "$kdp" cluster --topology "$out/large.yaml" -o json > "$out/large.json"
fi
KDP_PROFILE=1 "$kdp" routes --node node-1 --topology "$out/large.yaml" > /dev/null
# Loading (issue 15 §4): the same cluster as YAML and as JSON (JSONScanner). load.FORMAT is the
# parse time (KDP_PROFILE) per 1,000 objects; the whole `kdp cluster -o json` run is beside it.
"$kdp" generate --nodes 5000 --pods-per-node 30 --services 10000 --endpoints-per-service 2 --seed 1 -o json > "$out/large-topology.json"
objects=$(grep -c '^  - ' "$out/large.yaml")
for format in yaml json; do
  file="$out/large.yaml"; [ "$format" = json ] && file="$out/large-topology.json"
  start=$(date +%s.%N)
  profile=$(KDP_PROFILE=1 "$kdp" cluster --topology "$file" -o json 2>&1 >/dev/null | grep 'kdp: profile:' || true)
  end=$(date +%s.%N)
  parse=$(sed -E 's/.*parse ([0-9.e+-]+) seconds.*/\1/' <<< "$profile")
  awk -v f="$format" -v p="$parse" -v n="$objects" -v s="$start" -v e="$end" -v b="$(wc -c < "$file")" 'BEGIN {
    printf "load.%s: %.1f ms per 1,000 objects (parse %.2f s for %d objects, %d bytes; kdp cluster -o json %.2f s wall)\n",
      f, p * 1000000 / n, p, n, b, e - s }'
done
