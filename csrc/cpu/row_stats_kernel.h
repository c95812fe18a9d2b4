// The row-statistics kernel, written once over a SIMD traits type X and compiled once per
// instruction set: a .cpp includes its traits and then this file inside its own namespace
// (igk::isa_generic, isa_avx2, isa_avx512), so no symbol is shared between the builds.
//
// X provides: W lanes; F (W floats), Idx (W int32), M (W-lane mask); set1, load, store,
// from_f32/from_f16/from_bf16 (W values), add, sub, mul, fmadd, max (x86 maxps semantics:
// the second operand when unordered), exp_clamped (exp of x in [kMinExp, 0]), gt, eq,
// bad (NaN or +inf), blend, blend_idx, iota, add_idx, mask_or, any, any_gt, first, hmax,
// keep_first, and gumbel_block(k0, k1, group0, c1, c2, c3, g[4]): the Gumbel
// noise of the 4W columns 4*group0 .. 4*group0 + 4W - 1, g[k] holding columns
// 4*group0 + kW .. + W - 1.
//
// Math: the online softmax of docs/backend_contract.md#online-softmax-statistics.
// Lane l of a segment sees the columns v = l (mod 2W) and keeps its own (m, s, t) and second
// (the largest logit before m took its value). Per chunk the new max is found first, then the
// sums move to it and the chunk's columns are added; a segment's lanes are combined in double.
//
// Draws: stream st scores column v as f_v + temperature * g_v (a multiply then an add;
// the build uses -ffp-contract=off) and keeps the first column of the highest score.
// g is always finite (csrc/common/philox.h), so a -inf logit scores -inf and is never drawn.

// The including .cpp provides <float.h>, <math.h> and row_stats.h, half.h, philox.h.

namespace {

// exp is exactly 0 in fp32 below this. Clamping x = f - m and d = m_old - m to it makes -inf
// logits (and -inf - -inf = NaN, which max() also maps to the clamp) add exactly 0 to both
// sums, never NaN.
constexpr float kMinExp = -110.0f;

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

// Every stream's draw over one chunk held in buf (n real columns, nb padded).
template <class X>
void draw_chunk(const RowJob& job, int64_t row, int64_t c0, int n, int nb, const float* buf,
                StreamBest* best) {
    using F = typename X::F;
    using M = typename X::M;
    constexpr int W = X::W;
    const uint64_t key = (uint64_t)job.keys[row];
    const uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
    const uint32_t c1 = (uint32_t)job.ctr[row];
    const F temp = X::set1(job.temperature);
    for (int64_t st = 0; st < job.S; ++st) {
        StreamBest& b = best[st];
        const uint32_t c2 = (uint32_t)st | (kTokenDomain << 24);
        for (int q = 0; q < nb; q += 4 * W) {
            F g[4], sc[4];
            X::gumbel_block(k0, k1, (uint32_t)((c0 + q) >> 2), c1, c2, job.offset, g);
            for (int k = 0; k < 4; ++k) {
                sc[k] = X::add(X::load(buf + q + k * W), X::mul(temp, g[k]));
                sc[k] = X::keep_first(sc[k], n - (q + k * W));
            }
            const F top = X::max(X::max(sc[0], sc[1]), X::max(sc[2], sc[3]));
            if (!X::any_gt(top, b.score)) continue;
            const float h = X::hmax(top);
            for (int k = 0; k < 4; ++k) {
                const M e = X::eq(sc[k], X::set1(h));
                if (X::any(e)) {
                    const int l = X::first(e);
                    b.score = h;
                    b.idx = c0 + q + k * W + l;
                    b.f = buf[q + k * W + l];
                    break;
                }
            }
        }
    }
}

template <class X>
void process_item(const RowJob& job, int64_t row, int64_t seg, float* buf, RowPartial& part,
                  StreamBest* best) {
    using F = typename X::F;
    using I = typename X::Idx;
    using M = typename X::M;
    constexpr int W = X::W;
    const char* base = static_cast<const char*>(job.base) + job.offsets[row] * dtype_size(job.dtype);
    const int64_t v_begin = seg * job.seglen;
    const int64_t v_end = v_begin + job.seglen < job.V ? v_begin + job.seglen : job.V;
    const bool draw = job.S > 0 && job.temperature > 0.0f;
    if (draw)
        for (int64_t st = 0; st < job.S; ++st) best[st] = StreamBest{-INFINITY, -INFINITY, -1};

    // U independent lane sets (U * W lanes in all) break the compare -> blend and add
    // dependency chains of a single set.
    constexpr int U = 2;
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
        for (int q = 0; q < nb; q += U * W) {
            for (int u = 0; u < U; ++u) {
                const F x = X::max(X::sub(X::load(buf + q + u * W), m[u]), clamp);
                const F e = X::exp_clamped(x);
                s[u] = X::add(s[u], e);
                t[u] = X::fmadd(e, x, t[u]);
            }
        }
        if (draw) draw_chunk<X>(job, row, c0, n, nb, buf, best);
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

void run_items(const RowJob& job, RowPartial* parts, StreamBest* best) {
    const int64_t items = job.R * job.nseg;
    const int64_t S = job.S;
#pragma omp parallel num_threads(job.num_threads)
    {
        alignas(64) float buf[kChunk];
#pragma omp for schedule(dynamic, 1)
        for (int64_t it = 0; it < items; ++it)
            process_item<Simd>(job, it / job.nseg, it % job.nseg, buf, parts[it], best + it * S);
    }
}
