// Deterministic synthetic series for the detector tests (noise from engine/detect/gauss.h).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <numbers>
#include <random>
#include <vector>

#include "engine/detect/detector.h"
#include "engine/detect/gauss.h"

namespace homeostat::engine::detect::testing {

using detect::Gauss;

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
