// Side-by-side timing of the CPU K1 kernel of several builds in one process: each build's
// kernel library is loaded with dlopen and the builds are called in turn on the same bf16
// [R, 126464] logits (normal x 3), so a noisy machine slows them alike; prints each build's
// median and its median per-call ratio to the first. R, V (default 512, 126464) and
// DTYPE=f32 (default bf16) in the environment change the logits. Build a kernel library per
// commit, then:
//
//   cmake --build BUILD --target igk_cpu
//   g++ -shared -o /tmp/k1_HEAD.so -Wl,--whole-archive BUILD/libigk_cpu.a -Wl,--no-whole-archive -fopenmp
//   g++ -O2 -std=c++17 -Icsrc/common -Icsrc -o /tmp/ab benchmarks/ab_row_stats.cpp -ldl
//   [R=512] [V=126464] [DTYPE=f32] /tmp/ab REPS S TEMPERATURE /tmp/k1_PARENT.so /tmp/k1_HEAD.so
//
// A library given as LIB.so:S:TEMPERATURE is called with those instead, so that one build's
// draw-to-none ratio comes from the same rounds: /tmp/ab 21 0 1 /tmp/k1.so /tmp/k1.so:1:0.7
#include <dlfcn.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <vector>
#include <random>
#include <chrono>
#include <algorithm>
#include <string.h>
#include <string>
#include "cpu/softmax_entropy.h"
typedef int64_t (*Fn)(const void*, igk::Dtype, int64_t, int64_t, const int64_t*, int64_t, const int64_t*, int64_t,
                      const int64_t*, int64_t, double, uint32_t, const igk::RowOutputs&, int);
int main(int argc, char** argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: %s REPS S TEMPERATURE LIB.so...\n", argv[0]);
    return 2;
  }
  int reps = atoi(argv[1]); int S = atoi(argv[2]); double T = atof(argv[3]);
  std::vector<Fn> fns;
  std::vector<int> Ss;
  std::vector<double> Ts;
  int Smax = S;
  for (int i = 4; i < argc; ++i) {
    std::string path = argv[i];
    Ss.push_back(S);
    Ts.push_back(T);
    const size_t c1 = path.find(':');
    if (c1 != std::string::npos) {
      const size_t c2 = path.find(':', c1 + 1);
      Ss.back() = atoi(path.substr(c1 + 1, c2 - c1 - 1).c_str());
      if (c2 != std::string::npos) Ts.back() = atof(path.substr(c2 + 1).c_str());
      path = path.substr(0, c1);
      Smax = std::max(Smax, Ss.back());
    }
    void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!h) { printf("%s\n", dlerror()); return 1; }
    fns.push_back((Fn)dlsym(h, "_ZN3igk15softmax_entropyEPKvNS_5DtypeEllPKllS4_lS4_ldjRKNS_10RowOutputsEi"));
    if (!fns.back()) { printf("no sym in %s\n", argv[i]); return 1; }
  }
  const int64_t R = getenv("R") ? atoi(getenv("R")) : 512, V = getenv("V") ? atoi(getenv("V")) : 126464;
  const bool f32 = getenv("DTYPE") && strcmp(getenv("DTYPE"), "f32") == 0;
  std::vector<uint16_t> x(R * V * (f32 ? 2 : 1));
  std::mt19937 g(0); std::normal_distribution<float> nd(0, 3);
  for (int64_t i = 0; i < R * V; ++i) {
    float f = nd(g);
    if (f32) { memcpy(&x[2 * i], &f, 4); continue; }
    uint32_t b; memcpy(&b, &f, 4); x[i] = (uint16_t)(b >> 16);
  }
  std::vector<float> ent(R), lse(R), mp(R), sp(R), spr(R * (Smax ? Smax : 1)); std::vector<int64_t> am(R), smp(R * (Smax ? Smax : 1));
  std::vector<std::vector<double>> t(fns.size());
  for (int r = 0; r < reps; ++r) {
    for (size_t k = 0; k < fns.size(); ++k) {
      const igk::RowOutputs out{ent.data(), lse.data(), mp.data(), am.data(), sp.data(), Ss[k] ? smp.data() : nullptr,
                                Ss[k] ? spr.data() : nullptr};
      auto a = std::chrono::steady_clock::now();
      fns[k](x.data(), f32 ? igk::Dtype::F32 : igk::Dtype::BF16, V, R, nullptr, V, nullptr, 1, nullptr, Ss[k], Ts[k], 0, out, 2);
      auto b = std::chrono::steady_clock::now();
      t[k].push_back(std::chrono::duration<double, std::milli>(b - a).count());
    }
  }
  for (size_t k = 0; k < fns.size(); ++k) {
    auto v = t[k]; std::sort(v.begin(), v.end());
    printf("%-28s median %.2f ms  min %.2f", argv[4 + k], v[v.size() / 2], v[0]);
    if (k) { std::vector<double> rr; for (int r = 0; r < reps; ++r) rr.push_back(t[k][r] / t[0][r]); std::sort(rr.begin(), rr.end()); printf("  ratio to first: median %.3f", rr[rr.size()/2]); }
    printf("\n");
  }
}
