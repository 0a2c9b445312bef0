// The batch builder's inner loops (w2vexp.batches), as plain C functions called through ctypes
// (which releases the GIL): the same arrays as batches.py's NumPy code, without its passes.
//
// NumPy builds a chunk's CBOW rows in 2 * window gathers, 2 * window masks and a transpose (0.5 s
// per 5M-token epoch, a fifth of a CBOW run's CPU on 2 cores), and a chunk's skip-gram pairs in
// 4 * window passes. Here each is one pass: a CBOW row reads its centre's neighbours (one or two
// cache lines, prefetched) and writes one row. The random draws (subsampling, windows, the
// permutation) stay NumPy's, so the batches are bit for bit the same (tests/test_kernel.py).
#include <cstdint>

extern "C" {

// CBOW rows in the order `order` (a permutation of 0..n-1): row r is the centre tokens[o],
// o = order[r], and its 2 * window context ids at distances -window..-1, 1..window, with `pad`
// where the distance exceeds eff[o] or falls outside 0..n-1 (batches.cbow_examples).
void w2v_cbow_rows(const int32_t* tokens, int64_t n, const int64_t* order, const int32_t* eff,
                   int32_t window, int32_t pad, int32_t* ctx, int32_t* centre) {
  const int64_t W = window;
  constexpr int64_t kAhead = 16;  // rows whose random reads are started early (prefetched)
  for (int64_t r = 0; r < n; ++r) {
    if (r + kAhead < n) {
      const int64_t later = order[r + kAhead];
      __builtin_prefetch(eff + later);
      __builtin_prefetch(tokens + later);
    }
    const int64_t o = order[r];
    const int64_t e = eff[o];
    int32_t* row = ctx + r * 2 * W;
    for (int64_t d = 1; d <= W; ++d) {
      row[W - d] = (d <= e && o - d >= 0) ? tokens[o - d] : pad;
      row[W + d - 1] = (d <= e && o + d < n) ? tokens[o + d] : pad;
    }
    centre[r] = tokens[o];
  }
}

// The skip-gram pairs of batches.skipgram_pairs, in its order (by distance d = 1..window:
// centre i with context i + d where eff[i] >= d, then centre i + d with context i where
// eff[i + d] >= d), as pairs[2k] = centre, pairs[2k + 1] = context. With pairs == nullptr only
// counts them. Returns the number of pairs.
int64_t w2v_skipgram_pairs(const int32_t* tokens, int64_t n, const int32_t* eff, int32_t window,
                           int32_t* pairs) {
  int64_t k = 0;
  const int64_t D = n - 1 < window ? n - 1 : window;
  for (int64_t d = 1; d <= D; ++d) {
    for (int64_t i = 0; i + d < n; ++i) {
      if (eff[i] >= d) {
        if (pairs) {
          pairs[2 * k] = tokens[i];
          pairs[2 * k + 1] = tokens[i + d];
        }
        ++k;
      }
    }
    for (int64_t i = 0; i + d < n; ++i) {
      if (eff[i + d] >= d) {
        if (pairs) {
          pairs[2 * k] = tokens[i + d];
          pairs[2 * k + 1] = tokens[i];
        }
        ++k;
      }
    }
  }
  return k;
}

}  // extern "C"
