// Scale: the noise got louder. A short-memory mean of squared first differences against a
// long-memory one; their ratio R is about 1 on stationary noise and about k^2 once the
// standard deviation grows k times (a flapping backend, a saturated queue), whatever the
// level does: first differences ignore a level and a trend.
//
// z = ln(R) / sd, sd = sqrt(3 a_s / (2 - a_s)): ln of a chi-square mean with (2 - a)/a
// effective degrees of freedom has variance ~2/dof, times 1.5 for the correlation of
// successive differences. Upward only (quieter noise is no incident). A squared
// difference counts at most (clip_z sd)^2 in the short mean, so one spike moves R by a
// bounded amount; the long baseline is slow (~300 points) and learns differences clipped
// at 2.5 sd, so a louder episode raises it by at most ~1.5 % a point instead of teaching
// it the new scale within the episode (a lasting change is learnt in a few hundred).
#pragma once

#include <cstdint>

#include "engine/detect/detector.h"

namespace homeostat::engine::detect {

struct ScaleConfig {
    double short_alpha = 0.1;
    double long_alpha = 0.003;
    double clip_z = 4.0;
    std::uint64_t warmup = 30;
};

class Scale final : public Detector {
public:
    static constexpr std::string_view kName = "scale";
    // Throws std::invalid_argument unless both rates are in (0,1], long_alpha <
    // short_alpha, clip_z > 0 and warmup >= 2.
    explicit Scale(ScaleConfig config = {});

    Score update(const Point& p) override;
    std::string_view name() const override { return kName; }
    nlohmann::json save() const override;
    void load(const nlohmann::json& j) override;

private:
    ScaleConfig config_;
    double prev_ = 0;
    double short_ = 0; // EW mean of clipped squared differences
    EwVar long_;       // the long-run variance of the differences
    std::uint64_t n_ = 0;
};

} // namespace homeostat::engine::detect
