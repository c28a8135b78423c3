// Deterministic Gaussian noise for generated series (the detector tests and the
// evaluation): mt19937_64, whose output the standard fixes, through our own Box-Muller,
// because std::normal_distribution (and uniform_real_distribution) may differ between
// standard libraries, and tests assert exact indices.
#pragma once

#include <cmath>
#include <cstdint>
#include <numbers>
#include <random>

namespace homeostat::engine::detect {

class Gauss {
public:
    explicit Gauss(std::uint64_t seed) : rng_(seed) {}
    std::uint64_t bits() { return rng_(); }
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

} // namespace homeostat::engine::detect
