"""Bar chart of the CPU suite: cpu-summary.json (+ cpu-rates.json) -> cpu-summary.png.

    python benchmarks/render_chart.py [benchmarks/results/cpu-summary.json]

Left: speed-up of ours over each baseline (baseline_s / ours_s, log scale), the 1.0 line
and the issue's target for each row as a tick; rows whose "ours" was not measured are
listed as such. Right: GFLOP/s (2 x conv MACs / s) of every runtime per network, from
the ``-rates.json`` next to the summary, when present. Needs matplotlib (Agg backend).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"

# minimum baseline/ours asked by issue 4, by the last part of the row name
TARGETS = {"pixel_shuffle": 2.5, "pixel_shuffle/copy": 1 / 1.5, "fp32/eager": 1.5,
           "fp32/compile": 1.0, "fp32/onnxruntime": 1.0, "bf16/eager": 1.5,
           "bf16/compile": 1.0}


def target(name: str) -> float:
    return TARGETS.get(name) or TARGETS["/".join(name.split("/")[-2:])]


def main(argv: list[str]) -> int:
    try:
        import matplotlib
    except ImportError:
        print("render_chart.py needs matplotlib (python -m pip install matplotlib)",
              file=sys.stderr)
        return 1
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summary_path = Path(argv[0]) if argv else RESULTS / "cpu-summary.json"
    rows = json.loads(summary_path.read_text())
    rates_path = summary_path.with_name(summary_path.name.replace("-summary", "-rates"))
    rates = json.loads(rates_path.read_text()) if rates_path.is_file() else None

    fig, axes = plt.subplots(1, 2 if rates else 1, figsize=(15 if rates else 8, 7),
                             squeeze=False)
    _speedups(axes[0][0], rows)
    if rates:
        _rates(axes[0][1], rates)
    fig.tight_layout()
    out = summary_path.with_suffix(".png")
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")
    return 0


def _speedups(ax, rows: list[dict]) -> None:
    import matplotlib.ticker
    names = [r["name"] for r in rows][::-1]  # first row on top
    ratios = {r["name"]: r["ratio"] for r in rows}
    y = range(len(names))
    measured = [ratios[n] for n in names if ratios[n]]
    values = [ratios[n] or 0.0 for n in names]
    colors = ["tab:green" if ratios[n] and ratios[n] >= target(n) else "tab:red"
              for n in names]
    ax.barh(list(y), [v if v else float("nan") for v in values], color=colors, left=0)
    ax.scatter([target(n) for n in names], list(y), marker="|", s=250, color="black",
               label="target", zorder=3)
    hi = max(measured + [3.0]) * 2
    lo = min(measured + [0.5]) / 2
    for i, n in enumerate(names):
        text = f"{ratios[n]:.2f}x" if ratios[n] else "ours not measured"
        ax.annotate(text, (ratios[n] or lo, i), xytext=(4, 0), textcoords="offset points",
                    va="center", fontsize=8, color="black" if ratios[n] else "grey")
    ax.axvline(1.0, color="grey", linewidth=1)
    ax.set_xscale("log")
    ax.set_xlim(lo, hi)
    ticks = [2.0**k for k in range(-8, 12) if lo <= 2.0**k <= hi]
    ax.set_xticks(ticks, [f"{t:g}x" for t in ticks])
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_yticks(list(y), names, fontsize=8)
    ax.set_xlabel("speed-up of ours: baseline time / our time (log)")
    ax.set_title("ours vs the baselines (same run, 2 threads, medians)")
    ax.legend(loc="lower right", fontsize=8)


def _rates(ax, rates: dict) -> None:
    cases = rates["cases"]
    networks = sorted({c["network"] for c in cases})
    kinds = list(dict.fromkeys(f"{c['runtime']} {c['dtype']} {c['layout']}" for c in cases))
    width = 0.8 / max(len(kinds), 1)
    by = {(c["network"], f"{c['runtime']} {c['dtype']} {c['layout']}"): c["gflops"]
          for c in cases}
    for k, kind in enumerate(kinds):
        xs = [i + (k - (len(kinds) - 1) / 2) * width for i in range(len(networks))]
        ax.bar(xs, [by.get((n, kind)) or 0.0 for n in networks], width, label=kind,
               hatch="//" if kind.startswith("ours") else None)
    size = cases[0].get("size") if cases else None
    ax.set_xticks(range(len(networks)), networks)
    ax.set_ylabel("GFLOP/s (2 x conv MACs / median time)")
    ax.set_title("every runtime, x2" + (f", {size}x{size} LR" if size else ""))
    ax.legend(fontsize=7, ncol=2)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
