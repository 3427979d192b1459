"""Turn pytest-benchmark JSON runs into ratio summaries and the README's markdown table.

    python benchmarks/render_summary.py   # pixel_shuffle.json, subpixel_conv.json, counter
    python benchmarks/render_summary.py benchmarks/results/cpu.json   # the CPU suite

Pairs each "ours" benchmark with the baselines of the same shape in the same run
(pytest-benchmark ``extra_info``: ``summary`` and ``role``), using medians. Writes
``<run>-summary.json`` next to the run (list of ``{"name", "ours_s", "baseline_s",
"ratio"}``, ratio = baseline_s / ours_s) and prints a markdown table.

A CPU-suite run (benchmarks carrying ``extra_info["network"]``, test_bench_network.py +
test_bench_pixel_shuffle.py) gives exactly the rows of ``cpu_summary_names`` for the
networks it measured (FALSR-A/B/C, or others chosen with FALSR_BENCH_NETWORKS); a row whose
"ours" was not measured (skipped) keeps its baseline with ``ours_s`` and ``ratio`` null.
It also writes ``<run>-rates.json``: every case's median and GFLOP/s (2 x conv MACs / s),
ours' GFLOP/s per network and the B/A, C/A MAC-rate ratios of every runtime.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
NETWORKS = ("FALSR-A", "FALSR-B", "FALSR-C")
NETWORK_ROWS = (("fp32", "eager"), ("fp32", "compile"), ("fp32", "onnxruntime"),
                ("bf16", "eager"), ("bf16", "compile"))
PIXEL_SHUFFLE_NAMES = ["pixel_shuffle", "pixel_shuffle/copy"]
# the columns of the per-network table: (runtime, dtype, layout)
CPU_CASES = (("eager", "fp32", "nchw"), ("eager", "fp32", "channels_last"),
             ("eager", "bf16", "channels_last"), ("compile", "fp32", "channels_last"),
             ("compile", "bf16", "channels_last"), ("onnxruntime", "fp32", "nchw"),
             ("ours", "fp32", "nhwc"), ("ours", "bf16", "nhwc"))


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
        if isinstance(info.get("summary"), str) and info.get("role") in ("ours", "baseline"):
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


# ----------------------------------------------------------------- the CPU suite
def is_cpu_suite(run: dict) -> bool:
    return any("network" in b.get("extra_info", {}) for b in run["benchmarks"])


def run_networks(run: dict) -> list[str]:
    """The networks a CPU-suite run measured: FALSR-A/B/C first, in that order."""
    found = {b["extra_info"]["network"] for b in run["benchmarks"]
             if "network" in b.get("extra_info", {})}
    return [n for n in NETWORKS if n in found] + sorted(found - set(NETWORKS))


def cpu_summary_names(run: dict) -> list[str]:
    """The cpu-summary.json row names of a run: the shuffle rows when it measured the
    shuffle, then network/dtype/runtime for every network it measured."""
    shuffle = any(str(b.get("extra_info", {}).get("summary", "")).startswith("pixel_shuffle")
                  for b in run["benchmarks"])
    return (PIXEL_SHUFFLE_NAMES if shuffle else []) + [
        f"{net}/{dtype}/{runtime}" for dtype, runtime in NETWORK_ROWS
        for net in run_networks(run)]


def network_cases(run: dict) -> list[dict]:
    """One record per measured end-to-end case: median, GMACs and GFLOP/s (2 x MACs / s)."""
    cases = []
    for b in run["benchmarks"]:
        info = b.get("extra_info", {})
        if "network" not in info:
            continue
        median = b["stats"]["median"]
        gmacs = info.get("gmacs")
        cases.append({
            "network": info["network"], "runtime": info["runtime"], "dtype": info["dtype"],
            "layout": info["layout"], "role": info["role"], "summary": info["summary"],
            "size": info.get("size"), "median_s": median, "gmacs": gmacs,
            "gflops": 2 * gmacs / median if gmacs else None,
        })
    return cases


def cpu_summary(run: dict) -> tuple[list[dict], dict[str, str]]:
    """The rows of cpu-summary.json, in ``cpu_summary_names`` order, and for each row the
    baseline it was measured against (the faster one where several feed it)."""
    by_key = {b["extra_info"]["summary"]: b["stats"]["median"] for b in run["benchmarks"]
              if isinstance(b.get("extra_info", {}).get("summary"), str)}
    shape = "32x480x480"
    out_variant = by_key.get(f"pixel_shuffle/torch-out/{shape}")
    pairs = {  # name -> (ours, baseline, label)
        "pixel_shuffle": (by_key.get(f"pixel_shuffle/torch/{shape}"),
                          by_key.get(f"pixel_shuffle/*/{shape}"), "F.pixel_shuffle NCHW"),
        "pixel_shuffle/copy": (out_variant or by_key.get(f"pixel_shuffle/torch/{shape}"),
                               by_key.get(f"pixel_shuffle/copy/{shape}"),
                               "copy_ into a preallocated tensor"
                               + ("; ours with out=" if out_variant else "; ours allocating")),
    }
    ours: dict[str, float] = {}
    baselines: dict[str, tuple[float, str]] = {}
    for case in network_cases(run):
        for name in case["summary"]:
            if case["role"] == "ours":
                ours[name] = case["median_s"]
            elif name not in baselines or case["median_s"] < baselines[name][0]:
                label = f"{case['runtime']} {case['dtype']} {case['layout']}"
                baselines[name] = (case["median_s"], label)
    names = cpu_summary_names(run)
    for name in names:
        if name not in PIXEL_SHUFFLE_NAMES:
            base, label = baselines.get(name, (None, ""))
            pairs[name] = (ours.get(name), base, label)
    rows, labels = [], {}
    for name in names:
        ours_s, base_s, label = pairs[name]
        rows.append({"name": name, "ours_s": ours_s, "baseline_s": base_s,
                     "ratio": base_s / ours_s if ours_s and base_s else None})
        labels[name] = label
    return rows, labels


def cpu_rates(run: dict) -> dict:
    """GFLOP/s of every case, ours' per network, and each runtime's B/A and C/A rate ratios."""
    cases = network_cases(run)
    rate = {(c["network"], c["runtime"], c["dtype"], c["layout"]): c["gflops"] for c in cases}
    ratios = {}
    for runtime, dtype, layout in CPU_CASES:
        a = rate.get(("FALSR-A", runtime, dtype, layout))
        if a:
            key = f"{runtime}/{dtype}/{layout}"
            ratios[key] = {f"{n.removeprefix('FALSR-')}/A": rate[(n, runtime, dtype, layout)] / a
                           for n in run_networks(run) if n != "FALSR-A"
                           and rate.get((n, runtime, dtype, layout))}
    ours = {dtype: {c["network"]: c["gflops"] for c in cases
                    if c["role"] == "ours" and c["dtype"] == dtype}
            for dtype in ("fp32", "bf16")}
    return {"cases": [{k: v for k, v in c.items() if k != "summary"} for c in cases],
            "ours_gflops": ours, "mac_rate_ratio": ratios}


def cpu_markdown(rows: list[dict], labels: dict[str, str], run: dict) -> str:
    """The summary table, then seconds and GFLOP/s of every case per network."""
    out = ["| benchmark | ours | baseline | baseline / ours |", "|---|---|---|---|"]
    for r in rows:
        ours = _fmt(r["ours_s"]) if r["ours_s"] else "not measured"
        base = f"{_fmt(r['baseline_s'])} ({labels[r['name']]})" if r["baseline_s"] else "-"
        ratio = f"**{r['ratio']:.2f}x**" if r["ratio"] else "-"
        out.append(f"| `{r['name']}` | {ours} | {base} | {ratio} |")
    cases = {(c["network"], c["runtime"], c["dtype"], c["layout"]): c
             for c in network_cases(run)}
    if not cases:
        return "\n".join(out)
    size = next(b["extra_info"].get("size") for b in run["benchmarks"]
                if "network" in b.get("extra_info", {}))
    head = " | ".join(f"{r} {d} {lay}" for r, d, lay in CPU_CASES)
    out += ["", f"Seconds (GFLOP/s), x2, {size}x{size} LR, median:", "",
            f"| network | GMACs | {head} |", "|---" * (len(CPU_CASES) + 2) + "|"]
    for net in run_networks(run):
        cells = []
        for runtime, dtype, layout in CPU_CASES:
            c = cases.get((net, runtime, dtype, layout))
            cells.append(f"{c['median_s']:.3f} ({c['gflops']:.0f})" if c and c["gflops"]
                         else f"{c['median_s']:.3f}" if c else "-")
        gm = next((c["gmacs"] for k, c in cases.items() if k[0] == net), None)
        out.append(f"| {net} | {gm:.1f} | " + " | ".join(cells) + " |" if gm else
                   f"| {net} | - | " + " | ".join(cells) + " |")
    return "\n".join(out)


def render_cpu(path: Path, run: dict) -> None:
    rows, labels = cpu_summary(run)
    (path.parent / f"{path.stem}-summary.json").write_text(json.dumps(rows, indent=2) + "\n")
    (path.parent / f"{path.stem}-rates.json").write_text(
        json.dumps(cpu_rates(run), indent=2) + "\n")
    print(cpu_markdown(rows, labels, run))
    print()


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
        if is_cpu_suite(run):
            render_cpu(path, run)
            continue
        rows = pixel_shuffle_summary(run) or paired_summary(run)
        if rows:
            (path.parent / f"{path.stem}-summary.json").write_text(json.dumps(rows, indent=2))
            print(markdown(rows, labels))
            print()
    counter = RESULTS / "counter-summary.json"
    if not argv and counter.is_file():  # the default set of runs includes the counter's
        print()
        print(markdown(json.loads(counter.read_text()), labels))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
