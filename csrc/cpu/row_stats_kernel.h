// The row-statistics kernel, written once over a SIMD traits type X and compiled once per
// instruction set: a .cpp includes its traits and then this file inside its own namespace
// (igk::isa_generic, isa_avx2, isa_avx512), so no symbol is shared between the builds.
//
// X provides: W lanes; F (W floats), Idx (W int32), M (W-lane mask), Wide (W doubles:
// wide_zero, widen_add, widen_fma, wide_sum); set1, load, store, max_lane, store_idx,
// from_f32/from_f16/from_bf16 (W values), from_bf16_pairs (2W values), add, sub, mul, fmadd,
// max (x86 maxps semantics: the second operand when unordered), exp_clamped (exp of x in
// [kMinExp, 0], NaN for NaN), exp_times (exp(x beta) for a simd_exp::Factor of beta), gt,
// blend, blend_idx, iota (base + step * lane), add_idx, bits (a mask's lanes as bits).
//
// Math: the online softmax of docs/backend_contract.md#online-softmax-statistics.
// Lane l of lane set u sees the columns v = u W + l (mod 2W) (bf16: v = 2l + u, see
// kPaired) and keeps its own (s, t), relative to a max m_l shared by the sets' lanes l: one
// rescaling exp a chunk, and one lane factor a chunk mass. Per chunk the new max is found
// first (while the previous chunk was computed: Stage), then the sums move to it and the
// chunk's columns are added; a segment's lanes are combined in double. The top two logits
// and the argmax are the segment's, kept in scalars and updated only by chunks that can
// change them.
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

// W columns at p as fp32, the dtype known at compile time.
template <class X, Dtype kD>
inline typename X::F from(const char* p) {
    if (kD == Dtype::F32) return X::from_f32(reinterpret_cast<const float*>(p));
    if (kD == Dtype::F16) return X::from_f16(reinterpret_cast<const uint16_t*>(p));
    return X::from_bf16(reinterpret_cast<const uint16_t*>(p));
}

// One column at p as fp32, the dtype known at compile time.
template <Dtype kD>
inline float column_value(const char* p) {
    if (kD == Dtype::F32) return *reinterpret_cast<const float*>(p);
    if (kD == Dtype::F16) return half_to_float(*reinterpret_cast<const uint16_t*>(p));
    return bf16_to_float(*reinterpret_cast<const uint16_t*>(p));
}

// Columns [c0, c0 + n) of a row as fp32 in buf, padded with -inf to nb (a draw's chunk).
template <class X, Dtype kD>
void load_columns(const char* row, int64_t c0, int n, int nb, float* buf) {
    constexpr int W = X::W;
    constexpr int64_t size = dtype_size(kD);
    const char* p = row + c0 * size;
    int q = 0;
    for (; q + W <= n; q += W) X::store(buf + q, from<X, kD>(p + q * size));
    for (; q < n; ++q) buf[q] = column_value<kD>(p + q * size);
    for (; q < nb; ++q) buf[q] = -INFINITY;
}

template <class X>
void load_chunk(const RowJob& job, const char* row, int64_t c0, int n, int nb, float* buf) {
    switch (job.dtype) {
    case Dtype::F32: load_columns<X, Dtype::F32>(row, c0, n, nb, buf); break;
    case Dtype::F16: load_columns<X, Dtype::F16>(row, c0, n, nb, buf); break;
    case Dtype::BF16: load_columns<X, Dtype::BF16>(row, c0, n, nb, buf); break;
    }
}

// Columns of a chunk (fp32, padded with -inf to a multiple of 4W).
inline int padded(int n, int w) { return (n + 4 * w - 1) / (4 * w) * (4 * w); }

// A staged bf16 chunk holds each U W = 2W columns as their W even columns, then their W odd
// ones (X::from_bf16_pairs): lane l of lane set u sees columns 2l + u (mod 2W), not u W + l.
template <Dtype kD>
constexpr bool kPaired = kD == Dtype::BF16;
static_assert(kLaneSets == 2, "bf16 pairs fill two lane sets");

// Where column q of a chunk sits in its staged buffer.
template <class X, Dtype kD>
inline int slot(int q) {
    constexpr int W = X::W;
    if (!kPaired<kD>) return q;
    const int g = q / (2 * W) * (2 * W), r = q - g;
    return g + (r & 1) * W + (r >> 1);
}

// The column, within its group of U W, that lane l of lane set u sees (slot's inverse).
template <class X, Dtype kD>
constexpr int lane_column(int u, int l) {
    return kPaired<kD> ? 2 * l + u : u * X::W + l;
}

// The next chunk of an item, staged while this one is computed: its columns converted to fp32
// into its buffer and its lane maxima taken, U * W columns for every U * W of this chunk,
// and the chunk after it requested from memory (prefetched) at the same pace. The conversion
// and the max run on the pipes that this chunk's exps leave idle: as two passes of their own
// before each chunk they took about a third of the pass without draws (one row in L2, one
// thread); staged, that pass keeps up with the bare read of bf16 [512, 126464].
struct Stage {
    const char* src;          // the next chunk's first byte
    int n;                    // its columns; 0: no next chunk
    float* dst;               // its buffer
    const char* ahead;        // the chunk after it
    int64_t ahead_bytes;      // its bytes (0: none)
};

// Columns [q, q + U W) of the staged chunk, when whole: converted, stored, and into cm; and
// the same bytes of the chunk after it requested, one instruction a cache line: into L1 for
// 2-byte dtypes, into L2 for fp32, whose 8 KB beside the two buffers and the chunk being
// staged pushed those out of L1 (into L1, the fp32 pass without draws took 1.15x the time;
// bf16 into L2 1.06x).
template <class X, Dtype kD>
inline void stage_columns(const Stage& st, int q, typename X::F* cm) {
    constexpr int W = X::W, U = kLaneSets;
    constexpr int64_t size = dtype_size(kD), bytes = U * W * size;
    constexpr int level = kD == Dtype::F32 ? 2 : 3;
    const int64_t b0 = q * size;
    if (bytes >= 64) {
        for (int64_t b = b0; b < b0 + bytes; b += 64)
            if (b < st.ahead_bytes) __builtin_prefetch(st.ahead + b, 0, level);
    } else if (b0 % 64 == 0 && b0 < st.ahead_bytes) {
        __builtin_prefetch(st.ahead + b0, 0, level);
    }
    if (q + U * W > st.n) return;
    typename X::F f[U];
    if (kPaired<kD>) {
        X::from_bf16_pairs(reinterpret_cast<const uint16_t*>(st.src + b0), f);
    } else {
        for (int u = 0; u < U; ++u) f[u] = from<X, kD>(st.src + (q + u * W) * size);
    }
    for (int u = 0; u < U; ++u) {
        X::store(st.dst + q + u * W, f[u]);
        cm[u] = X::max(cm[u], f[u]);
    }
}

// The staged chunk's columns after its last whole U W: converted one by one, padded with
// -inf, and into cm.
template <class X, Dtype kD>
void stage_tail(const Stage& st, typename X::F* cm) {
    constexpr int W = X::W, U = kLaneSets;
    const int q0 = st.n / (U * W) * (U * W), nb = padded(st.n, W);
    for (int q = q0; q < nb; ++q) st.dst[q] = -INFINITY;
    for (int q = q0; q < st.n; ++q) st.dst[slot<X, kD>(q)] = column_value<kD>(st.src + q * dtype_size(kD));
    for (int q = q0; q < nb; q += U * W)
        for (int u = 0; u < U; ++u) cm[u] = X::max(cm[u], X::load(st.dst + q + u * W));
}

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
// kMass to c, while staging the next chunk (cm: its lane maxima). max(clamp, x), not
// max(x, clamp): a NaN x (a NaN column) must reach the sums.
template <class X, Mass kMass, Dtype kD>
void add_chunk(const float* buf, int nb, typename X::F m, typename X::F* s, typename X::F* t, const Tempering& w,
               typename X::Wide& c, const Stage& next, typename X::F* cm) {
    using F = typename X::F;
    constexpr int W = X::W, U = kLaneSets;
    const F clamp = X::set1(kMinExp);
    for (int q0 = 0; q0 < nb; q0 += kBlock * U * W) {
        const int q1 = q0 + kBlock * U * W < nb ? q0 + kBlock * U * W : nb;
        F block[U];
        for (int u = 0; u < U; ++u) block[u] = X::set1(0.0f);
        for (int q = q0; q < q1; q += U * W) {
            stage_columns<X, kD>(next, q, cm);
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

// A chunk's largest column c1 (the lowest column holding it: at) and second largest c2
// (duplicates counted) merged into the item's g1 / a1 / g2 by the rule of the contract (the
// chunk comes after everything merged so far, so a tie keeps a1).
inline void merge_chunk_top2(float c1, int64_t at, float c2, float& g1, int64_t& a1, float& g2) {
    if (c1 > g1) {
        g2 = g1 > c2 ? g1 : c2;
        g1 = c1;
        a1 = at;
    } else {
        const float lo = c1 < g1 ? c1 : g1;
        g2 = g2 > lo ? g2 : lo;
    }
}

// The chunk's top two and argmax from all its columns, a vector pass: for an item's first
// chunk, and for one whose columns above the runner-up are in many lanes.
template <class X, Dtype kD>
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
        const int first = lane_column<X, kD>(u, 0);
        arg[u] = col[u] = X::iota((int32_t)(c0 + first), lane_column<X, kD>(u, 1) - first);
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
    merge_chunk_top2(c1, al[top], c2, g1, a1, g2);
}

// A chunk whose columns above the item's runner-up g2 all lie in a few lanes (lanes[u]: lane
// set u's, as bits): those lanes' columns, scanned one by one, merged as merge_top2 merges. A
// column at or below g2 changes none of g1, a1, g2, so the chunk's largest column, the lowest
// column holding it and its second largest when above g2 are all that the merge needs. After
// an item's first chunks this is the common case (one or two lanes): where the vector pass
// over the whole chunk took about 5% of the pass without draws (bf16 [512, 126464], random
// rows), the scan takes about 1%. On a chunk in L1 a lane's scan took about 95 cycles on
// AVX-512 (64 columns) and 190 on AVX2 (128), the vector pass 740-760 on both: the scan is
// the cheaper one up to U W / 4 lanes (scan_lanes).
template <class X>
constexpr int scan_lanes() {
    return kLaneSets * X::W / 4;
}

template <class X, Dtype kD>
void merge_lanes(const float* buf, int nb, int64_t c0, const uint32_t* lanes, float& g1, int64_t& a1, float& g2) {
    constexpr int W = X::W, U = kLaneSets;
    float c1 = -INFINITY, c2 = -INFINITY;
    int64_t at = c0;
    for (int u = 0; u < U; ++u)
        for (uint32_t rest = lanes[u]; rest != 0; rest &= rest - 1) {
            const int l = __builtin_ctz(rest);
            for (int q = 0; q < nb; q += U * W) {
                const float f = buf[q + u * W + l];
                if (!(f > g2)) continue;
                const int64_t col = c0 + q + lane_column<X, kD>(u, l);
                if (f > c1) {
                    c2 = c1;
                    c1 = f;
                    at = col;
                } else {
                    if (f > c2) c2 = f;
                    if (f == c1 && col < at) at = col;
                }
            }
        }
    merge_chunk_top2(c1, at, c2, g1, a1, g2);
}

// The second chunk buffer starts this far (2 KB) after the first ends, so that a load from one
// and a store to the other in the same iteration never share the low 12 bits of their
// addresses (4K aliasing: the load waits for the store). Without it the pass took 1.27x the
// time, 1.16x with a draw at temperature 0.7 (bf16 [512, 126464], ab_row_stats).
constexpr int kBufSkew = 512;

// One (row, segment) item. Per chunk: the lane maxima first (taken while the chunk was staged);
// the exact top-2 and argmax only for a chunk holding a column above the item's runner-up so
// far (the first chunk by a vector pass, then about one chunk in eight on random rows, mostly
// by a scan of the few lanes concerned); then the sums move to the new maxima and the chunk's
// columns are added while the next chunk is staged. NaN and +inf are not looked for column
// by column: they reach the sums as NaN (or make the max +inf), which the item's end checks.
// bufs holds two chunks, kBufSkew apart: the one computed and the one staged.
template <class X, Dtype kD>
void process_item(const RowJob& job, int64_t row, int64_t seg, float* bufs, RowPartial& part) {
    using F = typename X::F;
    constexpr int W = X::W;
    constexpr int64_t size = dtype_size(kD);
    const char* base = static_cast<const char*>(job.base) + job.offset_of(row) * size;
    const int64_t v_begin = seg * job.seglen;
    const int64_t v_end = v_begin + job.seglen < job.V ? v_begin + job.seglen : job.V;
    const bool draw = job.chunks != nullptr;
    const Tempering w = tempering(job.beta);
    constexpr int U = kLaneSets;
    const F neg_inf = X::set1(-INFINITY), clamp = X::set1(kMinExp), lowest = X::set1(-FLT_MAX);
    F m = neg_inf, s[U], t[U], cm[U];
    for (int u = 0; u < U; ++u) s[u] = t[u] = X::set1(0.0f);
    float g1 = -INFINITY, g2 = -INFINITY;
    int64_t a1 = v_begin;
    // Columns of the chunk starting at column c; 0 past the segment's end.
    auto columns = [&](int64_t c) { return c < v_end ? (int)(v_end - c < kChunk ? v_end - c : kChunk) : 0; };
    // The stage of chunk c1 into dst (and the request of the chunk after it).
    auto stage_of = [&](int64_t c1, float* dst) {
        const int64_t c2 = c1 + kChunk;
        return Stage{base + c1 * size, columns(c1), dst, base + c2 * size, columns(c2) * size};
    };
    float* cur = bufs;
    float* nxt = bufs + kChunk + kBufSkew;
    {
        // The item's first chunk is staged on its own (and the second requested meanwhile).
        for (int u = 0; u < U; ++u) cm[u] = neg_inf;
        const Stage first = stage_of(v_begin, cur);
        for (int q = 0; q + U * W <= first.n; q += U * W) stage_columns<X, kD>(first, q, cm);
        stage_tail<X, kD>(first, cm);
    }
    for (int64_t c0 = v_begin; c0 < v_end; c0 += kChunk) {
        const int nb = padded(columns(c0), W);
        const F above = X::set1(g2);
        uint32_t lanes[U];
        int beats = 0;
        for (int u = 0; u < U; ++u) {
            lanes[u] = X::bits(X::gt(cm[u], above));
            beats += __builtin_popcount(lanes[u]);
        }
        if (beats > scan_lanes<X>())
            merge_top2<X, kD>(cur, nb, c0, g1, a1, g2);
        else if (beats > 0)
            merge_lanes<X, kD>(cur, nb, c0, lanes, g1, a1, g2);
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
        const Stage next = stage_of(c0 + kChunk, nxt);
        for (int u = 0; u < U; ++u) cm[u] = neg_inf;
        if (!draw)
            add_chunk<X, Mass::None, kD>(cur, nb, ms, s, t, w, c, next, cm);
        else if (job.beta == 1.0f)
            add_chunk<X, Mass::Unit, kD>(cur, nb, ms, s, t, w, c, next, cm);
        else
            add_chunk<X, Mass::Tempered, kD>(cur, nb, ms, s, t, w, c, next, cm);
        if (next.n > 0) stage_tail<X, kD>(next, cm);
        if (draw) job.chunks[row * job.nchunks + c0 / kChunk] = chunk_mass<X>(m, c, w);
        float* const done = cur;
        cur = nxt;
        nxt = done;
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
        alignas(64) float bufs[2 * kChunk + kBufSkew];
#pragma omp for schedule(dynamic, 1)
        for (int64_t it = 0; it < items; ++it) {
            const int64_t row = it / job.nseg, seg = it % job.nseg;
            switch (job.dtype) {
            case Dtype::F32: process_item<Simd, Dtype::F32>(job, row, seg, bufs, parts[it]); break;
            case Dtype::F16: process_item<Simd, Dtype::F16>(job, row, seg, bufs, parts[it]); break;
            case Dtype::BF16: process_item<Simd, Dtype::BF16>(job, row, seg, bufs, parts[it]); break;
            }
        }
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
    const int nb = padded(n, W);
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
