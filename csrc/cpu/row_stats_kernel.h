// The row-statistics kernel, written once over a SIMD traits type X and compiled once per
// instruction set: a .cpp includes its traits and then this file inside its own namespace
// (igk::isa_generic, isa_avx2, isa_avx512), so no symbol is shared between the builds.
//
// X provides: W lanes; F (W floats), Idx (W int32), M (W-lane mask); set1, load, store,
// store_idx, from_f32/from_f16/from_bf16 (W values), add, sub, mul, fmadd, max (x86 maxps
// semantics: the second operand when unordered), exp_clamped (exp of x in [kMinExp, 0]), gt,
// bad (NaN or +inf), blend, blend_idx, iota, add_idx, mask_none, mask_or, any.
//
// Math: the online softmax of docs/backend_contract.md#online-softmax-statistics.
// Lane l of a segment sees the columns v = l (mod 2W) and keeps its own (m, s, t) and second
// (the largest logit before m took its value). Per chunk the new max is found first, then the
// sums move to it and the chunk's columns are added; a segment's lanes are combined in double.
//
// Draws (docs/backend_contract.md#token-draws-inverse-transform): while drawing, each chunk
// also leaves its tempered mass relative to the largest lane max r (ChunkMass); at
// temperature 1 that is the chunk's share of the exps the statistics compute anyway, else
// one more exp per column. run_draws then places each draw's target in the chunk table and
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

// sum += y with Kahan's compensation comp: a chunk's mass is the base of every cumulative
// sum after it, so its rounding moves draw boundaries (a plain fp32 sum of 128 terms a lane
// moved ~3e-4 of the draws at V = 32000; compensated, the masses are exact to ~1 ulp).
template <class X>
inline void kahan_add(typename X::F& sum, typename X::F& comp, typename X::F y) {
    y = X::sub(y, comp);
    const typename X::F next = X::add(sum, y);
    comp = X::sub(X::sub(next, sum), y);
    sum = next;
}

// Adds the chunk's columns (buf, nb of them, max already moved) to the lane sums; with
// kMass also to c (compensated by cc), the chunk's own sums.
template <class X, bool kMass>
void add_chunk(const float* buf, int nb, const typename X::F* m, typename X::F* s, typename X::F* t,
               typename X::F* c, typename X::F* cc) {
    using F = typename X::F;
    constexpr int W = X::W, U = kLaneSets;
    const F clamp = X::set1(kMinExp);
    for (int q = 0; q < nb; q += U * W) {
        for (int u = 0; u < U; ++u) {
            const F x = X::max(X::sub(X::load(buf + q + u * W), m[u]), clamp);
            const F e = X::exp_clamped(x);
            s[u] = X::add(s[u], e);
            t[u] = X::fmadd(e, x, t[u]);
            if (kMass) kahan_add<X>(c[u], cc[u], e);
        }
    }
}

// The chunk's tempered mass relative to r, the largest lane max so far (>= every column of
// the chunk): from its lane sums c (given at temperature 1), else by one more pass over buf.
template <class X>
ChunkMass chunk_mass(const RowJob& job, const float* buf, int nb, const typename X::F* m,
                     const typename X::F* c) {
    using F = typename X::F;
    constexpr int W = X::W, L = kLaneSets * W;
    alignas(64) float ml[L], cl[L];
    for (int u = 0; u < kLaneSets; ++u) X::store(ml + u * W, m[u]);
    float r = -INFINITY;
    for (int l = 0; l < L; ++l) r = ml[l] > r ? ml[l] : r;
    if (r == -INFINITY) return ChunkMass{0.0, 0.0f};
    double mass = 0.0;
    if (c) {
        for (int u = 0; u < kLaneSets; ++u) X::store(cl + u * W, c[u]);
        for (int l = 0; l < L; ++l)
            if (cl[l] > 0.0f) mass += (double)cl[l] * exp((double)ml[l] - (double)r);
        return ChunkMass{mass, r};
    }
    const F ref = X::set1(r), beta = X::set1(job.beta), clamp = X::set1(kMinExp);
    F acc = X::set1(0.0f), comp = X::set1(0.0f);
    for (int q = 0; q < nb; q += W)
        kahan_add<X>(acc, comp, X::exp_clamped(X::max(X::mul(X::sub(X::load(buf + q), ref), beta), clamp)));
    alignas(64) float al[W];
    X::store(al, acc);
    for (int l = 0; l < W; ++l) mass += al[l];
    return ChunkMass{mass, r};
}

template <class X>
void process_item(const RowJob& job, int64_t row, int64_t seg, float* buf, RowPartial& part) {
    using F = typename X::F;
    using I = typename X::Idx;
    using M = typename X::M;
    constexpr int W = X::W;
    const char* base = static_cast<const char*>(job.base) + job.offsets[row] * dtype_size(job.dtype);
    const int64_t v_begin = seg * job.seglen;
    const int64_t v_end = v_begin + job.seglen < job.V ? v_begin + job.seglen : job.V;
    const bool draw = job.chunks != nullptr;
    const bool unit_mass = draw && job.beta == 1.0f;
    constexpr int U = kLaneSets;
    const F neg_inf = X::set1(-INFINITY), clamp = X::set1(kMinExp);
    F m[U], second[U], s[U], t[U];
    I arg[U];
    for (int u = 0; u < U; ++u) {
        m[u] = second[u] = neg_inf;
        s[u] = t[u] = X::set1(0.0f);
        arg[u] = X::iota(0);
    }
    M bad = X::mask_none();
    for (int64_t c0 = v_begin; c0 < v_end; c0 += kChunk) {
        const int n = (int)(v_end - c0 < kChunk ? v_end - c0 : kChunk);
        const int nb = (n + 4 * W - 1) / (4 * W) * (4 * W);
        load_chunk<X>(job, base, c0, n, nb, buf);
        F m_old[U];
        I col[U];
        for (int u = 0; u < U; ++u) {
            m_old[u] = m[u];
            col[u] = X::iota((int32_t)(c0 + u * W));
        }
        for (int q = 0; q < nb; q += U * W) {
            for (int u = 0; u < U; ++u) {
                const F f = X::load(buf + q + u * W);
                bad = X::mask_or(bad, X::bad(f));
                const M up = X::gt(f, m[u]);
                second[u] = X::blend(up, X::max(second[u], f), m[u]);
                m[u] = X::blend(up, m[u], f);
                arg[u] = X::blend_idx(up, arg[u], col[u]);
                col[u] = X::add_idx(col[u], U * W);
            }
        }
        for (int u = 0; u < U; ++u) {
            const F d = X::max(X::sub(m_old[u], m[u]), clamp);
            const F scale = X::exp_clamped(d);
            t[u] = X::mul(scale, X::fmadd(s[u], d, t[u]));
            s[u] = X::mul(scale, s[u]);
        }
        if (unit_mass) {
            F c[U], cc[U];
            for (int u = 0; u < U; ++u) c[u] = cc[u] = X::set1(0.0f);
            add_chunk<X, true>(buf, nb, m, s, t, c, cc);
            job.chunks[row * job.nchunks + c0 / kChunk] = chunk_mass<X>(job, buf, nb, m, c);
        } else {
            add_chunk<X, false>(buf, nb, m, s, t, nullptr, nullptr);
            if (draw) job.chunks[row * job.nchunks + c0 / kChunk] = chunk_mass<X>(job, buf, nb, m, nullptr);
        }
    }

    constexpr int L = U * W;
    alignas(64) float ml[L], sl[L], tl[L], secl[L];
    alignas(64) int32_t al[L];
    for (int u = 0; u < U; ++u) {
        X::store(ml + u * W, m[u]);
        X::store(sl + u * W, s[u]);
        X::store(tl + u * W, t[u]);
        X::store(secl + u * W, second[u]);
        X::store_idx(al + u * W, arg[u]);
    }
    float mx = -INFINITY;
    for (int l = 0; l < L; ++l) mx = ml[l] > mx ? ml[l] : mx;
    int top = 0;
    for (int l = 0; l < L; ++l)
        if (ml[l] == mx && (ml[top] != mx || al[l] < al[top])) top = l;
    double S = 0.0, T = 0.0;
    float sec = -INFINITY;
    for (int l = 0; l < L; ++l) {
        if (secl[l] > sec) sec = secl[l];
        if (l != top && ml[l] > sec) sec = ml[l];
        if (ml[l] == -INFINITY) continue;
        const double dl = (double)ml[l] - (double)mx;
        const double el = exp(dl);
        S += el * sl[l];
        T += el * (tl[l] + sl[l] * dl);
    }
    part.s = S;
    part.t = T;
    part.m = mx;
    part.second = sec;
    part.argmax = al[top];
    part.bad = X::any(bad);
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
// exceeds it. Rounding (the chunk table summed otherwise) can leave it unreached: then the
// chunk's last column of positive weight, or -1 when it has none. *f gets the column's logit.
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
    const F mm = X::set1(m), beta = X::set1(job.beta), clamp = X::set1(kMinExp);
    for (int q = 0; q < nb; q += W)
        X::store(w + q, X::exp_clamped(X::max(X::mul(X::sub(X::load(buf + q), mm), beta), clamp)));
    double run = base;
    int last = -1;
    for (int q = 0; q < n; ++q) {
        if (w[q] <= 0.0f) continue;
        run += w[q];
        last = q;
        if (run > target) break;
    }
    if (last < 0) return -1;
    *f = buf[last];
    return c0 + last;
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
            for (int64_t j = 0; j < job.nchunks; ++j) {
                if (table[j].mass > 0.0) {
                    z += table[j].mass * exp((double)(float)((table[j].ref - m) * job.beta));
                    last = j;
                }
                cum[(size_t)j] = z;
            }
            const char* row = static_cast<const char*>(job.base) + job.offsets[i] * dtype_size(job.dtype);
            const uint64_t key = (uint64_t)job.keys[i];
            uint32_t words[4];
            for (int64_t st = 0; st < job.S; ++st) {
                if ((st & 3) == 0)
                    philox4x32_10((uint32_t)key, (uint32_t)(key >> 32), (uint32_t)(st >> 2), (uint32_t)job.ctr[i],
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
