"""What tiling costs the released DLSR x2 networks: PSNR and pixels against untiled upscale.

    python python/dlsr_tiling_cost.py --json benchmarks/results/dlsr-tiling.json

DLSR's ESA blocks (stride-2 conv, 7x7/3 max-pool, bilinear resize to the whole input)
make a tile's output depend on the tile's extent, so ``upscale(..., tile=T)`` only
approximates the untiled image (the cards say tiling "approximate", halo 69 / 58 LR px).
For each network and tile size this runs :func:`falsr_ext.upscaling.upscale` on every
Set14 x2 LR image (uint8 RGB; greyscale replicated by ``PairedFolder``) and scores it
with the DLSR protocol (float studio Y, 2 px crop) against HR and against the untiled
result (tile = the image's longer side). It first checks that untiled ``upscale`` (the
network on LR/255 scaled back to 0..255) matches :func:`falsr_ext.evaluate` (the network
on 0..255 directly): PSNR and the pixels that rounding flips.

The smallest measured tile (a multiple of 16, at least ``--min-tile``) whose worst
per-image |dPSNR| stays below ``--bound`` dB for every network (and every larger
measured tile) is reported as ``recommended_tile``. Set14's LR images are at most 384 px,
so a tile whose halo box spans (nearly) the whole image is (nearly) untiled there: a
passing large tile bounds the cost on images of Set14's size, not on bigger ones.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from falsr_ext.machine import describe_cpu, machine_info

REPO = Path(__file__).resolve().parents[1]
DEFAULT_TILES = (32, 48, 64, 96, 128, 192, 256, 320, 352)
SCALE = 2


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _module_sr(net: torch.nn.Module, lr: np.ndarray) -> np.ndarray:
    """``evaluate``'s DLSR path: the network on RGB 0..255, clamped and rounded."""
    x = torch.from_numpy(lr.astype(np.float32)).permute(2, 0, 1)[None]
    with torch.inference_mode():
        y = net(x)[0].clamp(0, 255).round()
    return y.to(torch.uint8).permute(1, 2, 0).numpy()


def _pixel_diff(a: np.ndarray, b: np.ndarray) -> tuple[int, int]:
    """(max abs difference, number of differing samples) of two uint8 images."""
    d = np.abs(a.astype(np.int16) - b.astype(np.int16))
    return int(d.max()), int(np.count_nonzero(d))


def _tiled(net: torch.nn.Module, lr: np.ndarray, tile: int, halo: int | None) -> np.ndarray:
    """``upscale(lr, net, tile=tile)``; with ``halo``, the same path with another halo."""
    from falsr_ext.upscaling import _upscale_array, upscale

    if halo is None:
        return upscale(lr, net, tile=tile, progress=False)
    return _upscale_array(lr, net, tile, torch.float32, halo=halo, progress=False)


def measure_net(name: str, path: Path, pairs: list[Any], data: Path,
                tiles: list[int], halo: int | None = None) -> dict[str, Any]:
    """Untiled check against ``evaluate``, then every tile size, for one network
    (``halo``: LR px of context per tile instead of the card's)."""
    from falsr_ext import evaluate, load_model
    from falsr_ext.metrics import psnr
    from falsr_ext.upscaling import upscale

    net = load_model(path)
    card = net.card
    _log(f"{name}: halo {card.halo if halo is None else halo} LR px (card {card.halo}); "
         f"evaluate() on {data.name}")
    ev = evaluate(net, data, scale=SCALE, metrics=("psnr",), model_name=name)
    ev_psnr = {row["image"]: row["psnr"] for row in ev.per_image}

    samples = sum(p.hr.size for p in pairs)
    untiled: list[np.ndarray] = []
    base_psnr: dict[str, float] = {}
    seconds = 0.0
    flips, flip_max = 0, 0
    for p in pairs:
        start = time.perf_counter()
        sr = upscale(p.lr, net, tile=max(p.lr.shape[:2]), progress=False)
        seconds += time.perf_counter() - start
        untiled.append(sr)
        base_psnr[p.name] = psnr(sr, p.hr, crop_border=SCALE, round_y=False)
        m, n = _pixel_diff(sr, _module_sr(net, p.lr))
        flips, flip_max = flips + n, max(flip_max, m)
    mean_base = float(np.mean(list(base_psnr.values())))
    check = {
        "evaluate_psnr": ev.psnr,
        "upscale_psnr": mean_base,
        "d_psnr": mean_base - ev.psnr,
        "d_psnr_worst_image": max((base_psnr[k] - ev_psnr[k] for k in base_psnr), key=abs),
        "samples_differing": flips,
        "samples_differing_fraction": flips / samples,
        "max_abs_pixel": flip_max,
        "seconds": seconds,
    }
    reference = (card.reference or {}).get(data.name)
    if reference:
        check["reference_psnr"] = reference["psnr"]
    _log(f"{name}: untiled upscale {mean_base:.4f} dB vs evaluate {ev.psnr:.4f} dB "
         f"({mean_base - ev.psnr:+.5f}); {flips} of {samples} samples differ "
         f"(max {flip_max}); {seconds:.1f} s")

    rows = []
    for tile in tiles:
        start_all = time.perf_counter()
        seconds = 0.0
        per_image: dict[str, float] = {}
        scores = []
        max_abs, differing, tiled_images = 0, 0, 0
        for p, base in zip(pairs, untiled, strict=True):
            start = time.perf_counter()
            sr = _tiled(net, p.lr, tile, halo)
            seconds += time.perf_counter() - start
            score = psnr(sr, p.hr, crop_border=SCALE, round_y=False)
            scores.append(score)
            per_image[p.name] = score - base_psnr[p.name]
            m, n = _pixel_diff(sr, base)
            max_abs, differing = max(max_abs, m), differing + n
            tiled_images += max(p.lr.shape[:2]) > tile
        deltas = list(per_image.values())
        worst = min(per_image, key=per_image.__getitem__)
        row = {
            "tile": tile,
            "images_tiled": tiled_images,
            "psnr": float(np.mean(scores)),
            "d_psnr_mean": float(np.mean(deltas)),
            "d_psnr_worst": per_image[worst],
            "d_psnr_worst_image": worst,
            "d_psnr_max_abs": float(max(abs(d) for d in deltas)),
            "max_abs_pixel": max_abs,
            "samples_differing_fraction": differing / samples,
            "seconds": seconds,
            "per_image_d_psnr": per_image,
        }
        rows.append(row)
        _log(f"{name}: tile {tile:>3}: {row['psnr']:.4f} dB, dPSNR mean "
             f"{row['d_psnr_mean']:+.5f} worst {row['d_psnr_worst']:+.5f} ({worst}), "
             f"max |px| {max_abs}, {seconds:.1f} s "
             f"(wall {time.perf_counter() - start_all:.1f} s)")
    return {"model": name, "file": path.name, "halo": card.halo if halo is None else halo,
            "card_halo": halo in (None, card.halo), "untiled": check, "tiles": rows}


def recommend(nets: list[dict[str, Any]], bound: float, min_tile: int) -> int | None:
    """Smallest tile (multiple of 16, >= ``min_tile``) measured for every net whose worst
    per-image |dPSNR| is below ``bound`` for all of them (and for every larger tile);
    runs with the cards' halos only."""
    nets = [n for n in nets if n["card_halo"]]
    if not nets:
        return None
    common = set.intersection(*({r["tile"] for r in n["tiles"]} for n in nets))
    ok = {t: all(r["d_psnr_max_abs"] < bound for n in nets for r in n["tiles"]
                 if r["tile"] == t) for t in common}
    best = None
    for t in sorted(common, reverse=True):  # walk down while every larger one passes
        if not ok[t]:
            break
        if t % 16 == 0 and t >= min_tile:
            best = t
    return best


def _print_table(nets: list[dict[str, Any]]) -> None:
    print(f"{'model':<10} {'tile':>8} {'PSNR':>8} {'dPSNR mean':>11} {'worst':>9} "
          f"{'max|px|':>7} {'s':>6}")
    for n in nets:
        u = n["untiled"]
        print(f"{n['model']:<10} {'untiled':>8} {u['upscale_psnr']:>8.4f} {'':>11} {'':>9} "
              f"{'':>7} {u['seconds']:>6.1f}")
        for r in n["tiles"]:
            print(f"{n['model']:<10} {r['tile']:>8} {r['psnr']:>8.4f} {r['d_psnr_mean']:>+11.5f} "
                  f"{r['d_psnr_worst']:>+9.5f} {r['max_abs_pixel']:>7} {r['seconds']:>6.1f}")


def main() -> int:
    """Measure every requested net and tile; print the table, write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared",
                        help="the shared folder (dlsr/checkpoints, data/Set14)")
    parser.add_argument("--data", type=Path, help="benchmark folder (default SHARED/data/Set14)")
    parser.add_argument("--nets", nargs="+", help="dlsr-full / dlsr-para / dlsr-tiny (all)")
    parser.add_argument("--tiles", type=int, nargs="+", default=list(DEFAULT_TILES),
                        help="LR tile sizes (untiled is always measured)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (default 1: reproducible on a shared box)")
    parser.add_argument("--bound", type=float, default=0.01, help="dPSNR bound, dB")
    parser.add_argument("--min-tile", type=int, default=64, help="smallest tile to recommend")
    parser.add_argument("--halo", type=int,
                        help="LR px of context per tile instead of the card's (exploration)")
    parser.add_argument("--json", type=Path,
                        default=REPO / "benchmarks" / "results" / "dlsr-tiling.json")
    parser.add_argument("--merge", action="store_true",
                        help="keep the JSON's other (net, halo) runs, replace these")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from falsr_ext.data.pairs import PairedFolder
    from falsr_ext.errors import FalsrError
    from falsr_ext.spaces.dlsr import released_cards

    cards = released_cards()
    names = args.nets or list(cards)
    data = args.data or args.shared / "data" / "Set14"
    try:
        unknown = [n for n in names if n not in cards]
        if unknown:
            raise FalsrError(f"unknown net(s) {', '.join(unknown)} (known: {', '.join(cards)})")
        pairs = list(PairedFolder(data, SCALE))
        nets = []
        for name in names:
            path = args.shared / "dlsr" / "checkpoints" / str(cards[name].weights)
            nets.append(measure_net(name, path, pairs, data, sorted(set(args.tiles)),
                                    args.halo))
    except FalsrError as exc:
        print(f"dlsr_tiling_cost: error: {exc}", file=sys.stderr)
        return 2
    _print_table(nets)
    if args.merge and args.json.is_file():
        done = {(n["model"], n["halo"]) for n in nets}
        old = json.loads(args.json.read_text())["nets"]
        nets = [n for n in old if (n["model"], n["halo"]) not in done] + nets
        order = list(cards)
        nets.sort(key=lambda n: (order.index(n["model"]), not n["card_halo"], n["halo"]))
    best = recommend(nets, args.bound, args.min_tile)
    print(f"recommended tile (worst |dPSNR| < {args.bound} dB, >= {args.min_tile}): {best}")
    result = {
        "dataset": data.name, "scale": SCALE, "images": len(pairs),
        "max_lr_side": max(max(p.lr.shape[:2]) for p in pairs),
        "protocol": "upscale() on uint8 RGB LR; PSNR on float studio Y, 2 px border crop "
                    "(DLSR y-float); dPSNR = tiled - untiled per image; untiled = tile of "
                    "the image's longer side",
        "cpu": describe_cpu(), "machine": machine_info(), "threads": args.threads,
        "torch": torch.__version__,
        "bound_db": args.bound, "min_tile": args.min_tile, "recommended_tile": best,
        "nets": nets,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    _log(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
