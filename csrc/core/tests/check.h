// A tiny self-contained test harness for the csrc/core C++ tests (no gtest: the build
// machines have no internet). Each CHECK counts; report() prints the tally and gives
// the process exit code that ctest reads.
#pragma once

#include <cstdio>
#include <functional>
#include <stdexcept>
#include <string>

namespace falsr::test {

inline int g_failures = 0;
inline int g_checks = 0;

// Expects `fn` to throw std::invalid_argument whose message contains `needle`.
inline void check_throws(const std::function<void()>& fn, const std::string& needle,
                         int line) {
  ++g_checks;
  try {
    fn();
  } catch (const std::invalid_argument& e) {
    if (std::string(e.what()).find(needle) == std::string::npos) {
      ++g_failures;
      std::fprintf(stderr, "line %d: message \"%s\" lacks \"%s\"\n", line, e.what(),
                   needle.c_str());
    }
    return;
  } catch (...) {
    ++g_failures;
    std::fprintf(stderr, "line %d: wrong exception type\n", line);
    return;
  }
  ++g_failures;
  std::fprintf(stderr, "line %d: expected std::invalid_argument (\"%s\")\n", line,
               needle.c_str());
}

// Prints the tally for test program `name`; returns its exit status.
inline int report(const char* name) {
  if (g_failures != 0) {
    std::fprintf(stderr, "%s: %d of %d checks FAILED\n", name, g_failures, g_checks);
    return 1;
  }
  std::printf("%s: all %d checks passed\n", name, g_checks);
  return 0;
}

}  // namespace falsr::test

#define CHECK(cond)                                                                  \
  do {                                                                               \
    ++falsr::test::g_checks;                                                         \
    if (!(cond)) {                                                                   \
      ++falsr::test::g_failures;                                                     \
      std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
    }                                                                                \
  } while (0)

#define CHECK_EQ(a, b)                                                                  \
  do {                                                                                  \
    ++falsr::test::g_checks;                                                                         \
    const long long va_ = static_cast<long long>(a), vb_ = static_cast<long long>(b);   \
    if (va_ != vb_) {                                                                   \
      ++falsr::test::g_failures;                                                                     \
      std::fprintf(stderr, "%s:%d: %s = %lld, expected %s = %lld\n", __FILE__, __LINE__, \
                   #a, va_, #b, vb_);                                                   \
    }                                                                                   \
  } while (0)

// Expects `fn` to throw std::invalid_argument whose message contains `needle`.

#define CHECK_THROWS(expr, needle) falsr::test::check_throws([&] { expr; }, needle, __LINE__)
