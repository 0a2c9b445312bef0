// The analogy evaluation's search (w2vexp.evaluate.analogy_flags), as a plain C function called
// through ctypes: for each question, the vocabulary row whose unit vector has the highest dot
// product with the question's unit mean, its own words a, b, c excluded -- what NumPy finds with
// one float32 matrix product of every question with every row and an argmax (3822 x 9069 x 128
// on wiki_sample: 0.05 s on 2 cores, 0.09 s on one beside the vectors writer).
//
// On a CPU with AMX (Intel's tile matrix unit; Linux lends it to a process that asks), the
// products are first computed roughly, in bfloat16 with float32 sums, 16 questions by 16 rows a
// tile instruction, and only the rows that can still be the answer are computed in float32:
// every value has 8 significant bits in bfloat16, so a rough score is within 2^-7 (plus float32
// rounding, bounded by kMargin) of the float32 one for unit vectors (Cauchy-Schwarz), and the
// answer is among the rows within twice that of the best rough score. Those few are scored in
// float32 and the best kept (the lowest row on a tie, as np.argmax). One core does the search in a
// fraction of the product's time. Elsewhere (no AMX, an old compiler, a kernel that says no) the
// function answers 0 and NumPy does the search as before.
#include <cmath>
#include <cstdint>
#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#if defined(__x86_64__) && ((defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11) || \
                            (defined(__clang__) && __clang_major__ >= 12))
#define W2VEXP_AMX 1
#include <cpuid.h>
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace {
constexpr float kMargin = 0.0079f;  // |rough - float32| for unit vectors: 2^-7 + 2^-16 + sums' rounding
constexpr int kCandidates = 256;  // per question; more (rows all but tied) -> the caller does that question

#ifdef W2VEXP_AMX
struct TileConfig {
  uint8_t palette_id;
  uint8_t start_row;
  uint8_t reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
};

// bfloat16 of a float32, rounded to nearest even (finite values)
inline uint16_t Bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  u += 0x7FFF + ((u >> 16) & 1);
  return static_cast<uint16_t>(u >> 16);
}

bool AmxUsable() {
  static const int usable = [] {
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    if (!((d >> 22) & 1) || !((d >> 24) & 1) || !((b >> 16) & 1)) return 0;  // AMX-BF16, AMX-TILE, AVX-512F
    // Linux (5.16+) enables the tile data state for a process that asks for it
    return syscall(SYS_arch_prctl, 0x1023 /* ARCH_REQ_XCOMP_PERM */, 18 /* XTILEDATA */) == 0 ? 1 : 0;
  }();
  return usable != 0;
}

// float32 dot product of two rows, in one fixed order (16 lanes, then their sum, then the tail)
__attribute__((target("avx512f"))) float Dot(const float* a, const float* b, int d) {
  __m512 acc = _mm512_setzero_ps();
  int i = 0;
  for (; i + 16 <= d; i += 16) acc = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), acc);
  float s = _mm512_reduce_add_ps(acc);
  for (; i < d; ++i) s += a[i] * b[i];
  return s;
}

// One question's search state: the best rough score so far and the rows within 2 kMargin of it.
struct Question {
  float top = -INFINITY;
  int count = 0;
  bool overflow = false;
  int64_t* rows;
  float* rough;
  void Add(int64_t n, float score) {
    if (score > top) top = score;
    if (score < top - 2 * kMargin) return;
    if (count == kCandidates) {  // drop those the better top has left behind
      int kept = 0;
      for (int i = 0; i < count; ++i)
        if (rough[i] >= top - 2 * kMargin) rows[kept] = rows[i], rough[kept++] = rough[i];
      count = kept;
      if (count == kCandidates) {
        overflow = true;
        return;
      }
    }
    rows[count] = n;
    rough[count++] = score;
  }
};

// Rough scores of every question (A: rows of Dp bfloat16, a multiple of 32 questions) against
// the rows [n0, n1) of the vocabulary (B: packed per block of 16 rows as Dp / 2 rows of 16 x 2
// consecutive k), 32 questions by 32 rows at a time (2 x 2 tiles of 16 x 16 scores, the 8 tiles
// AMX has), each 32 x 32 handed to the questions' search as soon as it is made. The caller keeps
// [n0, n1) small enough for its packed rows to stay in the core's cache while every question
// passes over them.
__attribute__((target("amx-tile,amx-bf16,avx512f"))) void Search(const uint16_t* A, int64_t Q, const uint16_t* B,
                                                                 int Dp, int64_t n0, int64_t n1, int64_t V,
                                                                 const int64_t* exclude, Question* qs) {
  TileConfig cfg{};
  cfg.palette_id = 1;
  for (int t = 0; t < 8; ++t) {
    cfg.rows[t] = 16;
    cfg.colsb[t] = 64;
  }
  _tile_loadconfig(&cfg);
  alignas(64) float S[32][32];
  for (int64_t q0 = 0; q0 < Q; q0 += 32) {
    const uint16_t* a0 = A + q0 * Dp;
    const uint16_t* a1 = a0 + 16 * Dp;
    const int rows = Q - q0 < 32 ? static_cast<int>(Q - q0) : 32;
    for (int64_t c0 = n0; c0 < n1; c0 += 32) {  // blocks c0 / 16 and c0 / 16 + 1
      const uint16_t* b0 = B + (c0 / 16) * 16 * Dp;
      const uint16_t* b1 = b0 + 16 * Dp;
      _tile_zero(0);
      _tile_zero(1);
      _tile_zero(2);
      _tile_zero(3);
      for (int k = 0; k < Dp; k += 32) {
        _tile_loadd(4, a0 + k, Dp * 2);
        _tile_loadd(5, a1 + k, Dp * 2);
        _tile_loadd(6, b0 + (k / 2) * 32, 64);
        _tile_loadd(7, b1 + (k / 2) * 32, 64);
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
      }
      _tile_stored(0, &S[0][0], 128);
      _tile_stored(1, &S[0][16], 128);
      _tile_stored(2, &S[16][0], 128);
      _tile_stored(3, &S[16][16], 128);
      const int64_t valid = V - c0 < 32 ? V - c0 : 32;
      const uint32_t in_range = valid >= 32 ? 0xFFFFFFFFu : ((1u << valid) - 1);
      for (int r = 0; r < rows; ++r) {
        Question& q = qs[q0 + r];
        const __m512 floor = _mm512_set1_ps(q.top - 2 * kMargin);
        uint32_t hits = _mm512_cmp_ps_mask(_mm512_load_ps(S[r]), floor, _CMP_GE_OQ) |
                        (static_cast<uint32_t>(_mm512_cmp_ps_mask(_mm512_load_ps(S[r] + 16), floor, _CMP_GE_OQ)) << 16);
        hits &= in_range;
        for (; hits; hits &= hits - 1) {
          const int j = __builtin_ctz(hits);
          const int64_t n = c0 + j;
          const int64_t* ex = exclude + 3 * (q0 + r);
          if (n != ex[0] && n != ex[1] && n != ex[2] && !q.overflow) q.Add(n, S[r][j]);
        }
      }
    }
  }
  _tile_release();
}
#endif
}  // namespace

extern "C" {

// best[q] = the row r < V, r not in exclude[3q .. 3q + 2], with the highest float32 dot product of
// unit[r] and queries[q] (both [., D] float32, finite, of unit length; the lowest such row on a
// tie), or -1 where the search leaves question q to the caller. Answers 1 when it searched, 0 when
// it cannot here (no AMX).
int w2v_analogy_best(const float* queries, int64_t Q, const float* unit, int64_t V, int32_t D,
                     const int64_t* exclude, int64_t* best) {
#ifndef W2VEXP_AMX
  return 0;
#else
  if (!AmxUsable() || Q <= 0 || V <= 0 || D <= 0) return 0;
  const int Dp = (D + 31) / 32 * 32;  // zero-padded: the sums do not change
  const int64_t Vp = (V + 31) / 32 * 32, Qp = (Q + 31) / 32 * 32;
  std::vector<uint32_t> B((size_t)Vp * Dp / 2, 0);  // pairs of bfloat16 (k, k + 1) of a row
  for (int64_t n = 0; n < V; ++n) {
    uint32_t* block = &B[(size_t)(n / 16) * 16 * Dp / 2 + n % 16];
    const float* row = unit + n * D;
    for (int k = 0; k < D; k += 2)
      block[(size_t)(k / 2) * 16] = Bf16(row[k]) | (k + 1 < D ? static_cast<uint32_t>(Bf16(row[k + 1])) << 16 : 0u);
  }
  std::vector<uint16_t> A((size_t)Qp * Dp, 0);
  for (int64_t q = 0; q < Q; ++q)
    for (int k = 0; k < D; ++k) A[(size_t)q * Dp + k] = Bf16(queries[q * D + k]);
  // room for kCandidates rows a question, left unwritten until used (12 MB at 4k questions)
  std::unique_ptr<int64_t[]> rows_store(new int64_t[(size_t)Q * kCandidates]);
  std::unique_ptr<float[]> rough_store(new float[(size_t)Q * kCandidates]);
  std::vector<Question> qs(Q);
  for (int64_t q = 0; q < Q; ++q) {
    qs[q].rows = rows_store.get() + (size_t)q * kCandidates;
    qs[q].rough = rough_store.get() + (size_t)q * kCandidates;
  }
  // rows per pass: their packed bfloat16 (Dp x 2 bytes each) within half a MB of cache
  const int64_t chunk = std::max<int64_t>(32, (int64_t)(512 * 1024) / (Dp * 2) / 32 * 32);
  for (int64_t n0 = 0; n0 < Vp; n0 += chunk)
    Search(A.data(), Q, reinterpret_cast<const uint16_t*>(B.data()), Dp, n0, std::min(Vp, n0 + chunk), V, exclude,
           qs.data());
  for (int64_t q = 0; q < Q; ++q) {
    const Question& c = qs[q];
    const float* query = queries + q * D;
    int64_t answer = -1;
    float answer_score = -INFINITY;
    // in row order, so that the first of equal float32 scores stays; a row whose rough score
    // is more than kMargin below the best float32 score so far cannot beat it
    for (int i = 0; i < c.count && !c.overflow; ++i) {
      if (c.rough[i] < c.top - 2 * kMargin || c.rough[i] + kMargin < answer_score) continue;
      const float s = Dot(query, unit + c.rows[i] * D, D);
      if (s > answer_score) {
        answer_score = s;
        answer = c.rows[i];
      }
    }
    best[q] = c.overflow ? -1 : answer;
  }
  return 1;
#endif
}

}  // extern "C"
