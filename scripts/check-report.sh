#!/usr/bin/env bash
# Opens an `ngpt inspect` report in a real headless browser (Chromium, Debian package
# `chromium`), saves a screenshot and checks what the browser made of it:
#   1. the DOM Chromium parsed holds the report's figures, each with a non-empty title, x-axis
#      label and y-axis label (SVG <text> of class chart-title, x-label, y-label);
#   2. the screenshot is the requested size and has ink (not near-white) on at least 1 % of its
#      pixels, while a blank page rendered the same way has none (the control shows the check
#      can fail).
#
# usage: scripts/check-report.sh [REPORT.html | --inspect | --compare] [SCREENSHOT.png]
#   Any report of ngpt (inspect or compare) can be given. Without one (or with --inspect), builds
#   ngpt (release), trains a tiny GPT and nGPT on a generated text and inspects them into a
#   temporary directory; with --compare, runs a tiny `ngpt compare` instead. Environment: CHROMIUM (default chromium),
#   NGPT (an ngpt binary), WINDOW (default 1400,2400), SCALE (device scale factor, default 1;
#   the screenshot is WINDOW·SCALE pixels).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
chromium=${CHROMIUM:-chromium}
window=${WINDOW:-1400,2400}
scale=${SCALE:-1}
command -v "$chromium" >/dev/null || { echo "check-report: $chromium not found; install Debian's chromium package (apt-get install chromium)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

report=${1:-}
shot=${2:-$work/report.png}
mode=inspect
case "$report" in --inspect) report=""; ;; --compare) report=""; mode=compare ;; esac
if [ -z "$report" ]; then
    ngpt=${NGPT:-}
    if [ -z "$ngpt" ]; then
        (cd "$root" && swift build -c release >/dev/null)
        ngpt="$root/.build/release/ngpt"
    fi
    python3 -c 'import random; random.seed(5); w = "the and of light earth water said unto them was day night god made".split(); print(" ".join(random.choice(w) for _ in range(8000)))' > "$work/text.txt"
    "$ngpt" prepare "$work/text.txt" --out "$work/data" >/dev/null
    if [ "$mode" = compare ]; then
        "$ngpt" compare --data "$work/data" --out "$work/compare" --dim 16 --heads 2 --layers 1 --context 16 \
            --budgets 6,12 --seeds 2 --lr-grid 3e-3,1e-2 --batch 2 --eval-batches 2 --eval-points 3 >/dev/null 2>&1
    fi
    for m in gpt ngpt; do
        [ "$mode" = inspect ] || break
        "$ngpt" train --data "$work/data" --model "$m" --dim 32 --heads 4 --layers 2 --context 32 --batch 4 \
            --steps 30 --eval-batches 1 --threads 1 --out "$work/$m" 2>/dev/null
    done
    if [ "$mode" = inspect ]; then "$ngpt" inspect "$work/gpt" "$work/ngpt" --out "$work/inspect" >/dev/null 2>&1; fi
    report="$work/$mode/report.html"
fi
[ -f "$report" ] || { echo "check-report: $report does not exist" >&2; exit 1; }
url="file://$(cd "$(dirname "$report")" && pwd)/$(basename "$report")"
flags=(--headless --no-sandbox --disable-gpu --hide-scrollbars --window-size="$window" --force-device-scale-factor="$scale")

# 1. The DOM as Chromium parsed it.
"$chromium" "${flags[@]}" --dump-dom "$url" 2>/dev/null > "$work/dom.html"
python3 - "$work/dom.html" <<'PY'
import re, sys
dom = open(sys.argv[1], encoding="utf-8").read()
svgs = re.findall(r"<svg\b.*?</svg>", dom, flags=re.S)
if not svgs:
    sys.exit("check-report: the browser's DOM has no <svg> figure")
for i, svg in enumerate(svgs):
    labels = {c: re.search(r'<text[^>]*class="%s"[^>]*>([^<]+)</text>' % c, svg) for c in ("chart-title", "x-label", "y-label")}
    missing = [c for c, m in labels.items() if not m or not m.group(1).strip()]
    if missing:
        sys.exit(f"check-report: figure {i + 1} lacks {', '.join(missing)}")
print(f"dom: {len(svgs)} figures, each with a title, an x-axis label and a y-axis label")
PY

# 2. The screenshot, and a blank page as the control.
"$chromium" "${flags[@]}" --screenshot="$shot" "$url" >/dev/null 2>&1
printf '<!DOCTYPE html><html><body></body></html>' > "$work/blank.html"
"$chromium" "${flags[@]}" --screenshot="$work/blank.png" "file://$work/blank.html" >/dev/null 2>&1
read -r w h ink < <(python3 "$here/png_ink.py" "$shot")
read -r _ _ blank < <(python3 "$here/png_ink.py" "$work/blank.png")
echo "screenshot: $shot, ${w}x${h}, ink on $ink of the pixels (blank page: $blank)"
expected=$(python3 -c "w, h = map(int, '$window'.split(',')); s = float('$scale'); print(f'{round(w * s)},{round(h * s)}')")
[ "$w,$h" = "$expected" ] || { echo "check-report: screenshot is ${w}x${h}, expected $expected" >&2; exit 1; }
python3 -c "import sys; sys.exit(0 if float('$ink') >= 0.01 and float('$blank') < 0.001 else 1)" \
    || { echo "check-report: the screenshot looks blank (ink $ink) or the control is not (blank $blank)" >&2; exit 1; }
echo "check-report: ok"
