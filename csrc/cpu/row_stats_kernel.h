// The row-statistics kernel, written once over a SIMD traits type X and compiled once per
// instruction set: a .cpp includes its traits and then this file inside its own namespace
// (igk::isa_generic, isa_avx2, isa_avx512), so no symbol is shared between the builds.
//
// X provides: W lanes; F (W floats), Idx (W int32), M (W-lane mask), Wide (W doubles:
// wide_zero, widen_add, widen_fma, wide_sum); set1, load, store, max_lane,
// store_idx, from_f32/from_f16/from_bf16 (W values), add, sub, mul, fmadd, max (x86 maxps
// semantics: the second operand when unordered), exp_clamped (exp of x in [kMinExp, 0], NaN
// for NaN), exp_times (exp(x beta) for a simd_exp::Factor of beta), gt, blend, blend_idx,
// iota, add_idx, mask_none, mask_or, any.
//
// Math: the online softmax of docs/backend_contract.md#online-softmax-statistics.
// Lane l of lane set u sees the columns v = u W + l (mod 2W) and keeps its own (s, t),
// relative to a max m_l shared by the sets' lanes l: one rescaling exp a chunk, and one lane
// factor a chunk mass. Per chunk
// the new max is found first, then the sums move to it and the chunk's columns are added; a
// segment's lanes are combined in double. The top two logits and the argmax are the
// segment's, kept in scalars and updated only by chunks that can change them.
//
// Draws (docs/backend_contract.md#token-draws-inverse-transform): while drawing, each chunk
// also leaves its tempered mass relative to the largest lane max r (ChunkMass), summed in
// the statistics' pass: at temperature 1 from the exps it computes anyway, else one more exp
// per column. run_draws then places each draw's target in the chunk table and
// re-reads that one chunk, summing its weights in column order (double).

// The including .cpp provides <float.h>, <math.h>, <algorithm>, <vector> and row_stats.h, half.h,
// philox.h.

namespace {

// exp is exactly 0 in fp32 below this. Clamping x = f - m and d = m_old - m to it makes -inf
// logits (and -inf - -inf = NaN, which max() also maps to the clamp) add exactly 0 to both
// sums, never NaN.
constexpr float kMinExp = -110.0f;

// U independent lane sets (U * W lanes in all) break the compare -> blend and add dependency
// chains of a single set.
constexpr int kLaneSets = 2;

template <class X>
void load_chunk(const RowJob& job, const char* row, int64_t c0, int n, int nb, float* buf) {
    constexpr int W = X::W;
    int q = 0;
    switch (job.dtype) {
    case Dtype::F32: {
        const float* p = reinterpret_cast<const float*>(row) + c0;
        for (; q + W <= n; q += W) X::store(buf + q, X::from_f32(p + q));
        for (; q < n; ++q) buf[q] = p[q];
        break;
    }
    case Dtype::F16: {
        const uint16_t* p = reinterpret_cast<const uint16_t*>(row) + c0;
        for (; q + W <= n; q += W) X::store(buf + q, X::from_f16(p + q));
        for (; q < n; ++q) buf[q] = half_to_float(p[q]);
        break;
    }
    case Dtype::BF16: {
        const uint16_t* p = reinterpret_cast<const uint16_t*>(row) + c0;
        for (; q + W <= n; q += W) X::store(buf + q, X::from_bf16(p + q));
        for (; q < n; ++q) buf[q] = bf16_to_float(p[q]);
        break;
    }
    }
    for (; q < nb; ++q) buf[q] = -INFINITY;
}

// The next chunk's bytes, requested from memory a few cache lines at a time while this chunk
// is computed, at the same fraction of the chunk, so that its read overlaps this chunk's exps
// instead of waiting for them. (Asking for all of its lines at once, before the computation,
// fills the core's miss buffers: this takes 0.79-0.88x that time on bf16 and fp32 logits.)
struct Ahead {
    const char* p;            // the next chunk's first byte
    int64_t size;             // bytes a column
    int64_t bytes;            // the next chunk's bytes (0: none)

    // Columns [q0, q1) of this chunk: the lines starting at those columns' bytes of the next.
    void request(int q0, int q1) const {
        for (int64_t b = (q0 * size + 63) & ~(int64_t)63; b < q1 * size && b < bytes; b += 64)
            __builtin_prefetch(p + b, 0, 3);
    }
};

// The tempered weight exp(d * beta) of a difference d = f - ref
// (docs/backend_contract.md#token-draws-inverse-transform) as 2^(d * beta log2 e), beta log2 e
// in two floats: beta goes into the exp's range reduction instead of a rounded product
// fp32(d * beta) going into the exp, one instruction fewer a column (0.96x the pass with a
// draw at temperature 0.7 on AVX-512). Clamping d to kMinExp / beta keeps d = -inf at weight
// 0 for any beta and lets a NaN d through.
struct Tempering {
    float clamp;               // kMinExp / beta
    igk::simd_exp::Factor k;
};

inline Tempering tempering(float beta) { return Tempering{kMinExp / beta, igk::simd_exp::factor(beta)}; }

template <class X>
inline typename X::F tempered(typename X::F d, const Tempering& w) {
    return X::exp_times(X::max(X::set1(w.clamp), d), w.k);
}

// What add_chunk also sums per lane for the draws' chunk masses: nothing, the statistics'
// own exps (temperature 1), or the tempered weights of f - m. fp32 over kBlock columns a
// lane, then in double: each mass is the base of every cumulative sum after it, and a plain
// fp32 sum of 128 terms a lane moved ~3e-4 of the draws at V = 32000 (widening every term,
// or Kahan's compensated sum, cost more than the rest of the draw).
enum class Mass { None, Unit, Tempered };
constexpr int kBlock = 8;

// Adds the chunk's columns (buf, nb of them, max already moved) to the lane sums, and with
// kMass to c. max(clamp, x), not max(x, clamp): a NaN x (a NaN column) must reach the sums.
template <class X, Mass kMass>
void add_chunk(const float* buf, int nb, typename X::F m, typename X::F* s, typename X::F* t, const Tempering& w,
               typename X::Wide& c, const Ahead& next) {
    using F = typename X::F;
    constexpr int W = X::W, U = kLaneSets;
    const F clamp = X::set1(kMinExp);
    for (int q0 = 0; q0 < nb; q0 += kBlock * U * W) {
        const int q1 = q0 + kBlock * U * W < nb ? q0 + kBlock * U * W : nb;
        F block[U];
        for (int u = 0; u < U; ++u) block[u] = X::set1(0.0f);
        for (int q = q0; q < q1; q += U * W) {
            next.request(q, q + U * W);
            for (int u = 0; u < U; ++u) {
                const F d = X::sub(X::load(buf + q + u * W), m);
                const F x = X::max(clamp, d);
                const F e = X::exp_clamped(x);
                s[u] = X::add(s[u], e);
                t[u] = X::fmadd(e, x, t[u]);
                if (kMass == Mass::Unit) block[u] = X::add(block[u], e);
                if (kMass == Mass::Tempered)
                    block[u] = X::add(block[u], tempered<X>(d, w));
            }
        }
        if (kMass != Mass::None)
            for (int u = 0; u < U; ++u) X::widen_add(c, block[u]);
    }
}

// The chunk's tempered mass relative to r, the largest lane max so far (>= every column of
// the chunk), from the lane sums c relative to the lane maxima m: sum over lanes of
// c * tempered(m - r), the factors fp32 SIMD exps, the products summed in double
// lanes and then across them (a lane that saw no finite column has c = 0 and factor 0). Lane
// by lane in scalar code this made a pass with a draw 4-7% slower at AVX-512's 32 lanes; a
// double exp per lane cost more than the rest of the draw.
template <class X>
ChunkMass chunk_mass(typename X::F m, const typename X::Wide& c, const Tempering& w) {
    const float r = X::max_lane(m);
    if (r == -INFINITY) return ChunkMass{0.0, 0.0f};
    typename X::Wide mass = X::wide_zero();
    X::widen_fma(mass, c, tempered<X>(X::sub(m, X::set1(r)), w));
    return ChunkMass{X::wide_sum(mass), r};
}

// The chunk's largest and second largest column (duplicates counted) and the lowest column
// holding the largest, merged into the item's g1 / a1 / g2 by the rule of the contract (the
// chunk comes after everything merged so far, so a tie keeps a1).
template <class X>
void merge_top2(const float* buf, int nb, int64_t c0, float& g1, int64_t& a1, float& g2) {
    using F = typename X::F;
    using I = typename X::Idx;
    using M = typename X::M;
    constexpr int W = X::W, U = kLaneSets, L = U * W;
    const F neg_inf = X::set1(-INFINITY);
    F m[U], second[U];
    I arg[U], col[U];
    for (int u = 0; u < U; ++u) {
        m[u] = second[u] = neg_inf;
        arg[u] = col[u] = X::iota((int32_t)(c0 + u * W));
    }
    for (int q = 0; q < nb; q += U * W) {
        for (int u = 0; u < U; ++u) {
            const F f = X::load(buf + q + u * W);
            const M up = X::gt(f, m[u]);
            second[u] = X::blend(up, X::max(second[u], f), m[u]);
            m[u] = X::blend(up, m[u], f);
            arg[u] = X::blend_idx(up, arg[u], col[u]);
            col[u] = X::add_idx(col[u], U * W);
        }
    }
    alignas(64) float ml[L], secl[L];
    alignas(64) int32_t al[L];
    for (int u = 0; u < U; ++u) {
        X::store(ml + u * W, m[u]);
        X::store(secl + u * W, second[u]);
        X::store_idx(al + u * W, arg[u]);
    }
    float c1 = -INFINITY;
    for (int l = 0; l < L; ++l) c1 = ml[l] > c1 ? ml[l] : c1;
    int top = 0;
    for (int l = 0; l < L; ++l)
        if (ml[l] == c1 && (ml[top] != c1 || al[l] < al[top])) top = l;
    float c2 = -INFINITY;
    for (int l = 0; l < L; ++l) {
        if (secl[l] > c2) c2 = secl[l];
        if (l != top && ml[l] > c2) c2 = ml[l];
    }
    if (c1 > g1) {
        g2 = g1 > c2 ? g1 : c2;
        g1 = c1;
        a1 = al[top];
    } else {
        const float lo = c1 < g1 ? c1 : g1;
        g2 = g2 > lo ? g2 : lo;
    }
}

// One (row, segment) item. Per chunk: the lane maxima first (one max per column); the exact
// top-2 and argmax only for a chunk holding a column above the item's runner-up so far (the
// first chunk, then rarely); then the sums move to the new maxima and the chunk's columns are
// added. NaN and +inf are not looked for column by column: they reach the sums as NaN (or
// make the max +inf), which the item's end checks.
template <class X>
void process_item(const RowJob& job, int64_t row, int64_t seg, float* buf, RowPartial& part) {
    using F = typename X::F;
    constexpr int W = X::W;
    const char* base = static_cast<const char*>(job.base) + job.offset_of(row) * dtype_size(job.dtype);
    const int64_t v_begin = seg * job.seglen;
    const int64_t v_end = v_begin + job.seglen < job.V ? v_begin + job.seglen : job.V;
    const bool draw = job.chunks != nullptr;
    const Tempering w = tempering(job.beta);
    constexpr int U = kLaneSets;
    const F neg_inf = X::set1(-INFINITY), clamp = X::set1(kMinExp), lowest = X::set1(-FLT_MAX);
    F m = neg_inf, s[U], t[U];
    for (int u = 0; u < U; ++u) s[u] = t[u] = X::set1(0.0f);
    float g1 = -INFINITY, g2 = -INFINITY;
    int64_t a1 = v_begin;
    for (int64_t c0 = v_begin; c0 < v_end; c0 += kChunk) {
        const int n = (int)(v_end - c0 < kChunk ? v_end - c0 : kChunk);
        const int nb = (n + 4 * W - 1) / (4 * W) * (4 * W);
        load_chunk<X>(job, base, c0, n, nb, buf);
        const int64_t size = dtype_size(job.dtype), after = v_end - (c0 + n);
        const Ahead next{base + (c0 + n) * size, size, (after < kChunk ? after : kChunk) * size};
        F cm[U];
        for (int u = 0; u < U; ++u) cm[u] = neg_inf;
        for (int q = 0; q < nb; q += U * W)
            for (int u = 0; u < U; ++u) cm[u] = X::max(cm[u], X::load(buf + q + u * W));
        const F above = X::set1(g2);
        typename X::M beats = X::gt(cm[0], above);
        for (int u = 1; u < U; ++u) beats = X::mask_or(beats, X::gt(cm[u], above));
        if (X::any(beats)) merge_top2<X>(buf, nb, c0, g1, a1, g2);
        const F m_old = m;
        for (int u = 0; u < U; ++u) m = X::max(m, cm[u]);
        const F d = X::max(X::sub(m_old, m), clamp);
        const F scale = X::exp_clamped(d);
        for (int u = 0; u < U; ++u) {
            t[u] = X::mul(scale, X::fmadd(s[u], d, t[u]));
            s[u] = X::mul(scale, s[u]);
        }
        // A lane with only -inf so far subtracts -FLT_MAX, not -inf (-inf - -inf is NaN); a
        // NaN max stays NaN.
        const F ms = X::max(lowest, m);
        typename X::Wide c = X::wide_zero();
        if (!draw) {
            add_chunk<X, Mass::None>(buf, nb, ms, s, t, w, c, next);
            continue;
        }
        if (job.beta == 1.0f)
            add_chunk<X, Mass::Unit>(buf, nb, ms, s, t, w, c, next);
        else
            add_chunk<X, Mass::Tempered>(buf, nb, ms, s, t, w, c, next);
        job.chunks[row * job.nchunks + c0 / kChunk] = chunk_mass<X>(m, c, w);
    }

    constexpr int L = U * W;
    alignas(64) float ml[L], sl[L], tl[L];
    for (int u = 0; u < U; ++u) {
        X::store(ml + u * W, m);
        X::store(sl + u * W, s[u]);
        X::store(tl + u * W, t[u]);
    }
    float mx = -INFINITY;
    for (int l = 0; l < L; ++l) mx = ml[l] > mx ? ml[l] : mx;
    double S = 0.0, T = 0.0;
    bool nan = false;
    for (int l = 0; l < L; ++l) {
        nan = nan || sl[l] != sl[l] || tl[l] != tl[l];
        if (ml[l] == -INFINITY) continue;
        const double dl = (double)ml[l] - (double)mx;
        const double el = exp(dl);
        S += el * sl[l];
        T += el * (tl[l] + sl[l] * dl);
    }
    part.s = S;
    part.t = T;
    part.m = mx;
    part.second = g2;
    part.argmax = a1;
    part.bad = nan || mx == INFINITY;
    part.finite = mx > -INFINITY;
}

}  // namespace

void run_items(const RowJob& job, RowPartial* parts) {
    const int64_t items = job.R * job.nseg;
#pragma omp parallel num_threads(job.num_threads)
    {
        alignas(64) float buf[kChunk];
#pragma omp for schedule(dynamic, 1)
        for (int64_t it = 0; it < items; ++it) process_item<Simd>(job, it / job.nseg, it % job.nseg, buf, parts[it]);
    }
}

namespace {

// Draw `target` within chunk j of a row: the first column whose running sum from `base`
// exceeds it. The sum moves W columns at a time (their weights summed in double first) and
// column by column only within the W where it passes the target: the same sum to double
// rounding, without a dependent add and branch a column (1 ulp of double is far below the
// fp32 weights' rounding). Rounding (the chunk table summed otherwise) can leave the target
// unreached: then the chunk's last column of positive weight, or -1 when it has none. *f gets
// the column's logit.
template <class X>
int64_t locate_in_chunk(const RowJob& job, const char* row, int64_t j, float m, double base, double target,
                        float* buf, float* f) {
    using F = typename X::F;
    constexpr int W = X::W;
    const int64_t c0 = j * kChunk;
    const int n = (int)(job.V - c0 < kChunk ? job.V - c0 : kChunk);
    const int nb = (n + 4 * W - 1) / (4 * W) * (4 * W);
    load_chunk<X>(job, row, c0, n, nb, buf);
    alignas(64) float w[kChunk];
    const F mm = X::set1(m);
    const Tempering tw = tempering(job.beta);
    double run = base;
    for (int q = 0; q < nb; q += W) {
        const F wq = tempered<X>(X::sub(X::load(buf + q), mm), tw);
        X::store(w + q, wq);
        typename X::Wide sum = X::wide_zero();
        X::widen_add(sum, wq);
        const double block = X::wide_sum(sum);
        if (!(run + block > target)) {
            run += block;
            continue;
        }
        for (int k = q; k < q + W; ++k) {
            run += w[k];
            if (w[k] > 0.0f && run > target) {
                *f = buf[k];
                return c0 + k;
            }
        }
    }
    for (int k = n - 1; k >= 0; --k)
        if (w[k] > 0.0f) {
            *f = buf[k];
            return c0 + k;
        }
    return -1;
}

}  // namespace

void run_draws(const RowJob& job, const DrawRows& rows) {
#pragma omp parallel num_threads(job.num_threads)
    {
        alignas(64) float buf[kChunk];
        std::vector<double> cum((size_t)job.nchunks);
#pragma omp for schedule(dynamic, 4)
        for (int64_t i = 0; i < job.R; ++i) {
            if (rows.skip[i]) continue;
            const float m = rows.m[i];
            const ChunkMass* table = job.chunks + i * job.nchunks;
            double z = 0.0;
            int64_t last = 0;
            // Each chunk's factor exp(fp32(ref - m) * beta), the product unrounded as in tempered().
            for (int64_t j = 0; j < job.nchunks; ++j) {
                if (table[j].mass > 0.0) {
                    z += table[j].mass * exp((double)(table[j].ref - m) * (double)job.beta);
                    last = j;
                }
                cum[(size_t)j] = z;
            }
            const char* row = static_cast<const char*>(job.base) + job.offset_of(i) * dtype_size(job.dtype);
            const uint64_t key = job.key_of(i);
            uint32_t words[4];
            for (int64_t st = 0; st < job.S; ++st) {
                if ((st & 3) == 0)
                    philox4x32_10((uint32_t)key, (uint32_t)(key >> 32), (uint32_t)(st >> 2), job.ctr_of(i),
                                  kTokenDomain << 24, job.offset, words);
                const double target = (double)philox_uniform(words[st & 3]) * z;
                int64_t j = std::upper_bound(cum.begin(), cum.end(), target) - cum.begin();
                if (j >= job.nchunks) j = last;
                float f = m;
                int64_t idx = locate_in_chunk<Simd>(job, row, j, m, j > 0 ? cum[(size_t)j - 1] : 0.0, target, buf, &f);
                if (idx < 0) idx = rows.argmax[i];
                rows.samples[i * job.S + st] = idx;
                rows.sample_prob[i * job.S + st] = (float)(exp((double)f - (double)m) / rows.s[i]);
            }
        }
    }
}
