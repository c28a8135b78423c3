// Drift: a short-memory mean against a long-memory one, for slow changes of level (a
// leak, a creeping latency) that the one-step forecasters follow without surprise.
//
// z = (short - long) / (sigma * sqrt(a_s / (2 - a_s) + a_l / (2 - a_l))), the denominator
// being the standard deviation of that difference on white noise of sd sigma. A ramp of
// slope s per point keeps short - long at about s * (1/a_l - 1/a_s) (90 s with the
// defaults), so 0.05 sd per point ends up ~4.5 sd away while a forecaster's one-step
// error stays at 0.05 sd.
//
// sigma comes from first differences (E[(x_t - x_{t-1})^2] = 2 sigma^2 on white noise),
// not from the spread around the mean: a trend or a shift inflates the latter and would
// hide itself, while it moves the differences by at most one point.
//
// The short mean learns values clipped at long ± 4 sigma, so a single spike moves z by
// less than 2 (the spike detectors see spikes; this one must not hold a score up for the
// ten points its short memory would otherwise remember one), while a shift or a ramp
// still moves it every point.
#pragma once

#include <cstdint>

#include "engine/detect/detector.h"

namespace homeostat::engine::detect {

struct DriftConfig {
    double short_alpha = 0.1;  // ~10 points
    double long_alpha = 0.01;  // ~100 points
    double noise_alpha = 0.02; // smoothing of the squared differences
    std::uint64_t warmup = 30;
};

class Drift final : public Detector {
public:
    static constexpr std::string_view kName = "drift";
    // Throws std::invalid_argument unless the three rates are in (0,1], long_alpha <
    // short_alpha and warmup >= 2.
    explicit Drift(DriftConfig config = {});

    Score update(const Point& p) override;
    std::string_view name() const override { return kName; }
    nlohmann::json save() const override;
    void load(const nlohmann::json& j) override;

private:
    DriftConfig config_;
    double short_ = 0, long_ = 0, prev_ = 0;
    EwVar diff_; // first differences
    std::uint64_t n_ = 0;
};

} // namespace homeostat::engine::detect
