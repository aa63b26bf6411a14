// The simulator's one random source: a seeded splitmix64. Never the global rand().
#pragma once

#include <cstdint>

namespace raftbook {

class Rng {
public:
    explicit Rng(uint64_t seed) : state_(seed) {}
    uint64_t next() {
        uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        return z ^ (z >> 31);
    }
    // Uniform in [lo, hi] (inclusive).
    int64_t range(int64_t lo, int64_t hi) {
        if (hi <= lo) return lo;
        return lo + int64_t(next() % uint64_t(hi - lo + 1));
    }
    // True with probability p.
    bool chance(double p) { return p > 0 && double(next() >> 11) * 0x1.0p-53 < p; }

private:
    uint64_t state_;
};

}  // namespace raftbook
