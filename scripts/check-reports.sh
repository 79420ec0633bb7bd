#!/usr/bin/env bash
# Renders the HTML reports of `ngpt compare` (and of `ngpt inspect`, when given its report) in a real
# headless browser and checks that each one drew: a screenshot per report, which must be a
# non-trivial PNG. Needs Debian's chromium (`apt-get install chromium`).
#
#   scripts/check-reports.sh [REPORT.html …]     # default: a tiny comparison made on the spot
set -euo pipefail
cd "$(dirname "$0")/.."
browser=$(command -v chromium || command -v chromium-browser || true)
[ -n "$browser" ] || { echo "chromium is not installed: apt-get install -y chromium" >&2; exit 1; }

out=${CHECK_OUT:-$(mktemp -d)}
mkdir -p "$out"
reports=("$@")
if [ ${#reports[@]} -eq 0 ]; then
  bin=$(swift build --show-bin-path)/ngpt
  [ -x "$bin" ] || swift build
  python3 -c "import random; random.seed(1); w='the and of light earth water said unto them was day night'.split(); print(' '.join(random.choice(w) for _ in range(8000)))" > "$out/text.txt"
  "$bin" prepare "$out/text.txt" --out "$out/data" >/dev/null
  "$bin" compare --data "$out/data" --out "$out/compare" --dim 16 --heads 2 --layers 1 --context 16 \
    --budgets 6,12 --seeds 2 --lr-grid 3e-3,1e-2 --batch 2 --eval-batches 2 --eval-points 3 2>/dev/null >/dev/null
  reports=("$out/compare/report.html")
fi

status=0
for report in "${reports[@]}"; do
  name=$(basename "$(dirname "$report")")
  png="$out/$name.png"
  timeout 120 "$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars \
    --window-size=1400,2400 --screenshot="$png" "file://$(realpath "$report")" >/dev/null 2>&1 || true
  size=$(stat -c %s "$png" 2>/dev/null || echo 0)
  svgs=$(grep -c "<svg" "$report" || true)
  if [ "$size" -gt 20000 ] && [ "$svgs" -gt 0 ]; then
    echo "ok: $report rendered ($svgs figures) → $png ($size bytes)"
  else
    echo "FAILED: $report did not render (screenshot $size bytes, $svgs figures)" >&2
    status=1
  fi
done
exit $status
