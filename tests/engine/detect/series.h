// Deterministic synthetic series for the detector tests. Gaussian noise comes from
// mt19937_64 (whose output the standard fixes) through our own Box-Muller, because
// std::normal_distribution (and uniform_real_distribution) may differ between standard
// libraries, and the tests assert exact indices.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <numbers>
#include <random>
#include <vector>

#include "engine/detect/detector.h"

namespace homeostat::engine::detect::testing {

class Gauss {
public:
    explicit Gauss(std::uint64_t seed) : rng_(seed) {}
    // Uniform in (0, 1].
    double uniform() { return (static_cast<double>(rng_() >> 11) + 1.0) * 0x1.0p-53; }
    double next() {
        if (has_spare_) {
            has_spare_ = false;
            return spare_;
        }
        const double r = std::sqrt(-2.0 * std::log(uniform()));
        const double th = 2.0 * std::numbers::pi * uniform();
        spare_ = r * std::sin(th);
        has_spare_ = true;
        return r * std::cos(th);
    }

private:
    std::mt19937_64 rng_;
    bool has_spare_ = false;
    double spare_ = 0;
};

inline std::vector<double> noise(std::size_t n, double mean, double sd, std::uint64_t seed) {
    Gauss g(seed);
    std::vector<double> v(n);
    for (auto& x : v)
        x = mean + sd * g.next();
    return v;
}

// One point per second.
inline Point at(std::size_t i, double v) {
    return Point{static_cast<std::int64_t>(i) * 1'000'000'000, v};
}

inline std::vector<Score> run(Detector& d, const std::vector<double>& values) {
    std::vector<Score> out;
    out.reserve(values.size());
    for (std::size_t i = 0; i < values.size(); ++i)
        out.push_back(d.update(at(i, values[i])));
    return out;
}

// Indices whose score is >= threshold.
inline std::vector<std::size_t> flagged(const std::vector<Score>& s, double threshold = 0.8) {
    std::vector<std::size_t> out;
    for (std::size_t i = 0; i < s.size(); ++i)
        if (s[i].score >= threshold) out.push_back(i);
    return out;
}

} // namespace homeostat::engine::detect::testing
