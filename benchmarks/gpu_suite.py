"""GPU benchmark: FALSR-A/B/C x2 on one 1920x1080 LR luma image, ours vs PyTorch.

    python benchmarks/gpu_suite.py                  # full: 3 networks x fp32/fp16/bf16
    python benchmarks/gpu_suite.py --smoke          # 128x128, 3 runs, into /tmp
    python benchmarks/gpu_suite.py --weights DIR    # official FALSR-{A,B,C}.pb from DIR

For every network and dtype (fp32, fp16, bf16) it times, on the same input:
  * ours:           falsr_ext.engine.cuda.CudaEngine (the fused plan on the CUDA ops);
  * torch eager:    the nn.Module in the dtype, channels_last, cuDNN (benchmark mode);
                    fp32 with TF32 off (true fp32, like ours), plus fp32 with TF32 on as
                    torch_eager_tf32_ms (PyTorch's default for convolutions);
  * torch.compile:  the same module compiled (inductor, --compile-mode), compile time
                    excluded and recorded.
Each timing is the median of --runs calls measured with CUDA events after --warmup
untimed calls (input already on the GPU, output left there). max_abs_err of each is
against the fp32 eager output (TF32 off) for the same [0, 1] luma input.

Writes benchmarks/results/gpu-<device>-<date>.json: a header (device, torch, CUDA, cuDNN,
commit, settings) and one row per (model, dtype) with fields device, model, dtype, input,
ours_ms, torch_eager_ms, torch_compile_ms, max_abs_err (ours) and the peers' errors.
Refuses to run without a CUDA GPU and a CUDA build of falsr_ext._C. Steps: GPU.md.
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import json
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
NETWORKS = ("FALSR-A", "FALSR-B", "FALSR-C")
DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
ENGINE_DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}
SEED = 0


def refuse_without_gpu() -> None:
    """Exit with a clear message unless a GPU and the CUDA kernels are both there."""
    if not torch.cuda.is_available():
        sys.exit(f"gpu_suite: no CUDA GPU visible to torch {torch.__version__} "
                 f"(CUDA {torch.version.cuda or 'none'}); run it on a GPU machine (GPU.md)")
    from falsr_ext import _extension

    if not _extension.cuda_built():
        sys.exit("gpu_suite: falsr_ext._C was built without its CUDA kernels; rebuild with "
                 "FORCE_CUDA=1 python -m pip install --no-build-isolation -e . (GPU.md)")


def build_network(name: str, weights: str | None) -> torch.nn.Module:
    from falsr_ext.models import build_model
    from falsr_ext.models.zoo import ZOO_GENOTYPES

    if weights is None:
        torch.manual_seed(SEED)
        return build_model(ZOO_GENOTYPES[name], scale=2, in_channels=1,
                           shuffle_order="tf").eval()
    from falsr_ext.models.loading import load_model

    return load_model(name, weights=Path(weights) / f"{name}.pb").eval()


def make_input(height: int, width: int) -> torch.Tensor:
    """One LR luma image in [0.05, 0.95] (never zeros), fixed seed, on the GPU."""
    g = torch.Generator().manual_seed(SEED + 1)
    return (torch.rand(1, 1, height, width, generator=g) * 0.9 + 0.05).cuda()


def time_cuda(fn, x: torch.Tensor, runs: int, warmup: int) -> tuple[float, torch.Tensor]:
    """Median milliseconds of ``fn(x)`` over ``runs`` CUDA-event-timed calls, and an output."""
    out = None
    for _ in range(warmup):
        out = fn(x)
    torch.cuda.synchronize()
    times = []
    for _ in range(runs):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        out = fn(x)
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    assert out is not None
    return statistics.median(times), out


def max_abs_err(out: torch.Tensor, ref: torch.Tensor) -> float:
    return (out.float() - ref).abs().max().item()


def device_slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def commit() -> str | None:
    try:
        return subprocess.check_output(["git", "rev-parse", "HEAD"], cwd=HERE,
                                       text=True, stderr=subprocess.DEVNULL).strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def eager_module(model: torch.nn.Module, dtype: torch.dtype) -> torch.nn.Module:
    return copy.deepcopy(model).to(device="cuda", dtype=dtype,
                                   memory_format=torch.channels_last)


def run_case(name: str, tag: str, model: torch.nn.Module, x: torch.Tensor, ref: torch.Tensor,
             args: argparse.Namespace) -> dict:
    from falsr_ext.engine.cuda import CudaEngine

    dtype = DTYPES[tag]
    row: dict = {"device": torch.cuda.get_device_name(), "model": name, "dtype": tag,
                 "input": [1, 1, x.shape[2], x.shape[3]], "scale": 2}
    xin = x.to(dtype).contiguous(memory_format=torch.channels_last)

    # ours
    try:
        engine = CudaEngine(model, ENGINE_DTYPES[tag], "cuda")
        row["ours_ms"], out = time_cuda(engine, x, args.runs, args.warmup)
        row["max_abs_err"] = max_abs_err(out, ref)
        del engine, out
    except (ValueError, RuntimeError) as exc:  # e.g. a plan without fp16 support
        row["ours_ms"], row["max_abs_err"], row["ours_error"] = None, None, str(exc)

    # eager, cuDNN, channels_last, same dtype (fp32: TF32 off, and on as an extra row)
    module = eager_module(model, dtype)
    with torch.inference_mode():
        row["torch_eager_ms"], out = time_cuda(module, xin, args.runs, args.warmup)
        row["torch_eager_max_abs_err"] = max_abs_err(out, ref)
        if tag == "fp32":
            torch.backends.cudnn.allow_tf32 = True
            row["torch_eager_tf32_ms"], out = time_cuda(module, xin, args.runs, args.warmup)
            row["torch_eager_tf32_max_abs_err"] = max_abs_err(out, ref)
            torch.backends.cudnn.allow_tf32 = False

    # torch.compile (compile time excluded: the first call compiles)
    if args.no_compile:
        row["torch_compile_ms"] = None
    else:
        try:
            compiled = torch.compile(module, mode=args.compile_mode)
            with torch.inference_mode():
                t0 = time.perf_counter()
                compiled(xin)
                torch.cuda.synchronize()
                row["torch_compile_s"] = time.perf_counter() - t0
                row["torch_compile_ms"], out = time_cuda(compiled, xin, args.runs, args.warmup)
                row["torch_compile_max_abs_err"] = max_abs_err(out, ref)
            del compiled
        except Exception as exc:  # noqa: BLE001  (a peer failing must not stop the suite)
            row["torch_compile_ms"], row["torch_compile_error"] = None, repr(exc)[:500]
    del module
    torch.cuda.empty_cache()
    return row


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--height", type=int, default=1080)
    parser.add_argument("--width", type=int, default=1920)
    parser.add_argument("--runs", type=int, default=50, help="timed calls per case (median)")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--networks", nargs="+", default=list(NETWORKS), choices=NETWORKS)
    parser.add_argument("--dtypes", nargs="+", default=list(DTYPES), choices=list(DTYPES))
    parser.add_argument("--weights", help="folder with the official FALSR-{A,B,C}.pb "
                        "(default: seeded random weights)")
    parser.add_argument("--compile-mode", default="default",
                        help="torch.compile mode (default, max-autotune, ...)")
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    parser.add_argument("--smoke", action="store_true",
                        help="128x128, 3 runs, 1 warmup, results into /tmp")
    parser.add_argument("--out", type=Path, help="output JSON (default: results/gpu-...)")
    args = parser.parse_args(argv)
    refuse_without_gpu()
    if args.smoke:
        args.height, args.width, args.runs, args.warmup = 128, 128, 3, 1

    torch.backends.cudnn.benchmark = True
    torch.backends.cudnn.allow_tf32 = False  # fp32 means fp32 (ours never uses TF32)
    torch.backends.cuda.matmul.allow_tf32 = False
    name = torch.cuda.get_device_name()
    date = dt.date.today().isoformat()
    out_path = args.out or (Path("/tmp") if args.smoke else HERE / "results") / (
        f"gpu-{device_slug(name)}-{date}.json")
    x = make_input(args.height, args.width)
    rows = []
    for net in args.networks:
        model = build_network(net, args.weights)
        with torch.inference_mode():
            ref = eager_module(model, torch.float32)(x).float()
        for tag in args.dtypes:
            row = run_case(net, tag, model, x, ref, args)
            row["weights"] = args.weights or "random"
            rows.append(row)
            print(json.dumps(row), flush=True)
        del ref
        torch.cuda.empty_cache()
    result = {
        "device": name,
        "date": date,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version(),
        "commit": commit(),
        "timing": f"median of {args.runs} calls (CUDA events) after {args.warmup} warmup",
        "compile_mode": None if args.no_compile else args.compile_mode,
        "tf32": "off except torch_eager_tf32_ms",
        "rows": rows,
    }
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
