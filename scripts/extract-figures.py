#!/usr/bin/env python3
"""Writes every figure of an ngpt HTML report as its own SVG file.

usage: scripts/extract-figures.py REPORT.html OUTDIR PREFIX [INDEX ...]

The files are OUTDIR/PREFIX-N.svg, N counting the report's figures from 1 (only those listed
when INDEX arguments are given). The SVG is copied byte for byte from the report, so a figure
in the docs is exactly what `ngpt compare` or `ngpt ablate` drew. Prints one line per file with
the figure's title.
"""
import html
import os
import re
import sys

if len(sys.argv) < 4:
    sys.exit(__doc__)
report, outdir, prefix = sys.argv[1:4]
wanted = {int(i) for i in sys.argv[4:]}
text = open(report, encoding="utf-8").read()
figures = re.findall(r"<svg\b.*?</svg>", text, flags=re.S)
if not figures:
    sys.exit(f"extract-figures: {report} has no SVG figure")
os.makedirs(outdir, exist_ok=True)
for n, svg in enumerate(figures, start=1):
    if wanted and n not in wanted:
        continue
    title = re.search(r'class="chart-title"[^>]*>(.*?)</text>', svg, flags=re.S)
    path = os.path.join(outdir, f"{prefix}-{n}.svg")
    with open(path, "w", encoding="utf-8") as f:
        f.write(svg if svg.endswith("\n") else svg + "\n")
    print(f"{path}: {html.unescape(title.group(1)) if title else '(untitled)'}")
