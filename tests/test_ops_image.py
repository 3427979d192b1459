"""falsr::rgb_to_luma, falsr::compose_rgb and falsr::pil_bicubic_upscale against the numpy /
PIL code they replace (falsr_ext.image_ops references): uint8 bit for bit, float to 1e-6,
on random shapes, strides, windows and values, for every instruction-set path; opcheck;
bad input."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
import torch

from falsr_ext import image_ops as io
from falsr_ext.models import build_model
from falsr_ext.pipeline import run_network, upscale_rgb_falsr
from falsr_ext.space import Genotype

ISAS = ["generic", "avx2", "avx512"]
DTYPES = [np.uint8, np.uint16, np.float32, np.float64]


@pytest.fixture(params=ISAS)
def isa(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    # Read by the kernels on every call; capped at what this CPU has (never faults).
    monkeypatch.setenv("FALSR_CPU_ISA", request.param)
    return request.param


def random_image(rng: np.random.Generator, h: int, w: int, c: int, dtype: type) -> np.ndarray:
    if dtype == np.uint8:
        return rng.integers(0, 256, (h, w, c), dtype=np.uint8)
    if dtype == np.uint16:
        return rng.integers(0, 65536, (h, w, c), dtype=np.uint16)
    return rng.random((h, w, c)).astype(dtype)


def _seed(*parts: object) -> int:
    # stable across processes (hash() of a str is salted per process)
    return zlib.crc32(repr([getattr(p, "__name__", p) for p in parts]).encode())


def t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(a)


def assert_same(got: np.ndarray, want: np.ndarray) -> None:
    assert got.dtype == want.dtype and got.shape == want.shape
    if want.dtype.kind == "f":
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
    else:
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dtype", DTYPES)
def test_rgb_to_luma(isa: str, dtype: type) -> None:
    rng = np.random.default_rng(_seed(isa, dtype))
    for _ in range(6):
        h, w, c = rng.integers(1, 40), rng.integers(1, 40), rng.choice([3, 4])
        img = random_image(rng, h, w, c, dtype)
        want = io.rgb_to_luma_reference(img)
        out = io.rgb_to_luma(t(img)).numpy()
        assert out.dtype == np.float32
        if dtype == np.float32:
            # float32 input: the reference's float64 maths and the op's round differently
            # in about 1 image in 40 (measured), by one ulp at most
            np.testing.assert_array_max_ulp(out, want, maxulp=1)
        else:
            np.testing.assert_array_equal(out, want)  # the network input, bit for bit
        # An RGBA image's RGB (strided pixels) and a transposed view (copied) agree.
        np.testing.assert_array_equal(io.rgb_to_luma(t(img)[:, :, :3]).numpy(), out)
        tr = t(img).transpose(0, 1)
        np.testing.assert_array_equal(io.rgb_to_luma(tr).numpy(), out.T)


@pytest.mark.parametrize("dtype", DTYPES)
def test_compose_rgb(isa: str, dtype: type) -> None:
    rng = np.random.default_rng(_seed(isa, dtype, 1))
    for _ in range(6):
        h, w, c = rng.integers(1, 30), rng.integers(1, 30), rng.choice([3, 4])
        s = int(rng.integers(1, 5))
        lr = random_image(rng, h, w, c, dtype)
        top, left = int(rng.integers(0, h * s)), int(rng.integers(0, w * s))
        ho, wo = int(rng.integers(1, h * s - top + 1)), int(rng.integers(1, w * s - left + 1))
        # Unclipped network luma: overshoot on both sides exercises the clipping.
        y = (rng.random((ho, wo)) * 1.2 - 0.1).astype(np.float32)
        want = io.compose_rgb_reference(y, lr, s, top, left)
        assert_same(io.compose_rgb(t(y), t(lr), s, top, left).numpy(), want)
        # A window of a wider luma buffer (row stride > width) reads in place.
        wide = np.zeros((ho, wo + 5), np.float32)
        wide[:, 2:2 + wo] = y
        assert_same(io.compose_rgb(t(wide)[:, 2:2 + wo], t(lr), s, top, left).numpy(), want)


def test_compose_rgb_truncates_like_the_protocol() -> None:
    # Grey chroma (Cb = Cr = -0.5): Y' = 127.5 -> R 126.799, G 128.029, B 126.614.
    lr = np.full((2, 2, 3), 128, np.uint8)
    lr[:] = [127, 128, 127]
    y = np.array([[0.5, 2.0], [-1.0, 0.5]], np.float32)
    out = io.compose_rgb(t(y), t(lr), 1).numpy()
    assert_same(out, io.compose_rgb_reference(y, lr, 1))
    assert out[0, 1].tolist() == [255, 255, 255] and out[1, 0].tolist() == [0, 0, 0]


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_pil_bicubic_upscale(isa: str, dtype: type) -> None:
    rng = np.random.default_rng(_seed(isa, dtype, 2))
    for _ in range(6):
        h, w, c, s = (int(v) for v in (rng.integers(1, 30), rng.integers(1, 30),
                                       rng.integers(1, 6), rng.integers(1, 5)))
        x = random_image(rng, h, w, c, dtype)
        if dtype == np.float32:
            x = x * np.float32(1.4) - np.float32(0.2)  # overshoot: clip_unit matters
        for clip in (False, True):
            want = io.pil_bicubic_upscale_reference(x, s, clip_unit=clip)
            np.testing.assert_array_equal(io.pil_bicubic_upscale(t(x), s, clip).numpy(), want)
        # One channel of a multi-channel image (strided pixels) equals it alone.
        np.testing.assert_array_equal(
            io.pil_bicubic_upscale(t(x)[:, :, c - 1:], s).numpy(),
            io.pil_bicubic_upscale_reference(np.ascontiguousarray(x[:, :, c - 1:]), s))


def test_big_image_is_split_over_threads_identically() -> None:
    # Several row blocks and threads; the work split must not change a bit.
    rng = np.random.default_rng(7)
    lr = random_image(rng, 150, 97, 3, np.uint8)
    y = rng.random((300, 194)).astype(np.float32)
    want = io.compose_rgb_reference(y, lr, 2)
    old = torch.get_num_threads()
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            np.testing.assert_array_equal(io.compose_rgb(t(y), t(lr), 2).numpy(), want)
            np.testing.assert_array_equal(io.pil_bicubic_upscale(t(lr), 3).numpy(),
                                          io.pil_bicubic_upscale_reference(lr, 3))
    finally:
        torch.set_num_threads(old)


def test_pipeline_equals_the_former_numpy_path() -> None:
    torch.manual_seed(0)
    net = build_model(Genotype.from_string("conv-k3-f16-b2-skip@F/fuse@F+c0"))
    lr = np.random.default_rng(3).integers(0, 256, (23, 31, 3), dtype=np.uint8)
    y_hr = run_network(net, io.rgb_to_luma_reference(lr))
    sr, y = upscale_rgb_falsr(net, lr)
    np.testing.assert_array_equal(y, y_hr)
    np.testing.assert_array_equal(sr, io.compose_rgb_reference(y_hr, lr, 2))


def test_opcheck() -> None:
    rng = np.random.default_rng(4)
    lr8 = t(random_image(rng, 7, 9, 3, np.uint8))
    lrf = t(random_image(rng, 7, 9, 4, np.float32))
    y = torch.rand(10, 12)
    torch.library.opcheck(torch.ops.falsr.rgb_to_luma.default, (lr8,))
    torch.library.opcheck(torch.ops.falsr.rgb_to_luma.default, (lrf,))
    torch.library.opcheck(torch.ops.falsr.compose_rgb.default, (y, lr8, 2, 3, 4))
    torch.library.opcheck(torch.ops.falsr.compose_rgb.default, (y, lrf, 2, 0, 0))
    torch.library.opcheck(torch.ops.falsr.pil_bicubic_upscale.default, (lr8, 3, False))
    torch.library.opcheck(torch.ops.falsr.pil_bicubic_upscale.default, (lrf, 2, True))


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: io.rgb_to_luma(torch.zeros(4, 4, 3, dtype=torch.int32)), TypeError, "int"),
        (lambda: io.rgb_to_luma(torch.zeros(4, 4, 3, dtype=torch.float16)), TypeError, "Half"),
        (lambda: io.rgb_to_luma(torch.zeros(4, 4, dtype=torch.uint8)), ValueError, "HxWxC"),
        (lambda: io.rgb_to_luma(torch.zeros(4, 4, 2, dtype=torch.uint8)), ValueError, "C >= 3"),
        (lambda: io.rgb_to_luma(torch.zeros(0, 4, 3, dtype=torch.uint8)), ValueError, "empty"),
        (lambda: io.compose_rgb(torch.zeros(4, 4), torch.zeros(2, 2, 3, dtype=torch.uint8), 2,
                                1, 0), ValueError, "exceeds"),
        (lambda: io.compose_rgb(torch.zeros(4, 4), torch.zeros(2, 2, 3, dtype=torch.uint8), 0),
         ValueError, "scale"),
        (lambda: io.compose_rgb(torch.zeros(4, 4, dtype=torch.float64),
                                torch.zeros(2, 2, 3, dtype=torch.uint8), 2), TypeError,
         "float32 luma"),
        (lambda: io.compose_rgb(torch.zeros(4, 4, 1), torch.zeros(2, 2, 3, dtype=torch.uint8), 2),
         ValueError, "HxW"),
        (lambda: io.compose_rgb(torch.zeros(0, 4), torch.zeros(2, 2, 3, dtype=torch.uint8), 2),
         ValueError, "output height"),
        (lambda: io.pil_bicubic_upscale(torch.zeros(4, 4, 1, dtype=torch.uint16), 2),
         TypeError, "uint8"),
        (lambda: io.pil_bicubic_upscale(torch.zeros(4, 0, 1, dtype=torch.uint8), 2),
         ValueError, "empty"),
        (lambda: io.pil_bicubic_upscale(torch.zeros(4, 4, dtype=torch.uint8), 2),
         ValueError, "HxWxC"),
        (lambda: io.pil_bicubic_upscale(torch.zeros(4, 4, 1, dtype=torch.uint8), 0),
         ValueError, "scale"),
    ],
)
def test_bad_input(call, error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        call()


def test_fake_shapes() -> None:
    from torch._subclasses.fake_tensor import FakeTensorMode

    with FakeTensorMode():
        lr = torch.empty(5, 6, 4, dtype=torch.uint16)
        assert io.rgb_to_luma(lr).shape == (5, 6)
        out = io.compose_rgb(torch.empty(7, 8), lr, 2, 1, 2)
        assert out.shape == (7, 8, 3) and out.dtype == torch.uint16
        up = io.pil_bicubic_upscale(torch.empty(5, 6, 2), 3)
        assert up.shape == (15, 18, 2) and up.dtype == torch.float32
