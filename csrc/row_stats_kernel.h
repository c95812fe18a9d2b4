// The row-statistics kernel, written once over a SIMD traits type X and compiled once per
// instruction set: a .cpp includes its traits and then this file inside its own namespace
// (igk::isa_generic, igk::isa_avx512), so no symbol is shared between the two builds.
//
// X provides: W lanes; F (W floats), Idx (W int32), M (W-lane mask); set1, load, store,
// from_f32/from_f16/from_bf16 (W values), add, sub, mul, fmadd, max (x86 maxps semantics:
// the second operand when unordered), exp, gt, eq, bad (NaN or +inf), blend, blend_idx,
// iota, mask_or, any, first, hmax, keep_first, nan_to_inf, and
// gumbel_block(k0, k1, group0, c1, c2, c3, g[4]): the Gumbel noise of the 4W columns
// 4*group0 .. 4*group0 + 4W - 1, g[k] holding columns 4*group0 + kW .. + W - 1.
//
// Math. Lane l of a segment sees the columns v = l (mod W). It keeps its running max m,
// the largest logit before m took its value (second), and
//     s = sum_v exp(f_v - m),   t = sum_v exp(f_v - m) (f_v - m)
// over its finite f_v. Per chunk the new max m' is found first, then the sums move to it:
// with d = m - m', exp(f - m') = exp(d) exp(f - m) and (f - m') = (f - m) + d, so
//     s' = exp(d) s,   t' = exp(d) (t + s d),
// after which the chunk adds exp(x) and exp(x) x, x = f - m'. -inf logits give x = -inf;
// clamping x (and d) to -FLT_MAX makes exp(x) exactly 0 and exp(x) x a zero, never NaN.
// Lanes are combined the same way in double (merge_lanes). Per row, with the segments
// merged likewise: lse = m + log s, entropy = log s - t / s (from -sum p log p with
// log p = f - m - log s), max_prob = 1 / s.
//
// Draws: stream st scores column v as f_v + temperature * g_v (a multiply then an add;
// the build uses -ffp-contract=off) and keeps the first column of the highest score.
// NaN scores (f = -inf with g = +inf, which the fp32 u = 1 of the Philox layout allows)
// count as +inf, as torch.argmax ranks NaN highest.

// The including .cpp provides <float.h>, <math.h> and row_stats.h, half.h, philox.h.

namespace {

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
                sc[k] = X::nan_to_inf(X::add(X::load(buf + q + k * W), X::mul(temp, g[k])));
                sc[k] = X::keep_first(sc[k], n - (q + k * W));
            }
            const float h = X::hmax(X::max(X::max(sc[0], sc[1]), X::max(sc[2], sc[3])));
            if (!(h > b.score)) continue;
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

    const F neg_inf = X::set1(-INFINITY), lowest = X::set1(-FLT_MAX);
    F m = neg_inf, second = neg_inf, s = X::set1(0.0f), t = X::set1(0.0f);
    I arg = X::iota(0);
    M bad = X::mask_none(), fin = X::mask_none();
    for (int64_t c0 = v_begin; c0 < v_end; c0 += kChunk) {
        const int n = (int)(v_end - c0 < kChunk ? v_end - c0 : kChunk);
        const int nb = (n + 4 * W - 1) / (4 * W) * (4 * W);
        load_chunk<X>(job, base, c0, n, nb, buf);
        const F m_old = m;
        for (int q = 0; q < nb; q += W) {
            const F f = X::load(buf + q);
            bad = X::mask_or(bad, X::bad(f));
            fin = X::mask_or(fin, X::gt(f, neg_inf));
            const M up = X::gt(f, m);
            second = X::blend(up, X::max(second, f), m);
            m = X::blend(up, m, f);
            arg = X::blend_idx(up, arg, X::iota((int32_t)(c0 + q)));
        }
        const F d = X::max(X::sub(m_old, m), lowest);
        const F scale = X::exp(d);
        t = X::mul(scale, X::fmadd(s, d, t));
        s = X::mul(scale, s);
        for (int q = 0; q < nb; q += W) {
            const F x = X::max(X::sub(X::load(buf + q), m), lowest);
            const F e = X::exp(x);
            s = X::add(s, e);
            t = X::fmadd(e, x, t);
        }
        if (draw) draw_chunk<X>(job, row, c0, n, nb, buf, best);
    }

    alignas(64) float ml[W], sl[W], tl[W], secl[W];
    alignas(64) int32_t al[W];
    X::store(ml, m);
    X::store(sl, s);
    X::store(tl, t);
    X::store(secl, second);
    X::store_idx(al, arg);
    float mx = -INFINITY;
    for (int l = 0; l < W; ++l) mx = ml[l] > mx ? ml[l] : mx;
    int top = 0;
    for (int l = 0; l < W; ++l)
        if (ml[l] == mx && (ml[top] != mx || al[l] < al[top])) top = l;
    double S = 0.0, T = 0.0;
    float sec = -INFINITY;
    for (int l = 0; l < W; ++l) {
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
    part.finite = X::any(fin);
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
