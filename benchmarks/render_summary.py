"""Turn pytest-benchmark JSON runs into ratio summaries and the README's markdown table.

    python benchmarks/render_summary.py   # pixel_shuffle.json, subpixel_conv.json, counter

Pairs each "ours" benchmark with the baselines of the same shape in the same run
(pytest-benchmark ``extra_info``: ``summary`` and ``role``), using medians. Writes
``benchmarks/results/<run>-summary.json`` (list of ``{"name", "ours_s",
"baseline_s", "ratio"}``, ratio = baseline_s / ours_s) and prints a markdown table.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def pixel_shuffle_summary(run: dict) -> list[dict]:
    """Ratios of our shuffle (both orders) to F.pixel_shuffle and to a plain copy_."""
    by_key = {b["extra_info"]["summary"]: b["stats"]["median"] for b in run["benchmarks"]
              if "summary" in b.get("extra_info", {})}
    rows = []
    for key, ours in sorted(by_key.items()):
        parts = key.split("/")
        if parts[0] != "pixel_shuffle" or parts[1] not in ("torch", "tf"):
            continue
        order, shape = parts[1], parts[2]
        suffix = "" if (order, shape) == ("torch", "32x480x480") else f"[{order},{shape}]"
        for base_name, base_key in (("pixel_shuffle", f"pixel_shuffle/*/{shape}"),
                                    ("pixel_shuffle/copy", f"pixel_shuffle/copy/{shape}")):
            base = by_key[base_key]
            rows.append({"name": base_name + suffix, "ours_s": ours, "baseline_s": base,
                         "ratio": base / ours})
    return rows


def paired_summary(run: dict) -> list[dict]:
    """Ratios for every ``summary`` key that has both an "ours" and a "baseline" entry."""
    roles: dict[str, dict[str, float]] = {}
    for b in run["benchmarks"]:
        info = b.get("extra_info", {})
        if "summary" in info and info.get("role") in ("ours", "baseline"):
            roles.setdefault(info["summary"], {})[info["role"]] = b["stats"]["median"]
    return [{"name": key, "ours_s": r["ours"], "baseline_s": r["baseline"],
             "ratio": r["baseline"] / r["ours"]}
            for key, r in sorted(roles.items()) if {"ours", "baseline"} <= r.keys()]


def markdown(rows: list[dict], baseline_label: dict[str, str]) -> str:
    """A markdown table of summary rows."""
    out = ["| benchmark | ours | baseline | baseline / ours |", "|---|---|---|---|"]
    for r in rows:
        label = baseline_label.get(r["name"].split("[")[0], "")
        out.append(f"| `{r['name']}` | {_fmt(r['ours_s'])} | {_fmt(r['baseline_s'])} {label} "
                   f"| **{r['ratio']:.2f}x** |")
    return "\n".join(out)


def _fmt(seconds: float) -> str:
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    if seconds >= 1e-6:
        return f"{seconds * 1e6:.1f} µs"
    return f"{seconds * 1e9:.0f} ns"


def main(argv: list[str]) -> int:
    """Render every JSON run given on the command line."""
    labels = {"pixel_shuffle": "(F.pixel_shuffle NCHW)", "pixel_shuffle/copy": "(copy_)",
              "counter/single": "(FlopCounterMode, meta)", "counter/batch": "(idem)",
              "counter/batch+encode": "(idem)", "counter/single-cached": "(idem)",
              "module_counter": "(idem)",
              "subpixel_conv/nchw": "(F.conv2d(F.pixel_shuffle(x + r)))",
              "subpixel_conv/nhwc": "(idem, channels_last)"}
    default = [str(RESULTS / f"{n}.json") for n in ("pixel_shuffle", "subpixel_conv")]
    for arg in argv or default:
        path = Path(arg)
        run = json.loads(path.read_text())
        rows = pixel_shuffle_summary(run) or paired_summary(run)
        if rows:
            (RESULTS / f"{path.stem}-summary.json").write_text(json.dumps(rows, indent=2))
            print(markdown(rows, labels))
            print()
    counter = RESULTS / "counter-summary.json"
    if counter.is_file():
        print()
        print(markdown(json.loads(counter.read_text()), labels))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
