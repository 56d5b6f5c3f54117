#!/usr/bin/env bash
# Regenerates README's pictures in docs/pictures/ with the given kdp binary (default
# .build/debug/kdp). Needs Graphviz's dot. Each file is written beside itself, then renamed.
set -euo pipefail
kdp=${1:-.build/debug/kdp}
out=docs/pictures
mkdir -p "$out"
put() { local f=$1; shift; "$@" > "$out/.$f.tmp" && mv "$out/.$f.tmp" "$out/$f"; }
put demo-cluster.svg "$kdp" cluster -o svg
put ha-cluster.svg "$kdp" cluster --topology topologies/ha-cluster.yaml -o svg
put trace-demo-all-paths.svg "$kdp" trace --from pod/default/client --to service/default/web:80 --all-paths -o svg
