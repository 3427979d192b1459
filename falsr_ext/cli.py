"""The ``falsr`` command line: eval, count, convert, genotype, upscale, train, export, search.

User errors (bad paths, corrupt files, bad genotypes) print one line,
``falsr: error: <file>: <problem>``, and exit with status 2; no traceback (the runner,
:func:`falsr_ext.cli_run.run_command`, is shared with ``python -m falsr_ext.nas.cli``).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from falsr_ext.cli_args import (
    MIN_TILE,
    check_output_path,
    device_name,
    int_at_least,
    scale_factor,
    threads_count,
    tile_size,
)
from falsr_ext.cli_run import EXIT_USER_ERROR, run_command
from falsr_ext.data.image_io import DEFAULT_MAX_PIXELS
from falsr_ext.errors import FalsrError

__all__ = ["EXIT_USER_ERROR", "build_parser", "main", "run_command"]


def _cmd_eval(args: argparse.Namespace) -> int:
    import torch

    from falsr_ext.evaluation import evaluate
    from falsr_ext.models.loading import load_model

    if args.threads:
        torch.set_num_threads(args.threads)
    metrics = _metric_list(args.metrics)
    model = load_model(args.model, weights=args.weights, arch=args.arch)
    scale = model.scale if args.scale is None else args.scale
    if scale != model.scale:
        raise FalsrError(f"{args.model}: the model upscales x{model.scale}, not x{scale}")
    results = []
    for data in args.data:
        result = evaluate(model, data, scale=scale, progress=not args.no_progress,
                          dtype=args.dtype, model_name=args.model, metrics=metrics,
                          lpips_net=args.lpips_net, lpips_weights=args.lpips_weights)
        results.append(result)
        if not args.json:
            lpips = "" if result.lpips is None else f"  LPIPS {result.lpips:.4f}"
            print(f"{result.model}  {result.dataset}  x{result.scale}  "
                  f"PSNR {result.psnr:.4f} dB  SSIM {result.ssim:.5f}{lpips}  "
                  f"({result.images} images)")
            if args.per_image:
                for row in result.per_image:
                    extra = f"  {row['lpips']:.4f}" if "lpips" in row else ""
                    print(f"  {row['image']:<20} {row['psnr']:.4f}  {row['ssim']:.5f}{extra}")
    if args.json:
        dicts = [r.to_dict(per_image=args.per_image) for r in results]
        print(json.dumps(dicts[0] if len(dicts) == 1 else dicts))
    elif results:
        print(f"protocol: {results[0].protocol}")
    return 0


def _metric_list(text: str) -> tuple[str, ...]:
    from falsr_ext.evaluation import METRICS

    names = tuple(dict.fromkeys(m.strip().lower() for m in text.split(",") if m.strip()))
    unknown = [m for m in names if m not in METRICS]
    if unknown or not names:
        raise FalsrError(f"--metrics: unknown {', '.join(map(repr, unknown)) or 'empty list'} "
                         f"(known: {', '.join(METRICS)})")
    return names


def _cmd_convert(args: argparse.Namespace) -> int:
    from falsr_ext.convert import convert_pb, load_pb

    out = Path(args.output) if args.output else Path(args.pb).with_suffix(".safetensors")
    check_output_path(out, [Path(args.pb)], force=args.force)
    if Path(args.pb).suffix.lower() in (".pt", ".pth"):
        return _convert_checkpoint(Path(args.pb), out, args.arch, args.verbose)
    if args.arch:
        raise FalsrError("--arch is only used with a .pt checkpoint (a .pb records its genotype)")
    convert_pb(args.pb, out)
    model = load_pb(args.pb) if args.verbose else None
    print(f"wrote {out}")
    if model is not None:
        print(f"genotype {model.genotype.to_string()}  params {model.num_params():,}")
    return 0


def _convert_checkpoint(src: Path, out: Path, arch: str | None, verbose: bool) -> int:
    """A released DLSR / TPSR checkpoint -> our .safetensors (architecture in metadata)."""
    from falsr_ext.models.weights import save_weights
    from falsr_ext.spaces import get_space
    from falsr_ext.spaces.checkpoints import file_sha256, load_checkpoint

    model = load_checkpoint(src, arch)
    save_weights(model, out, source=f"{src.name} sha256:{file_sha256(src)}")
    print(f"wrote {out}")
    if verbose:
        params = sum(p.numel() for p in model.parameters() if p.requires_grad)
        print(f"{model.space}:{get_space(model.space).format(model.arch)}  x{model.scale}  "
              f"params {params:,}")
    return 0


def _parse_size(text: str) -> tuple[int, int]:
    """``480x320`` -> (480, 320) as (H, W); a single number means a square."""
    parts = text.lower().split("x")
    try:
        sizes = [int(p) for p in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must be HxW (e.g. 480x480), got {text!r}") from None
    if len(sizes) == 1:
        sizes *= 2
    if len(sizes) != 2 or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"size must be HxW of positive sides (e.g. 480x480), "
                                         f"got {text!r}")
    return sizes[0], sizes[1]


def _cmd_count(args: argparse.Namespace) -> int:
    from falsr_ext.models.loading import DEFAULT_SCALES, resolve_arch

    space, arch, file_scale = resolve_arch(args.model)
    scale = args.scale or file_scale or DEFAULT_SCALES.get(space, 2)
    height, width = args.size
    if space != "falsr":
        return _count_other_space(args, space, arch, scale)
    from falsr_ext.counter import count

    result = count(arch, height=height, width=width, scale=scale)
    if args.json:
        print(json.dumps({"space": "falsr", **result.to_dict()}))
        return 0
    print(f"{args.model}: {height}x{width} LR input, x{scale}")
    print(f"{'part':<16} {'params':>12} {'MACs':>18} {'share':>7}")
    for cell in result.cells:
        share = cell.macs / result.macs if result.macs else 0.0
        print(f"{cell.name:<16} {cell.params:>12,} {cell.macs:>18,} {share:>6.1%}")
    print(f"{'total':<16} {result.params:>12,} {result.macs:>18,} "
          f"({result.macs / 1e9:.3f} G)")
    print(f"convention: {result.convention}")
    return 0


def _count_other_space(args: argparse.Namespace, space_name: str, arch: object,
                       scale: int) -> int:
    from falsr_ext.spaces import get_space

    space = get_space(space_name)
    height, width = args.size
    cost = space.count(arch, height, width, scale)
    convention = ("MACs of conv layers only (depthwise per group), at the LR input size; "
                  "learnable params")
    if args.json:
        print(json.dumps({"space": space_name, "arch": space.format(arch), "height": height,
                          "width": width, "scale": scale, "params": cost.params,
                          "macs": cost.macs, "convention": convention}))
        return 0
    print(f"{args.model}: {space_name}, {height}x{width} LR input, x{scale}")
    print(f"params {cost.params:,}   MACs {cost.macs:,} ({cost.macs / 1e9:.3f} G)")
    print(f"convention: {convention}")
    return 0


def _cmd_genotype(args: argparse.Namespace) -> int:
    from falsr_ext.spaces import split_spec

    space, text = split_spec(args.spec)
    arch = space.parse(text)
    if args.json:
        print(space.to_json(arch) if space.name != "falsr" else arch.to_json(indent=2))
    else:
        prefix = "" if space.name == "falsr" else f"{space.name}:"
        print(prefix + space.format(arch))
    return 0


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm",
                  ".gif")


def _folder_images(path: Path) -> list[Path]:
    """The images of a folder: regular files with an image suffix, not hidden ones (our
    own temporary ``.name.part.png`` files among them), sorted."""
    return sorted(p for p in path.iterdir()
                  if not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES
                  and p.is_file())


def _upscale_jobs(inputs: Sequence[str], output: str) -> list[tuple[Path, Path]]:
    """(input, output) path pairs of ``falsr upscale``; refuses to overwrite an input."""
    from falsr_ext.errors import ImageError
    from falsr_ext.files import path_kind, short_path

    sources: list[Path] = []
    kinds = [path_kind(name) for name in inputs]
    for name, kind in zip(inputs, kinds, strict=True):
        path = Path(name)
        if kind == "dir":
            found = _folder_images(path)
            if not found:
                raise ImageError(f"{path}: no images in this folder ({', '.join(IMAGE_SUFFIXES)})")
            sources.extend(found)
        elif kind is not None:
            sources.append(path)  # read_image refuses FIFOs and devices with one line
        else:
            raise ImageError(f"{short_path(path)}: no such file or folder")
    out = Path(output)
    out_kind = path_kind(out)
    single = len(inputs) == 1 and kinds[0] != "dir"
    if single and out_kind != "dir" and not output.endswith(("/", "\\")):
        jobs = [(sources[0], out)]
    else:
        if out_kind not in (None, "dir"):
            raise FalsrError(f"{short_path(out)}: is a file; with several inputs or a folder, "
                             f"-o names the output folder")
        jobs = [(src, out / (src.stem + ".png")) for src in sources]
        seen: dict[Path, Path] = {}
        for src, dst in jobs:
            if dst in seen:
                raise FalsrError(f"{dst}: both {seen[dst]} and {src} would be written here")
            seen[dst] = src
    resolved = {src.resolve() for src in sources}
    for _src, dst in jobs:
        path_kind(dst.parent)  # a name the system refuses: one line, not an OSError
        if dst.resolve() in resolved:
            raise FalsrError(f"{dst}: is an input image; refusing to overwrite it")
    return jobs


def _output_lock(jobs: list[tuple[Path, Path]], output: str):
    """The lock that keeps a second ``falsr upscale`` out of this one's outputs: the
    output folder's, or, for a single output file, one beside that file."""
    from falsr_ext.files import FolderLock

    folder = jobs[0][1].parent
    if len(jobs) == 1 and jobs[0][1] == Path(output):
        return FolderLock(folder, "falsr upscale", name=f".{jobs[0][1].name}.falsr.lock")
    return FolderLock(folder, "falsr upscale")


def _cmd_upscale(args: argparse.Namespace) -> int:
    from falsr_ext.data.image_io import read_image, write_image
    from falsr_ext.models.loading import load_model
    from falsr_ext.upscaling import upscale

    if args.weights and not args.model:
        raise FalsrError("--weights needs --model (a zoo name such as FALSR-A)")
    jobs = _upscale_jobs(args.inputs, args.output)
    model = load_model(args.model, weights=args.weights) if args.model else None
    folder = jobs[0][1].parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FalsrError(f"{folder}: cannot create the output folder "
                         f"({exc.strerror or exc})") from exc
    max_pixels = args.max_pixels or None
    items = jobs
    if not args.no_progress and len(jobs) > 1:
        from tqdm import tqdm

        items = tqdm(jobs, desc="upscale", unit="img", disable=None)
    with _output_lock(jobs, args.output):
        for src, dst in items:
            image = read_image(src, max_pixels=max_pixels, frame=args.frame)
            out = upscale(image, model=model, scale=args.scale, device=args.device,
                          dtype=args.dtype, tile=args.tile or None, threads=args.threads,
                          progress=False if args.no_progress or len(jobs) > 1 else None)
            write_image(dst, out)  # atomic: a kill never leaves a partial image
    if len(jobs) == 1:
        print(f"wrote {jobs[0][1]}")
    else:
        print(f"wrote {len(jobs)} images to {jobs[0][1].parent}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``falsr`` command."""
    parser = argparse.ArgumentParser(prog="falsr", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    ev = sub.add_parser("eval", help="PSNR / SSIM of a model on benchmark folders")
    ev.add_argument("--model", required=True,
                    help="our .safetensors file (any space), an official FALSR .pb, a released "
                    "DLSR / TPSR .pt checkpoint, 'default', or a zoo name with --weights")
    ev.add_argument("--arch", help="architecture of a .pt checkpoint no model card describes, "
                    "e.g. dlsr:... (released files are recognised by their sha256)")
    ev.add_argument("--weights", help="weights file for a zoo name (.pb or .safetensors)")
    ev.add_argument("--data", required=True, nargs="+",
                    help="folder(s) holding HR/ and optionally LR_bicubic/X<s>/")
    ev.add_argument("--scale", type=scale_factor, default=None,
                    help="upscaling factor (default: the model's)")
    ev.add_argument("--metrics", default="psnr,ssim",
                    help="comma-separated: psnr, ssim, lpips (default psnr,ssim; PSNR and SSIM "
                    "are always reported)")
    ev.add_argument("--lpips-net", choices=("alex", "vgg"), default="alex",
                    help="LPIPS network (default alex)")
    ev.add_argument("--lpips-weights", metavar="FILE",
                    help="LPIPS weights (.safetensors in the lpips state-dict naming); "
                    "default $FALSR_LPIPS_WEIGHTS; never downloaded")
    ev.add_argument("--json", action="store_true", help="print one JSON object (list if several)")
    ev.add_argument("--per-image", action="store_true", help="include per-image results")
    ev.add_argument("--dtype", choices=("float32", "bf16", "bfloat16"), default="float32",
                    help="network precision (bf16: the engine's bf16 cells, fp32 accumulation)")
    ev.add_argument("--threads", type=threads_count, default=None,
                    help="torch threads (default: all)")
    ev.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    ev.set_defaults(func=_cmd_eval)

    ct = sub.add_parser("count", help="params and conv mult-adds (MACs), per cell and total")
    ct.add_argument("model", help="zoo name, genotype string/JSON, our .safetensors or a .pb")
    ct.add_argument("--size", type=_parse_size, default=(480, 480),
                    help="LR input HxW (default 480x480, the papers' convention)")
    ct.add_argument("--scale", type=scale_factor, default=None,
                    help="upscaling factor (default: the file's, else 2)")
    ct.add_argument("--json", action="store_true",
                    help="print one JSON object: params, macs, cells, convention")
    ct.set_defaults(func=_cmd_count)

    cv = sub.add_parser("convert", help="official FALSR .pb or DLSR / TPSR .pt -> our "
                        ".safetensors (no TensorFlow, no unpickling)")
    cv.add_argument("pb", metavar="FILE",
                    help="official FALSR frozen graph (FALSR-A.pb) or a released DLSR / TPSR "
                    "checkpoint (.pt)")
    cv.add_argument("--arch", help="architecture of a .pt no model card describes "
                    "(e.g. dlsr:...)")
    cv.add_argument("-o", "--output", help="output path (default: next to the .pb)")
    cv.add_argument("-v", "--verbose", action="store_true", help="print genotype and params")
    cv.add_argument("--force", action="store_true", help="overwrite an existing output file")
    cv.set_defaults(func=_cmd_convert)

    gt = sub.add_parser("genotype", help="validate and print an architecture of any space "
                        "(string, JSON or a zoo / card name)")
    gt.add_argument("spec", help="FALSR compact string, JSON or zoo name; or space:arch, "
                    "e.g. dlsr:tiny, tpsr:tpsr-d2")
    gt.add_argument("--json", action="store_true")
    gt.set_defaults(func=_cmd_genotype)

    up = sub.add_parser("upscale", help="super-resolve image files or folders")
    up.add_argument("inputs", nargs="+", metavar="IN",
                    help="image files and/or folders (their images, not recursive)")
    up.add_argument("-o", "--output", required=True, metavar="OUT",
                    help="output file (one input file) or folder (created; names kept, .png)")
    up.add_argument("--model", help="our .safetensors file (any space), an official FALSR .pb, "
                    "a released DLSR / TPSR .pt, a zoo name with --weights, or 'default' (the "
                    "bundled model, used when omitted)")
    up.add_argument("--weights", help="weights file for a zoo name (.pb or .safetensors)")
    up.add_argument("--scale", type=scale_factor, default=None,
                    help="upscaling factor (default: the model's; another is an error)")
    up.add_argument("--dtype", choices=("auto", "float32", "bf16", "bfloat16"), default="auto",
                    help="network precision (default auto: bf16 for a FALSR network on a CPU "
                    "with native bf16, i.e. avx512_bf16 or AMX; float32 elsewhere)")
    up.add_argument("--tile", type=tile_size, default=0,
                    help=f"LR tile side in px, at least {MIN_TILE}; 0 (default): automatic, "
                    "memory-bounded. Any tiling gives the untiled result exactly")
    up.add_argument("--threads", type=threads_count, default=None,
                    help="torch threads (default: all)")
    up.add_argument("--device", type=device_name, default="cpu",
                    help="cpu, cuda or cuda:N (default: cpu); never falls back to the CPU")
    up.add_argument("--max-pixels", type=int_at_least(0, "--max-pixels"),
                    default=DEFAULT_MAX_PIXELS,
                    help=f"refuse input images of more pixels (default {DEFAULT_MAX_PIXELS:,}, "
                    "Pillow's decompression-bomb limit; 0: no limit)")
    up.add_argument("--frame", type=int_at_least(0, "--frame"), default=None,
                    help="frame of multi-frame inputs (GIF, APNG, TIFF, WebP) to upscale "
                    "(default: the first, with a note when there are more)")
    up.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    up.set_defaults(func=_cmd_upscale)

    from falsr_ext.cli_train import add_export_parser, add_train_parser
    from falsr_ext.nas.cli import add_search_parser

    add_train_parser(sub)
    add_export_parser(sub)
    add_search_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``falsr`` command; returns the exit status."""
    return run_command(build_parser().parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
