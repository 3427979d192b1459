"""The Pareto front of the evaluated networks, its hypervolume, and the run's outputs.

Front: the feasible evaluations (every constraint met) that no other feasible one
dominates in (PSNR up, MACs down, params down). Hypervolume: of the points
``(floor - PSNR [dB], MACs / macs_ref, params / params_ref)`` against the reference
``(0, 1, 1)``; a fixed reference makes it comparable across generations and runs.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from pymoo.indicators.hv import HV
from pymoo.util.nds.non_dominated_sorting import NonDominatedSorting

from falsr_ext.files import atomic_path, atomic_write_text
from falsr_ext.nas.problem import Limits

# Reference points of the FALSR paper (x2, Set5 PSNR, MACs at 480x480, params).
CARN_POINTS: dict[str, dict[str, float]] = {
    "CARN": {"macs": 222.8e9, "params": 1_592_000, "psnr": 37.76},
    "CARN-M": {"macs": 91.2e9, "params": 412_000, "psnr": 37.53},
}

_LABEL_OFFSETS = {"FALSR-A": (-12, -12), "FALSR-B": (-20, 7), "FALSR-C": (6, 5),
                  "CARN": (-30, 7), "CARN-M": (-24, -12)}


def paper_points() -> dict[str, dict[str, float]]:
    """FALSR-A/B/C (Table 1) and CARN / CARN-M: MACs, params and Set5 PSNR."""
    from falsr_ext.models.zoo import PAPER_TABLE1

    out = {name: {"macs": float(row["macs"]), "params": float(row["params"]),
                  "psnr": float(row["Set5"][0])} for name, row in PAPER_TABLE1.items()}
    out.update(CARN_POINTS)
    return out


def feasible(records: Iterable[dict[str, Any]], limits: Limits) -> list[dict[str, Any]]:
    """Evaluated records meeting every constraint (finite PSNR)."""
    return [r for r in records if np.isfinite(r["psnr"])
            and limits.feasible(r["psnr"], r["macs"], r["params"])]


def front(records: Iterable[dict[str, Any]], limits: Limits) -> list[dict[str, Any]]:
    """The non-dominated feasible records, sorted by MACs."""
    pts = feasible(records, limits)
    if not pts:
        return []
    F = np.array([[-r["psnr"], r["macs"], r["params"]] for r in pts], dtype=np.float64)
    keep = NonDominatedSorting().do(F, only_non_dominated_front=True)
    return sorted((pts[i] for i in keep), key=lambda r: (r["macs"], -r["psnr"]))


def hypervolume(records: Iterable[dict[str, Any]], limits: Limits, macs_ref: float,
                params_ref: float, psnr_floor: float = 0.0) -> float:
    """Hypervolume of the feasible records (see the module docstring); 0 when none."""
    pts = feasible(records, limits)
    if not pts:
        return 0.0
    F = np.array([[psnr_floor - r["psnr"], r["macs"] / macs_ref, r["params"] / params_ref]
                  for r in pts], dtype=np.float64)
    return float(HV(ref_point=np.array([0.0, 1.0, 1.0]))(F))


def write_outputs(out: Path, records: list[dict[str, Any]], limits: Limits) -> list[dict]:
    """Write ``pareto.json``, ``pareto.csv`` and ``pareto.png`` into ``out``; return the front."""
    best = front(records, limits)
    rows = [{"genotype": r["genotype"], "hash": r["hash"], "psnr": r["psnr"],
             "macs": int(r["macs"]), "params": int(r["params"])} for r in best]
    atomic_write_text(out / "pareto.json", json.dumps(rows, indent=2) + "\n")
    table = io.StringIO(newline="")
    writer = csv.DictWriter(table, fieldnames=["psnr", "macs", "params", "hash", "genotype"])
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(out / "pareto.csv", table.getvalue())
    plot_front(out / "pareto.png", records, best, limits)
    return rows


def plot_front(path: Path, records: list[dict[str, Any]], best: list[dict[str, Any]],
               limits: Limits) -> None:
    """PSNR against MACs: every evaluation, the front, and the paper's reference models."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=100)
    ok = [r for r in records if np.isfinite(r["psnr"])]
    if ok:
        ax.scatter([r["macs"] / 1e9 for r in ok], [r["psnr"] for r in ok], s=12,
                   color="0.7", label="evaluated (incomplete training)")
    if best:
        ax.plot([r["macs"] / 1e9 for r in best], [r["psnr"] for r in best], "o-",
                color="tab:red", ms=4, label="search front")
    for name, p in paper_points().items():
        colour = "tab:blue" if name.startswith("FALSR") else "tab:green"
        ax.scatter([p["macs"] / 1e9], [p["psnr"]], marker="*", s=80, color=colour)
        ax.annotate(name, (p["macs"] / 1e9, p["psnr"]), textcoords="offset points",
                    xytext=_LABEL_OFFSETS.get(name, (4, 4)), fontsize=8)
    if limits.max_macs is not None:
        ax.axvline(limits.max_macs / 1e9, color="0.4", ls="--", lw=0.8, label="MACs limit")
    ax.set_xlabel("MACs at 480x480 (G)")
    ax.set_ylabel("PSNR (dB)")
    ax.set_title("Search front (paper models: full training, Set5)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png")
    finally:
        plt.close(fig)
