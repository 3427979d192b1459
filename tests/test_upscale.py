"""falsr_ext.upscale: every input kind, seamless tiling, the pipeline's bits, bad input."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import falsr_ext
from falsr_ext.errors import FalsrError, ImageError
from falsr_ext.models import build_model, save_weights
from falsr_ext.models.zoo import ZOO_GENOTYPES
from falsr_ext.pipeline import run_network, upscale_rgb_falsr
from falsr_ext.receptive import receptive_radius
from falsr_ext.space import Genotype
from falsr_ext.upscaling import (
    _upscale_array,
    auto_tile,
    plan_tiles,
    upscale,
)

RNG = np.random.default_rng(0)


def in_range(model: torch.nn.Module) -> torch.nn.Module:
    """Shrink the reconstruction so outputs stay inside [0, 1]: clipping hides nothing."""
    with torch.no_grad():
        model.tail.weight.mul_(0.1)
        model.tail.bias.fill_(0.5)
    return model


@pytest.fixture(scope="module")
def net_b() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model(ZOO_GENOTYPES["FALSR-B"])


@pytest.fixture(scope="module")
def small() -> torch.nn.Module:
    torch.manual_seed(1)
    return in_range(build_model(Genotype.from_string(
        "conv-k3-f16-b2-skip@F/ib-k3-f16-b1-noskip@F+c0/fuse@F+c1")))


def test_exported() -> None:
    assert falsr_ext.upscale is upscale and falsr_ext.upscale is upscale


def test_receptive_radius_of_the_zoo() -> None:
    radii = {n: receptive_radius(g, 2) for n, g in ZOO_GENOTYPES.items()}
    assert radii == {"FALSR-A": 23, "FALSR-B": 27, "FALSR-C": 16}
    assert receptive_radius(ZOO_GENOTYPES["FALSR-A"], 3) == 24  # + pre-shuffle conv


@pytest.mark.parametrize(("name", "scale"),
                         [("FALSR-A", 2), ("FALSR-B", 2), ("FALSR-C", 2), ("FALSR-C", 3)])
def test_receptive_radius_is_exact(name: str, scale: int) -> None:
    # Positive weights and biases keep every ReLU open, so the gradient of one output
    # pixel is non-zero exactly on its receptive field (the far corner's share, about
    # 9**-depth, is still a normal float32).
    torch.manual_seed(0)
    net = build_model(ZOO_GENOTYPES[name], scale=scale)
    with torch.no_grad():
        for p in net.parameters():
            p.uniform_(0.5, 1.5).div_(p[0].numel() if p.dim() > 1 else 1.0)
    r = receptive_radius(net.genotype, scale)
    n = 2 * r + 3
    x = torch.rand(1, 1, n, n, requires_grad=True)
    c = n // 2
    net(x)[0, 0, c * scale, c * scale].backward()
    rows, cols = torch.nonzero(x.grad[0, 0], as_tuple=True)
    reach = max((rows - c).abs().max().item(), (cols - c).abs().max().item())
    assert reach == r


def he_init(model: torch.nn.Module) -> torch.nn.Module:
    """He-normal weights, small positive biases: the far edge of the field matters."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.Conv2d) and m is not model.tail:
                m.weight.normal_(0, (2 / m.weight[0].numel()) ** 0.5)
                m.bias.fill_(0.1)
    return model


@pytest.mark.parametrize("spec", ["FALSR-C", "conv-k3-f16-b4-noskip@F/fuse@c0"])
def test_tiled_equals_untiled_and_smaller_halo_differs(spec: str) -> None:
    torch.manual_seed(0)
    net = in_range(he_init(build_model(falsr_ext.parse_genotype(spec))))
    r = receptive_radius(net.genotype, 2)
    grey = np.random.default_rng(3).random((21, 17, 1))
    whole = _upscale_array(grey, net, 1000, torch.float32)
    assert 0 <= whole.min() and whole.max() <= 1
    for tile in (6, 11):
        assert np.abs(_upscale_array(grey, net, tile, torch.float32) - whole).max() <= 1e-5
        if spec != "FALSR-C":  # a shallow chain: its edge effect is far above float noise
            short = _upscale_array(grey, net, tile, torch.float32, halo=r - 1)
            assert np.abs(short - whole).max() > 1e-3


@pytest.mark.parametrize("tile", [6])
def test_tiled_equals_untiled_all_layouts(net_b: torch.nn.Module, tile: int) -> None:
    net = in_range(copy.deepcopy(net_b))
    rgba8 = RNG.integers(0, 256, (13, 11, 4), dtype=np.uint8)
    rgb16 = RNG.integers(0, 65536, (11, 13, 3), dtype=np.uint16)
    rgbf = RNG.random((13, 12, 3)).astype(np.float32)
    for img in (rgba8, rgb16, rgbf):
        whole = upscale(img, net, dtype="float32")  # the 1e-5 bound is fp32's
        tiled = upscale(img, net, tile=tile, dtype="float32")
        if img.dtype == np.float32:
            assert np.abs(tiled - whole).max() <= 1e-5
        else:
            assert np.abs(tiled.astype(int) - whole.astype(int)).max() <= 1


def test_uint8_rgb_equals_the_pipeline_bit_for_bit(net_b: torch.nn.Module) -> None:
    img = RNG.integers(0, 256, (29, 37, 3), dtype=np.uint8)
    ours = upscale(img, net_b, dtype="float32")  # the pipeline's default precision
    assert np.array_equal(ours, upscale_rgb_falsr(net_b, img)[0])
    assert np.array_equal(upscale(img, net_b, tile=16, dtype="float32"), ours)  # and tiled too


def test_numpy_kinds_round_trip(small: torch.nn.Module) -> None:
    h, w = 9, 7
    cases = [
        RNG.integers(0, 256, (h, w), dtype=np.uint8),
        RNG.integers(0, 256, (h, w, 1), dtype=np.uint8),
        RNG.integers(0, 256, (h, w, 3), dtype=np.uint8),
        RNG.integers(0, 256, (h, w, 4), dtype=np.uint8),
        RNG.integers(0, 65536, (h, w), dtype=np.uint16),
        RNG.integers(0, 65536, (h, w, 3), dtype=np.uint16),
        RNG.integers(0, 65536, (h, w, 4), dtype=np.uint16),
        RNG.random((h, w)),
        RNG.random((h, w, 1)).astype(np.float32),
        RNG.random((h, w, 3)).astype(np.float32),
        RNG.random((h, w, 4)),
    ]
    for img in cases:
        out = upscale(img, small)
        assert out.dtype == img.dtype
        assert out.shape == (2 * h, 2 * w) + img.shape[2:]
        if img.dtype.kind == "f":
            assert 0 <= out.min() and out.max() <= 1


def test_float_and_uint16_agree_with_uint8(small: torch.nn.Module) -> None:
    img8 = np.random.default_rng(5).integers(0, 256, (12, 10, 3), dtype=np.uint8)
    out8 = upscale(img8, small).astype(np.float64) / 255
    outf = upscale(img8 / 255.0, small)
    out16 = upscale(img8.astype(np.uint16) * 257, small).astype(np.float64) / 65535
    # uint8 truncates (the official protocol, 1 LSB) and PIL rounds its chroma after
    # each pass (about 1 LSB, times up to 1.772 in the recomposition): within 4 LSB
    assert np.abs(outf - out8).max() <= 4 / 255
    assert np.abs(out16 - outf).max() <= 1 / 65535


def test_alpha_is_resized_not_networked(small: torch.nn.Module) -> None:
    img = RNG.integers(0, 256, (8, 9, 4), dtype=np.uint8)
    img[:, :, 3] = 200
    out = upscale(img, small)
    assert (out[:, :, 3] == 200).all()


def test_pil_kinds_round_trip(small: torch.nn.Module) -> None:
    h, w = 7, 10
    images = [
        Image.fromarray(RNG.integers(0, 256, (h, w), dtype=np.uint8)),
        Image.fromarray(RNG.integers(0, 256, (h, w, 3), dtype=np.uint8)),
        Image.fromarray(RNG.integers(0, 256, (h, w, 4), dtype=np.uint8)),
        Image.fromarray(RNG.integers(0, 65536, (h, w), dtype=np.uint16)),
        Image.fromarray(RNG.random((h, w)).astype(np.float32)),
        Image.fromarray(RNG.integers(0, 256, (h, w, 2), dtype=np.uint8)),
        Image.frombytes("I;16B", (w, h), RNG.integers(0, 65536, (h, w)).astype(">u2").tobytes()),
    ]
    assert [im.mode for im in images] == ["L", "RGB", "RGBA", "I;16", "F", "LA", "I;16B"]
    for im in images:
        out = upscale(im, small)
        assert isinstance(out, Image.Image) and out.mode == im.mode
        assert out.size == (2 * w, 2 * h)
    rgb = images[1]
    assert np.array_equal(np.asarray(upscale(rgb, small)), upscale(np.asarray(rgb), small))
    with pytest.raises(ImageError, match="unsupported PIL mode 'P'"):
        upscale(rgb.convert("P"), small)


def test_tensor_kinds_round_trip(small: torch.nn.Module) -> None:
    chw = torch.rand(3, 6, 5)
    out = upscale(chw, small)
    assert out.dtype == torch.float32 and out.shape == (3, 12, 10)
    hwc = chw.permute(1, 2, 0).numpy()
    np.testing.assert_allclose(out.permute(1, 2, 0).numpy(), upscale(hwc, small), atol=1e-6)
    u8 = (chw * 255).to(torch.uint8)
    assert upscale(u8, small).dtype == torch.uint8
    assert upscale(chw[0], small).shape == (12, 10)
    assert upscale(chw.double()[:1], small).dtype == torch.float64
    assert upscale(chw.half(), small).dtype == torch.float16


@pytest.mark.parametrize(
    ("image", "match"),
    [
        (np.zeros((0, 5, 3), np.uint8), "empty"),
        (np.zeros((4, 0), np.uint8), "empty"),
        (np.zeros((4, 4, 5), np.uint8), "got shape"),
        (np.zeros((2, 4, 4, 3), np.uint8), "got shape"),
        (np.zeros(4, np.uint8), "got shape"),
        (np.zeros((4, 4), np.int32), "dtype int32"),
        (np.zeros((4, 4), np.complex64), "dtype complex64"),
        (np.zeros((4, 4), bool), "dtype bool"),
        (np.full((4, 4), np.nan), "NaN"),
        (np.full((4, 4), 200.0), r"\[0, 1\]"),
        (torch.zeros(1, 3, 4, 4), "no batch"),
        (torch.zeros(3, 4, 4, dtype=torch.int64), "dtype"),
        ("image.png", "PIL image, a numpy array or a torch tensor"),
    ],
)
def test_bad_images(small: torch.nn.Module, image: object, match: str) -> None:
    with pytest.raises(ImageError, match=match):
        upscale(image, small)


def test_bad_options(small: torch.nn.Module) -> None:
    img = np.zeros((4, 4), np.uint8)
    with pytest.raises(FalsrError, match="upscales x2, not x3"):
        upscale(img, small, scale=3)
    with pytest.raises(ValueError, match="float32.*bfloat16"):
        upscale(img, small, dtype="float16")
    with pytest.raises(ValueError, match="'cpu' or 'cuda'"):
        upscale(img, small, device="tpu")
    with pytest.raises(ValueError, match="tile"):
        upscale(img, small, tile=0)
    with pytest.raises(ValueError, match="threads"):
        upscale(img, small, threads=0)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU error")
def test_cuda_without_gpu_is_an_error(small: torch.nn.Module) -> None:
    with pytest.raises(FalsrError, match="no CUDA GPU"):
        upscale(np.zeros((4, 4), np.uint8), small, device="cuda")


def test_threads_are_restored(small: torch.nn.Module) -> None:
    before = torch.get_num_threads()
    upscale(np.zeros((4, 4), np.uint8), small, threads=1)
    assert torch.get_num_threads() == before


def test_bf16_is_close_to_fp32(net_b: torch.nn.Module) -> None:
    net = in_range(copy.deepcopy(net_b))
    img = RNG.random((16, 14, 3))
    ref = upscale(img, net, dtype="float32")
    out = upscale(img, net, dtype="bf16")
    assert out.dtype == img.dtype and np.abs(out - ref).max() < 2e-2


def test_model_from_a_file_and_progress_callback(tmp_path: Path, small: torch.nn.Module
                                                 ) -> None:
    path = save_weights(small, tmp_path / "m.safetensors")
    img = RNG.integers(0, 256, (10, 9, 3), dtype=np.uint8)
    calls: list[tuple[int, int]] = []
    out = upscale(img, str(path), tile=4, progress=lambda d, t: calls.append((d, t)))
    assert np.array_equal(out, upscale(img, small))
    assert calls == [(k, 9) for k in range(1, 10)]


def test_tile_plan_bounds_memory() -> None:
    g = ZOO_GENOTYPES["FALSR-A"]
    r = receptive_radius(g, 2)
    tile = auto_tile(g, 2, 3000, 4000)
    assert 64 <= tile < 1000
    tiles = plan_tiles(3000, 4000, tile, r)
    cover = np.zeros((3000, 4000), np.uint8)
    for t in tiles:
        assert t.y1 - t.y0 <= tile and t.x1 - t.x0 <= tile
        assert t.hy1 - t.hy0 <= tile + 2 * r and t.hx1 - t.hx0 <= tile + 2 * r
        cover[t.y0:t.y1, t.x0:t.x1] += 1
    assert (cover == 1).all()
    assert auto_tile(g, 2, 50, 70) == 70  # small images run whole


def test_run_network_matches_the_module(small: torch.nn.Module) -> None:
    y = RNG.random((6, 7)).astype(np.float32)
    with torch.inference_mode():
        ref = small(torch.from_numpy(y)[None, None])[0, 0].numpy()
    # the module path is the module; the fused engine (the default on the CPU) within 1e-5
    assert np.array_equal(run_network(small, y, torch.float32, engine=False), ref)
    got = run_network(small, y, torch.float32)
    assert np.abs(got - ref).max() <= 1e-5 * max(1.0, np.abs(ref).max())


def test_run_network_recompiles_when_the_weights_change(small: torch.nn.Module) -> None:
    y = RNG.random((6, 7)).astype(np.float32)
    before = run_network(small, y)
    with torch.no_grad():
        small.tail.bias.add_(0.25)  # in place: the cached engine must notice
    try:
        after = run_network(small, y)
        np.testing.assert_allclose(after - before, 0.25, atol=1e-5)
    finally:
        with torch.no_grad():
            small.tail.bias.sub_(0.25)


# --- inputs that once went wrong silently or with a raw error (issue 13, item 6) -------


def test_an_array_that_fits_hwc_and_chw_is_not_guessed(small: torch.nn.Module) -> None:
    arr = np.random.default_rng(0).integers(1, 256, (3, 40, 3), dtype=np.uint8)
    with pytest.raises(ImageError, match=r"\(3, 40, 3\) is ambiguous.*layout='HWC'"):
        upscale(arr, small)  # once silently read as 3x40 RGB
    hwc = upscale(arr, small, layout="HWC")
    assert hwc.shape == (6, 80, 3)
    chw = upscale(arr, small, layout="CHW")
    assert chw.shape == (3, 80, 6)
    assert np.array_equal(chw, upscale(np.ascontiguousarray(arr.transpose(1, 2, 0)),
                                       small).transpose(2, 0, 1))


def test_a_chw_array_gets_the_fix_named(small: torch.nn.Module) -> None:
    arr = np.random.default_rng(0).integers(1, 256, (3, 20, 30), dtype=np.uint8)
    with pytest.raises(ImageError, match=r"got shape \(3, 20, 30\).*layout='CHW'"):
        upscale(arr, small)
    assert upscale(arr, small, layout="CHW").shape == (3, 40, 60)
    with pytest.raises(ValueError, match="layout"):
        upscale(torch.from_numpy(arr), small, layout="CHW")


def test_a_meta_tensor_is_one_clear_error(small: torch.nn.Module) -> None:
    with pytest.raises(ImageError, match="meta device"):  # was NotImplementedError
        upscale(torch.empty(3, 8, 8, device="meta"), small)


def test_an_hwc_tensor_error_quotes_its_own_shape(small: torch.nn.Module) -> None:
    with pytest.raises(ImageError, match=r"got shape \[20, 30, 3\].*permute\(2, 0, 1\)"):
        upscale(torch.rand(20, 30, 3), small)


@pytest.mark.parametrize("scale", ["2", 2.0, True, 0])
def test_a_scale_that_is_not_a_positive_int_is_named(small: torch.nn.Module,
                                                     scale: object) -> None:
    with pytest.raises(ValueError, match=f"scale must be a positive integer, got {scale!r}"):
        upscale(np.full((4, 4), 9, np.uint8), small, scale=scale)  # '2': "x2, not x2"
    assert upscale(np.full((4, 4), 9, np.uint8), small, scale=np.int64(2)).shape == (8, 8)
