#!/usr/bin/env bash
# Regenerates README's pictures in docs/pictures/ with the given kdp binary (default
# .build/debug/kdp). Needs Graphviz's dot, and Chromium for the report's screenshot. Each file is written beside itself, then renamed.
set -euo pipefail
kdp=${1:-.build/debug/kdp}
out=docs/pictures
mkdir -p "$out"
put() { local f=$1; shift; "$@" > "$out/.$f.tmp" && mv "$out/.$f.tmp" "$out/$f"; }
put demo-cluster.svg "$kdp" cluster -o svg
put ha-cluster.svg "$kdp" cluster --topology topologies/ha-cluster.yaml -o svg
put trace-demo-all-paths.svg "$kdp" trace --from pod/default/client --to service/default/web:80 --all-paths -o svg
# The demo report, and a screenshot of it taken by headless Chromium.
report=$(mktemp -d)
trap 'rm -rf "$report"' EXIT
"$kdp" report --trace pod/default/client,service/default/web:80 --trace pod/default/client,service/default/web-canary:80 \
  --replay captures/demo.pcapng --at pod/default/client --verify -o "$report/report.html"
chromium --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --hide-scrollbars --user-data-dir="$report/profile" \
  --window-size=1400,1800 --screenshot="$out/.report-demo.tmp.png" "file://$report/report.html" 2>/dev/null
mv "$out/.report-demo.tmp.png" "$out/report-demo.png"
