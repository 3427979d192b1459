// C++ tests of csrc/core/colour (no torch): rgb_to_luma and the fused compose_rgb against
// naive references (the upscale from pil_bicubic, tested in test_pil_bicubic, then the
// colour formulas pixel by pixel), for uint8 / uint16 / float32 / float64, pixel strides
// 3 and 4, random sizes, scales and windows, every ISA level; then the error cases.
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <random>
#include <type_traits>
#include <vector>

#include "core/colour.h"
#include "core/isa.h"
#include "core/pil_bicubic.h"
#include "core/tests/check.h"

namespace {

using falsr::core::PixelType;

template <class T>
constexpr PixelType type_of() {
  if constexpr (std::is_same_v<T, uint8_t>) return PixelType::U8;
  else if constexpr (std::is_same_v<T, uint16_t>) return PixelType::U16;
  else if constexpr (std::is_same_v<T, float>) return PixelType::F32;
  else return PixelType::F64;
}

template <class T>
double to_unit(T v) {
  if constexpr (std::is_same_v<T, uint8_t>) return v / 255.0;
  else if constexpr (std::is_same_v<T, uint16_t>) return v / 65535.0;
  else return double(v);
}

template <class T>
std::vector<T> random_image(std::mt19937& rng, int h, int w, int ps) {
  std::vector<T> img(size_t(h) * w * ps);
  std::uniform_real_distribution<double> u(0.001, 1.0);
  for (auto& v : img) {
    if constexpr (std::is_same_v<T, uint8_t>) v = T(1 + rng() % 255);
    else if constexpr (std::is_same_v<T, uint16_t>) v = T(1 + rng() % 65535);
    else v = T(u(rng));
  }
  return img;
}

template <class T>
void check_luma(std::mt19937& rng) {
  for (int trial = 0; trial < 6; ++trial) {
    const int h = 1 + rng() % 30, w = 1 + rng() % 30, ps = 3 + rng() % 2;
    const auto img = random_image<T>(rng, h, w, ps);
    std::vector<float> got(size_t(h) * w);
    falsr::core::rgb_to_luma(img.data(), type_of<T>(), h, w, long(w) * ps, ps, got.data(), 0, h);
    int bad = 0;
    for (int i = 0; i < h * w; ++i) {
      const T* px = &img[size_t(i) * ps];
      const float want = float(to_unit(px[0]) * 0.299 + to_unit(px[1]) * 0.587 +
                               to_unit(px[2]) * 0.114);
      bad += got[i] != want;
    }
    CHECK_EQ(bad, 0);
  }
}

template <class T>
void check_compose(std::mt19937& rng) {
  for (int trial = 0; trial < 6; ++trial) {
    const int h = 1 + rng() % 25, w = 1 + rng() % 25, ps = 3 + rng() % 2, s = 1 + rng() % 4;
    const auto lr = random_image<T>(rng, h, w, ps);
    const int top = rng() % (h * s), left = rng() % (w * s);
    const int oh = 1 + rng() % (h * s - top), ow = 1 + rng() % (w * s - left);
    std::vector<float> y(size_t(oh) * ow);
    std::uniform_real_distribution<float> yd(-0.1f, 1.1f);  // overshoot: clipping matters
    for (auto& v : y) v = yd(rng);
    // Reference chroma: the full upscale (uint8 Pillow 8-bit; others mode "F" on
    // float32(unit(v)) clipped after each pass), then the window.
    const auto full = falsr::core::make_pil_upscale(h, w, 3, s, 0, 0, h * s, w * s);
    const int64_t tasks = falsr::core::pil_upscale_num_tasks(full);
    std::vector<double> up(size_t(h) * s * w * s * 3);
    if constexpr (std::is_same_v<T, uint8_t>) {
      std::vector<uint8_t> u8(up.size());
      falsr::core::pil_upscale_u8(full, lr.data(), long(w) * ps, ps, u8.data(), 0, tasks);
      for (size_t i = 0; i < up.size(); ++i) up[i] = u8[i];
    } else {
      std::vector<float> f(size_t(h) * w * 3), uf(up.size());
      for (int i = 0; i < h * w; ++i)
        for (int c = 0; c < 3; ++c) f[size_t(i) * 3 + c] = float(to_unit(lr[size_t(i) * ps + c]));
      falsr::core::pil_upscale_f32(full, f.data(), long(w) * 3, 3, true, uf.data(), 0, tasks);
      for (size_t i = 0; i < up.size(); ++i) up[i] = uf[i];
    }
    const auto plan = falsr::core::make_compose_rgb(type_of<T>(), h, w, s, top, left, oh, ow);
    std::vector<T> got(size_t(oh) * ow * 3);
    falsr::core::compose_rgb(plan, y.data(), ow, lr.data(), long(w) * ps, ps, got.data(), 0,
                             falsr::core::compose_rgb_num_tasks(plan));
    double worst = 0;
    for (int i = 0; i < oh; ++i)
      for (int j = 0; j < ow; ++j) {
        const double* c = &up[((size_t(top) + i) * w * s + left + j) * 3];
        const double yy = y[size_t(i) * ow + j];
        double rgb[3];
        if constexpr (std::is_same_v<T, uint8_t>) {
          const double r = c[0] / 255.0, g = c[1] / 255.0, b = c[2] / 255.0;
          const double cb = 255.0 * (-0.168736 * r - 0.331264 * g + 0.5 * b + 0.5) - 128.0;
          const double cr = 255.0 * (0.5 * r - 0.418688 * g - 0.081312 * b + 0.5) - 128.0;
          const double yf = 255.0 * yy;
          rgb[0] = yf + 1.402 * cr;
          rgb[1] = yf - 0.34414 * cb - 0.71414 * cr;
          rgb[2] = yf + 1.772 * cb;
        } else {
          const double pb = -0.168736 * c[0] - 0.331264 * c[1] + 0.5 * c[2];
          const double pr = 0.5 * c[0] - 0.418688 * c[1] - 0.081312 * c[2];
          rgb[0] = yy + 1.402 * pr;  // analytic inverse (numpy's differs by ~1e-6 in its
          rgb[1] = yy - 0.344136 * pb - 0.714136 * pr;  // matrix entries: tolerance below)
          rgb[2] = yy + 1.772 * pb;
        }
        for (int ch = 0; ch < 3; ++ch) {
          const double g = double(got[(size_t(i) * ow + j) * 3 + ch]);
          double want;
          if constexpr (std::is_same_v<T, uint8_t>) {
            want = std::trunc(std::min(255.0, std::max(0.0, rgb[ch])));
          } else if constexpr (std::is_same_v<T, uint16_t>) {
            want = std::nearbyint(std::min(1.0, std::max(0.0, rgb[ch])) * 65535.0);
          } else {
            want = std::min(1.0, std::max(0.0, rgb[ch]));
          }
          worst = std::max(worst, std::fabs(g - want));
        }
      }
    // uint8: the same formulas in the same order, so bit for bit. The others use numpy's
    // inverse matrix, ~1e-6 off the analytic one here: 3e-6, or 1 LSB of uint16.
    const double tol = std::is_same_v<T, uint8_t> ? 0.0 : std::is_same_v<T, uint16_t> ? 1.0 : 3e-6;
    if (worst > tol) std::fprintf(stderr, "compose %d: worst %g\n", int(sizeof(T)), worst);
    CHECK(worst <= tol);
  }
}

void test_errors() {
  std::vector<uint8_t> img(4 * 4 * 3);
  std::vector<float> y(8 * 8), luma(16);
  CHECK_THROWS(falsr::core::rgb_to_luma(img.data(), PixelType::U8, 4, 4, 12, 2, luma.data(), 0, 4),
               "strides");
  CHECK_THROWS(falsr::core::rgb_to_luma(img.data(), PixelType::U8, 4, 4, 12, 3, luma.data(), 0, 5),
               "rows");
  CHECK_THROWS(falsr::core::rgb_to_luma(nullptr, PixelType::U8, 4, 4, 12, 3, luma.data(), 0, 4),
               "null");
  CHECK_THROWS(falsr::core::make_compose_rgb(PixelType::U8, 4, 4, 2, 1, 0, 8, 8), "exceeds");
  CHECK_THROWS(falsr::core::make_compose_rgb(PixelType::U8, 4, 4, 0, 0, 0, 8, 8), "scale");
  const auto plan = falsr::core::make_compose_rgb(PixelType::U8, 4, 4, 2, 0, 0, 8, 8);
  std::vector<uint8_t> out(8 * 8 * 3);
  CHECK_THROWS(falsr::core::compose_rgb(plan, y.data(), 7, img.data(), 12, 3, out.data(), 0, 1),
               "row stride");
  CHECK_THROWS(falsr::core::compose_rgb(plan, y.data(), 8, img.data(), 12, 3, out.data(), 0, 2),
               "task");
}

}  // namespace

int main() {
  test_errors();
  std::mt19937 rng(99);
  for (const char* isa : {"generic", "avx2", "avx512"}) {
    setenv("FALSR_CPU_ISA", isa, 1);
    std::printf("isa %s (runs %s)\n", isa, falsr::core::isa_name(falsr::core::max_isa()));
    check_luma<uint8_t>(rng);
    check_luma<uint16_t>(rng);
    check_luma<float>(rng);
    check_luma<double>(rng);
    check_compose<uint8_t>(rng);
    check_compose<uint16_t>(rng);
    check_compose<float>(rng);
    check_compose<double>(rng);
  }
  return falsr::test::report("test_colour");
}
