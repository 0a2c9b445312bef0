// vectors.txt's digits (w2vexp.artifacts), as a plain C function called through ctypes: each
// float32 as the 15 bytes `+d.dddddddde+dd`, byte for byte what artifacts._format_into's NumPy
// steps write (tests/test_tools.py compares them), in one pass instead of about 25 (40 ns a
// value: 0.05 s of wiki_sample's 9k x 128 matrix, 1 s of a 226k-word vocabulary's).
//
// The same double arithmetic, in the same order (compiled without -ffast-math): the power of
// ten e, the 9 digits m = rint(a / 10^e * 1e8) with 10^e from NumPy's table of np.power values,
// and NumPy's two corrections (m of 10 digits: one more power; m of 8: one less). e is
// floor(log10(a)), found here from the value's binary exponent and comparisons with the same
// table instead of log10 itself: the two differ only for a float32 within a rounding of the
// table's double of a power of ten (tests/test_tools.py tries the neighbours of each one).
#include <cmath>
#include <cstdint>

extern "C" {

// out[16 * i + 0 .. 14] = the text of values[i] (out[16 * i + 15] left as it is), for finite
// values; pow10[k + 60] = 10^k for k in -60 .. 59
void w2v_format_float32(const float* values, int64_t n, const double* pow10, uint8_t* out) {
  for (int64_t i = 0; i < n; ++i) {
    const float f = values[i];
    const double a = std::fabs(static_cast<double>(f));
    int64_t e = 0;
    int64_t m = 0;
    if (a > 0) {
      e = static_cast<int64_t>(std::floor((std::ilogb(a)) * 0.30102999566398120));
      while (a < pow10[e + 60]) --e;
      while (a >= pow10[e + 61]) ++e;
      m = static_cast<int64_t>(std::nearbyint(a / pow10[e + 60] * 1e8));
      if (m >= 1000000000) {
        m /= 10;
        e += 1;
      }
      if (m < 100000000) {
        m = static_cast<int64_t>(std::nearbyint(a / pow10[e - 1 + 60] * 1e8));
        e -= 1;
      }
    }
    uint8_t* o = out + 16 * i;
    o[0] = std::signbit(f) ? '-' : '+';
    o[1] = static_cast<uint8_t>('0' + m / 100000000);
    o[2] = '.';
    int64_t rest = m % 100000000;
    for (int k = 10; k >= 3; --k) {
      o[k] = static_cast<uint8_t>('0' + rest % 10);
      rest /= 10;
    }
    o[11] = 'e';
    o[12] = e < 0 ? '-' : '+';
    const int64_t ae = e < 0 ? -e : e;
    o[13] = static_cast<uint8_t>('0' + ae / 10);
    o[14] = static_cast<uint8_t>('0' + ae % 10);
  }
}

}  // extern "C"
