// Word2VecNegSgd: a block of word2vec training steps (negative sampling, plain SGD, skip-gram
// or CBOW) updating the two embedding matrices in place, on all of TensorFlow's intra-op
// threads, with a result that does not depend on how many there are.
//
// Each step is the minibatch step of w2vexp.model's XLA graph (the same objective, gradients and
// update): every gradient is computed from the matrices as they were at the start of the step,
// then all updates are applied. Work is split so that no thread count changes a single bit:
//   1. per example: h, the logits, the loss, dL/dlogit and dL/dh; then
//   2. per pool noise row: the summed update of that row over its group (1 and 2 run per unit
//      of whole groups; any split of the units gives the same bits);
//   3. per row (rows split among `parts` tasks by id % parts): each row's updates are added by
//      one task in one fixed order -- labels, then pool rows (output matrix); examples in order
//      (input matrix).
// The block is one sequence of tasks (see `Tasks`): the threads stay with it from its first
// step to its last, claiming tasks in order, instead of being woken for every phase of every
// step (a wake-up cost about 60 us a phase here, a tenth of a skip-gram step).
// gensim's C loop (and word2vec.c) instead lets threads race on shared rows (Hogwild), which is
// why gensim is reproducible only with one worker.
#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/resource_mgr.h"
#include "tensorflow/core/framework/resource_var.h"
#include "tensorflow/core/framework/shape_inference.h"

namespace w2vexp {
using ::tensorflow::OpKernel;
using ::tensorflow::OpKernelConstruction;
using ::tensorflow::OpKernelContext;
using ::tensorflow::Tensor;
using ::tensorflow::Var;

REGISTER_OP("Word2VecNegSgd")
    .Input("embed: resource")    // [V (+1 padding row for CBOW), D] input vectors
    .Input("weights: resource")  // [V, D] output vectors
    .Input("inputs: int32")      // [K, B] centre words, or [K, B, C] context words (pad id = V)
    .Input("labels: int32")      // [K, B] target words
    .Input("noise: int32")       // [K, G, S] a pool of S noise words per group of B / G examples
    .Input("step_size: float")   // [K] lr / lr_batch of each step
    .Input("n_steps: int32")     // the first n_steps of the K are run
    .Input("threads: int32")     // 1: run in the calling thread; else on all intra-op threads
    .Attr("noise_weight: float")  // each pool word's weight: num_sampled / S
    .Attr("cores: int = 0")       // the cores the process may run on: at most that many threads (0: any)
    .Output("loss: float")        // [K] mean loss per example of each step (0 past n_steps)
    .SetIsStateful()
    .SetShapeFn([](::tensorflow::shape_inference::InferenceContext* c) {
      c->set_output(0, c->Vector(c->Dim(c->input(3), 0)));
      return absl::OkStatus();
    });

namespace {
constexpr int kAhead = 4;     // examples whose rows are prefetched ahead of use
constexpr int kMinUnit = 64;  // examples per unit of parallel work, at least
constexpr int kSpins = 4096;  // a waiting thread spins this often before it yields its core

inline void Axpy(float alpha, const float* __restrict x, float* __restrict y, int d) {
  for (int i = 0; i < d; ++i) y[i] += alpha * x[i];
}

// The per-example arithmetic, each as one pass over the rows it reads, in intrinsics when the
// build's CPU flags allow: h, or a chunk of the result, stays in registers across several rows,
// where a row at a time reloaded (and for the sums re-stored) it for every row; the compiler's
// own vectorisation of that blocked form spilled its accumulators. One set of templates over
// `Simd`, the vector of the build: 16 floats with AVX-512 (-mavx512f), 8 with AVX2 and FMA
// (-mavx2 -mfma), else the plain loops. Per step (the op alone, wiki_sample, 2 threads): plain
// to AVX2, skip-gram 1.06 -> 0.75 ms and CBOW 0.51 -> 0.41; AVX2 to AVX-512, skip-gram 0.79 ->
// 0.67 and CBOW 0.43 -> 0.39 (one thread 1.16 -> 0.97, 0.49 -> 0.415); 8 rows per pass over h
// instead of 4 gave nothing more. Each result is a fixed function of the inputs, so the bits do
// not depend on the thread count; the builds' sums differ in their lanes, so their bits differ
// (each within float rounding of the others: tests/test_kernel.py builds all three).
#if defined(__AVX512F__)
#define W2VEXP_SIMD 1
struct Simd {
  using V = __m512;
  static constexpr int kW = 16;
  static V Zero() { return _mm512_setzero_ps(); }
  static V Load(const float* p) { return _mm512_loadu_ps(p); }
  static void Store(float* p, V v) { _mm512_storeu_ps(p, v); }
  static V Set1(float x) { return _mm512_set1_ps(x); }
  static V Add(V a, V b) { return _mm512_add_ps(a, b); }
  static V Mul(V a, V b) { return _mm512_mul_ps(a, b); }
  static V Fmadd(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static float Sum(V a, V b) { return _mm512_reduce_add_ps(_mm512_add_ps(a, b)); }  // of a + b's lanes
};
#elif defined(__AVX2__) && defined(__FMA__)
#define W2VEXP_SIMD 1
struct Simd {
  using V = __m256;
  static constexpr int kW = 8;
  static V Zero() { return _mm256_setzero_ps(); }
  static V Load(const float* p) { return _mm256_loadu_ps(p); }
  static void Store(float* p, V v) { _mm256_storeu_ps(p, v); }
  static V Set1(float x) { return _mm256_set1_ps(x); }
  static V Add(V a, V b) { return _mm256_add_ps(a, b); }
  static V Mul(V a, V b) { return _mm256_mul_ps(a, b); }
  static V Fmadd(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static float Sum(V a, V b) {  // of a + b's lanes
    __m256 s = _mm256_add_ps(a, b);
    __m128 x = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
    x = _mm_add_ps(x, _mm_movehl_ps(x, x));
    x = _mm_add_ss(x, _mm_movehdup_ps(x));
    return _mm_cvtss_f32(x);
  }
};
#endif
#ifdef W2VEXP_SIMD
constexpr int kW = Simd::kW;
// out[q] = h . rows[q] for q < N (N rows per pass over h, two vectors of h at a time)
template <int N>
inline void DotsN(const float* __restrict h, const float* const* __restrict rows, float* __restrict out, int d) {
  Simd::V a[N], b[N];
  for (int q = 0; q < N; ++q) a[q] = b[q] = Simd::Zero();
  int i = 0;
  for (; i + 2 * kW <= d; i += 2 * kW) {
    const Simd::V h0 = Simd::Load(h + i), h1 = Simd::Load(h + i + kW);
    for (int q = 0; q < N; ++q) {
      a[q] = Simd::Fmadd(h0, Simd::Load(rows[q] + i), a[q]);
      b[q] = Simd::Fmadd(h1, Simd::Load(rows[q] + i + kW), b[q]);
    }
  }
  for (int q = 0; q < N; ++q) {
    float s = Simd::Sum(a[q], b[q]);
    for (int k = i; k < d; ++k) s += h[k] * rows[q][k];
    out[q] = s;
  }
}
// out[q] = the sum of a[m * stride + q] * x[m] over m < count in order, for q < N (N sums held
// per chunk)
template <int N>
inline void PushN(const float* __restrict a, int stride, const float* __restrict x, int count,
                  float* __restrict out, int d) {
  int i = 0;
  for (; i + kW <= d; i += kW) {
    Simd::V acc[N];
    for (int q = 0; q < N; ++q) acc[q] = Simd::Zero();
    for (int m = 0; m < count; ++m) {
      const Simd::V xm = Simd::Load(x + (size_t)m * d + i);
      const float* am = a + (size_t)m * stride;
      for (int q = 0; q < N; ++q) acc[q] = Simd::Fmadd(Simd::Set1(am[q]), xm, acc[q]);
    }
    for (int q = 0; q < N; ++q) Simd::Store(out + (size_t)q * d + i, acc[q]);
  }
  for (; i < d; ++i)
    for (int q = 0; q < N; ++q) {
      float t = 0;
      for (int m = 0; m < count; ++m) t += a[(size_t)m * stride + q] * x[(size_t)m * d + i];
      out[(size_t)q * d + i] = t;
    }
}
#endif

// out[q] = h . rows[q] for q < n
inline void Dots(const float* h, const float* const* rows, float* out, int n, int d) {
#ifdef W2VEXP_SIMD
  int q = 0;
  for (; q + 4 <= n; q += 4) DotsN<4>(h, rows + q, out + q, d);
  switch (n - q) {
    case 3: DotsN<3>(h, rows + q, out + q, d); break;
    case 2: DotsN<2>(h, rows + q, out + q, d); break;
    case 1: DotsN<1>(h, rows + q, out + q, d); break;
  }
#else
  for (int q = 0; q < n; ++q) {
    float s = 0;
    for (int i = 0; i < d; ++i) s += h[i] * rows[q][i];
    out[q] = s;
  }
#endif
}
// g = a0 * r0 + sum over q < n, in order, of a[q] * rows[q]
inline void Combine(float a0, const float* __restrict r0, const float* __restrict a,
                    const float* const* __restrict rows, int n, float* __restrict g, int d) {
  int i = 0;
#ifdef W2VEXP_SIMD
  const Simd::V c0 = Simd::Set1(a0);
  for (; i + kW <= d; i += kW) {
    Simd::V t = Simd::Mul(c0, Simd::Load(r0 + i));
    for (int q = 0; q < n; ++q) t = Simd::Fmadd(Simd::Set1(a[q]), Simd::Load(rows[q] + i), t);
    Simd::Store(g + i, t);
  }
#endif
  const int tail = i;
  for (i = tail; i < d; ++i) g[i] = a0 * r0[i];
  for (int q = 0; q < n; ++q)
    for (i = tail; i < d; ++i) g[i] += a[q] * rows[q][i];
}
// out[q] (d floats each, q < n) = the sum over m < count, in order, of a[m * stride + q] * x[m]
inline void Push(const float* a, int stride, const float* x, int count, float* out, int n, int d) {
#ifdef W2VEXP_SIMD
  int q = 0;
  for (; q + 8 <= n; q += 8) PushN<8>(a + q, stride, x, count, out + (size_t)q * d, d);
  a += q, out += (size_t)q * d;
  switch (n - q) {
    case 7: PushN<7>(a, stride, x, count, out, d); break;
    case 6: PushN<6>(a, stride, x, count, out, d); break;
    case 5: PushN<5>(a, stride, x, count, out, d); break;
    case 4: PushN<4>(a, stride, x, count, out, d); break;
    case 3: PushN<3>(a, stride, x, count, out, d); break;
    case 2: PushN<2>(a, stride, x, count, out, d); break;
    case 1: PushN<1>(a, stride, x, count, out, d); break;
  }
#else
  std::fill(out, out + (size_t)n * d, 0.0f);
  for (int m = 0; m < count; ++m)
    for (int q = 0; q < n; ++q) Axpy(a[(size_t)m * stride + q], x + (size_t)m * d, out + (size_t)q * d, d);
#endif
}
// h = the mean of rows[q], q < n (zero when n is 0)
inline void Mean(const float* const* __restrict rows, int n, float* __restrict h, int d) {
  const float inv = 1.0f / std::max(n, 1);
  int i = 0;
#ifdef W2VEXP_SIMD
  const Simd::V vinv = Simd::Set1(inv);
  for (; i + kW <= d; i += kW) {
    Simd::V t = Simd::Zero();
    for (int q = 0; q < n; ++q) t = Simd::Add(t, Simd::Load(rows[q] + i));
    Simd::Store(h + i, Simd::Mul(t, vinv));
  }
#endif
  for (int i0 = i; i0 < d; ++i0) {
    float t = 0;
    for (int q = 0; q < n; ++q) t += rows[q][i0];
    h[i0] = t * inv;
  }
}
inline void Prefetch(const float* row, int d) {
  for (int i = 0; i < d; i += 16) __builtin_prefetch(row + i);
}
// softplus(z) = max(z, 0) + log1p(exp(-|z|)) and sigmoid(z), stable for any z, in one loop the
// compiler vectorises (glibc's vector exp and log1p: built with -ffast-math -lmvec)
void SoftplusSigmoid(const float* __restrict z, float* __restrict sp, float* __restrict sg, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    const float t = std::exp(-std::fabs(z[i]));
    sp[i] = std::fmax(z[i], 0.0f) + std::log1p(t);
    const float r = 1.0f / (1.0f + t);
    sg[i] = z[i] >= 0.0f ? r : t * r;
  }
}

// Give the variable a buffer of its own before writing to it in place (a tensor read from it
// earlier -- by evaluation, a checkpoint -- may still share it), by TensorFlow's rule for sparse
// updates (EnsureSparseVariableAccess): in copy-on-read mode readers copy, so the buffer is ours.
absl::Status Unshare(OpKernelContext* ctx, Var* var) {
  Tensor* t = var->tensor();
  if (var->copy_on_read_mode.load() || t->RefCountIsOne()) return absl::OkStatus();
  Tensor copy;
  TF_RETURN_IF_ERROR(ctx->allocate_temp(t->dtype(), t->shape(), &copy));
  std::memcpy(copy.flat<float>().data(), t->flat<float>().data(), t->TotalBytes());
  *t = copy;
  return absl::OkStatus();
}

// A block's work as one numbered sequence of tasks, grouped into phases (a phase's tasks may run
// at once; each waits for all tasks of the phases before it). Threads claim tasks in number
// order from one counter and count them done on another: a task may start once `done` reaches
// the first task of its phase (every earlier task is then done, as tasks of a phase only start
// after the earlier phases are done). The calling thread alone can run the whole sequence, so a
// helper that starts late, or never, costs speed and no bit; a claimed task waits only for
// tasks claimed before it, so nothing deadlocks. Helpers hold this by a shared_ptr: one that
// starts after the block finds nothing left to claim.
struct Tasks {
  std::atomic<int64_t> next{0}, done{0};
  int64_t total = 0;
  std::function<int64_t(int64_t)> phase_start;  // task -> the first task of its phase
  const std::function<void(int64_t)>* run = nullptr;  // valid while tasks remain (the caller waits)

  static void Wait(const std::atomic<int64_t>& counter, int64_t target) {
    for (int spins = 0; counter.load(std::memory_order_acquire) < target; ++spins) {
      if (spins < kSpins) _mm_pause(); else std::this_thread::yield();
    }
  }
  void Work() {
    for (;;) {
      const int64_t t = next.fetch_add(1, std::memory_order_relaxed);
      if (t >= total) return;
      Wait(done, phase_start(t));
      (*run)(t);
      done.fetch_add(1, std::memory_order_release);
    }
  }
};
}  // namespace

class Word2VecNegSgdOp : public OpKernel {
 public:
  explicit Word2VecNegSgdOp(OpKernelConstruction* c) : OpKernel(c) {
    OP_REQUIRES_OK(c, c->GetAttr("noise_weight", &noise_weight_));
    OP_REQUIRES_OK(c, c->GetAttr("cores", &cores_));
  }

  void Compute(OpKernelContext* ctx) override {
    ::tensorflow::core::RefCountPtr<Var> embed, weights;
    OP_REQUIRES_OK(ctx, LookupResource(ctx, HandleFromInput(ctx, 0), &embed));
    OP_REQUIRES_OK(ctx, LookupResource(ctx, HandleFromInput(ctx, 1), &weights));
    const Tensor& inputs = ctx->input(2);
    const Tensor& labels = ctx->input(3);
    const Tensor& noise = ctx->input(4);
    const Tensor& step_size = ctx->input(5);
    const int n_steps = ctx->input(6).scalar<int32_t>()();
    const bool inline_only = ctx->input(7).scalar<int32_t>()() == 1;
    const bool cbow = inputs.dims() == 3;
    const int K = labels.dim_size(0), B = labels.dim_size(1);
    const int C = cbow ? inputs.dim_size(2) : 1;
    const int G = noise.dim_size(1), S = noise.dim_size(2);
    OP_REQUIRES(ctx, inputs.dim_size(0) == K && inputs.dim_size(1) == B && noise.dim_size(0) == K &&
                     step_size.NumElements() == K && G > 0 && B % G == 0 && n_steps <= K,
                absl::InvalidArgumentError("Word2VecNegSgd: inconsistent shapes"));
    Tensor* loss_out = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, {K}, &loss_out));
    float* loss = loss_out->flat<float>().data();
    std::fill(loss, loss + K, 0.0f);

    // both locks, in address order (as TensorFlow's MaybeLockVariableInputMutexesInOrder)
    Var* first = embed.get() < weights.get() ? embed.get() : weights.get();
    Var* second = embed.get() < weights.get() ? weights.get() : embed.get();
    ::tensorflow::mutex_lock l1(*first->mu());
    ::tensorflow::mutex_lock l2(*second->mu());
    OP_REQUIRES_OK(ctx, Unshare(ctx, embed.get()));
    OP_REQUIRES_OK(ctx, Unshare(ctx, weights.get()));
    Tensor* E = embed->tensor();
    Tensor* W = weights->tensor();
    const int D = W->dim_size(1);
    const int V = W->dim_size(0);
    OP_REQUIRES(ctx, E->dim_size(1) == D && E->dim_size(0) == V + (cbow ? 1 : 0),
                absl::InvalidArgumentError("Word2VecNegSgd: embed and weights do not match"));
    const int32_t* in = inputs.flat<int32_t>().data();
    const int32_t* lab = labels.flat<int32_t>().data();
    const int32_t* nz = noise.flat<int32_t>().data();
    for (int64_t i = 0, n = (int64_t)n_steps * B * C; i < n; ++i)
      OP_REQUIRES(ctx, in[i] >= 0 && in[i] < V + (cbow ? 1 : 0), absl::InvalidArgumentError("input id out of range"));
    for (int64_t i = 0, n = (int64_t)n_steps * B; i < n; ++i)
      OP_REQUIRES(ctx, lab[i] >= 0 && lab[i] < V, absl::InvalidArgumentError("label id out of range"));
    for (int64_t i = 0, n = (int64_t)n_steps * G * S; i < n; ++i)
      OP_REQUIRES(ctx, nz[i] >= 0 && nz[i] < V, absl::InvalidArgumentError("noise id out of range"));

    float* e = E->flat<float>().data();
    float* w = W->flat<float>().data();
    const int per_group = B / G;
    std::vector<float> H((size_t)B * D), GH((size_t)B * D), GN((size_t)G * S * D);
    std::vector<float> DP(B), DN((size_t)B * S), L(B);
    std::vector<float> Z((size_t)B * (S + 1)), SP(Z.size()), SG(Z.size());
    auto* pool = ctx->device()->tensorflow_cpu_worker_threads()->workers;
    const int pad = V;
    // no more parts than cores: more threads than cores only wait for each other (train.threads
    // above the core count); the parts never change a bit
    const int threads = cores_ > 0 ? std::min(pool->NumThreads(), cores_) : pool->NumThreads();
    const int parts = inline_only ? 1 : std::max(1, threads);
    // examples per unit of parallel work: whole noise groups, at least kMinUnit examples
    int unit = per_group;
    while (unit < kMinUnit && B % (unit * 2) == 0) unit *= 2;
    const int units = B / unit;
    // each unit's example numbers (labels) and input slots by row part, in order: step 3's lists
    std::vector<int> label_list((size_t)B * parts), input_list((size_t)B * C * parts);
    std::vector<int> label_n((size_t)units * parts), input_n((size_t)units * parts);

    // 1 and 2 for unit u of step k
    auto examples = [&](int k, int u) {
      const int32_t* ink = in + (size_t)k * B * C;
      const int32_t* labk = lab + (size_t)k * B;
      const int32_t* nzk = nz + (size_t)k * G * S;
      const int64_t lo = (int64_t)u * unit, hi = lo + unit;
      // the rows an example reads (on the stack unless there are many)
      const int row_count = std::max(C, S + 1);
      const float* few[64];
      std::vector<const float*> many(row_count > 64 ? row_count : 0);
      const float** rows = many.empty() ? few : many.data();
      for (int64_t b = lo; b < hi; ++b) {
        if (b + kAhead < hi) {
          const int32_t* next = ink + (b + kAhead) * C;
          for (int c = 0; c < C; ++c) Prefetch(e + (size_t)next[c] * D, D);
          Prefetch(w + (size_t)labk[b + kAhead] * D, D);
        }
        float* h = &H[b * D];
        if (!cbow) {
          std::memcpy(h, e + (size_t)ink[b] * D, D * sizeof(float));
        } else {
          int count = 0;
          for (int c = 0; c < C; ++c) {
            const int id = ink[b * C + c];
            if (id != pad) rows[count++] = e + (size_t)id * D;
          }
          Mean(rows, count, h, D);
        }
        // the logits, signed so that each one's loss is softplus(z): -pos, then the pool's
        const int32_t* pool_ids = nzk + (b / per_group) * S;
        rows[0] = w + (size_t)labk[b] * D;
        for (int s = 0; s < S; ++s) rows[1 + s] = w + (size_t)pool_ids[s] * D;
        float* z = &Z[(size_t)b * (S + 1)];
        Dots(h, rows, z, S + 1, D);
        z[0] = -z[0];
      }
      // softplus(z) and sigmoid(z) of all the unit's logits in one vectorised pass
      SoftplusSigmoid(&Z[(size_t)lo * (S + 1)], &SP[(size_t)lo * (S + 1)], &SG[(size_t)lo * (S + 1)],
                      (hi - lo) * (S + 1));
      for (int64_t b = lo; b < hi; ++b) {
        const float* u_row = w + (size_t)labk[b] * D;
        const int32_t* pool_ids = nzk + (b / per_group) * S;
        const float* sp = &SP[(size_t)b * (S + 1)];
        const float* sg = &SG[(size_t)b * (S + 1)];
        float l = sp[0];
        const float dpos = -sg[0];  // d softplus(-pos) / d pos
        float* dn = &DN[b * S];
        for (int s = 0; s < S; ++s) {
          l += noise_weight_ * sp[1 + s];
          dn[s] = noise_weight_ * sg[1 + s];
          rows[s] = w + (size_t)pool_ids[s] * D;
        }
        Combine(dpos, u_row, dn, rows, S, &GH[b * D], D);
        DP[b] = dpos;
        L[b] = l;
      }
      // the summed push on each pool row of the unit's groups, examples in order
      for (int64_t grp = lo / per_group; grp < hi / per_group; ++grp) {
        Push(&DN[(size_t)grp * per_group * S], S, &H[(size_t)grp * per_group * D], per_group,
             &GN[(size_t)grp * S * D], S, D);
      }
      // the unit's examples and input slots by the part their row falls in (no branches)
      int* ln = &label_n[(size_t)u * parts];
      int* inn = &input_n[(size_t)u * parts];
      std::fill(ln, ln + parts, 0);
      std::fill(inn, inn + parts, 0);
      int* ll = &label_list[(size_t)lo * parts];
      int* il = &input_list[(size_t)lo * C * parts];
      for (int64_t b = lo; b < hi; ++b) {
        const int p = labk[b] % parts;
        ll[p * unit + ln[p]++] = b;
      }
      for (int64_t j = lo * C; j < hi * C; ++j) {
        const int id = ink[j], p = id % parts;
        il[(size_t)p * unit * C + inn[p]] = j;
        inn[p] += !(cbow && id == pad);
      }
    };
    // 3 for the output rows (labels, then pool rows) or the input rows of one part
    auto apply = [&](int k, int part, bool output) {
      const int32_t* ink = in + (size_t)k * B * C;
      const int32_t* labk = lab + (size_t)k * B;
      const int32_t* nzk = nz + (size_t)k * G * S;
      const float eta = step_size.flat<float>()(k);
      for (int u = 0; u < units; ++u) {
        if (output) {
          const int* ll = &label_list[((size_t)u * parts + part) * unit];
          const int n = label_n[(size_t)u * parts + part];
          for (int x = 0; x < n; ++x) {
            if (x + kAhead < n) Prefetch(w + (size_t)labk[ll[x + kAhead]] * D, D);
            const int b = ll[x];
            Axpy(-eta * DP[b], &H[(size_t)b * D], w + (size_t)labk[b] * D, D);
          }
        } else {
          const int* il = &input_list[((size_t)u * parts + part) * unit * C];
          const int n = input_n[(size_t)u * parts + part];
          for (int x = 0; x < n; ++x) {
            if (x + kAhead < n) Prefetch(e + (size_t)ink[il[x + kAhead]] * D, D);
            const int j = il[x];
            Axpy(-eta, &GH[(size_t)(j / C) * D], e + (size_t)ink[j] * D, D);
          }
        }
      }
      if (output)
        for (int gs = 0; gs < G * S; ++gs)
          if (nzk[gs] % parts == part) Axpy(-eta, &GN[(size_t)gs * D], w + (size_t)nzk[gs] * D, D);
    };

    // per step: `units` tasks of 1-2, then 2 x parts tasks of 3 and the step's mean loss
    const int per_step = units + 2 * parts + 1;
    const std::function<void(int64_t)> run = [&](int64_t t) {
      const int k = t / per_step, i = t % per_step;
      if (i < units) {
        examples(k, i);
      } else if (i < units + 2 * parts) {
        apply(k, (i - units) % parts, i - units < parts);
      } else {
        double total = 0;
        for (int b = 0; b < B; ++b) total += L[b];
        loss[k] = (float)(total / B);
      }
    };
    auto tasks = std::make_shared<Tasks>();
    tasks->total = (int64_t)n_steps * per_step;
    tasks->phase_start = [per_step, units](int64_t t) {
      return t - t % per_step + (t % per_step < units ? 0 : units);
    };
    tasks->run = &run;
    for (int p = 1; p < parts; ++p) pool->Schedule([tasks] { tasks->Work(); });
    tasks->Work();
    Tasks::Wait(tasks->done, tasks->total);  // every task, the helpers' too, is done
  }

 private:
  float noise_weight_;
  int cores_;
};

REGISTER_KERNEL_BUILDER(Name("Word2VecNegSgd").Device(::tensorflow::DEVICE_CPU), Word2VecNegSgdOp);
}  // namespace w2vexp
