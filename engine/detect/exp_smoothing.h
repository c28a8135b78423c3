// Simple exponential smoothing (the seeds' forecaster, alpha 0.3): the forecast for the
// next point is the smoothed level; the prediction interval is level ± 3 sd of the
// one-step forecast errors, tracked as an exponentially weighted variance. Follows level
// changes within a few points, lags a trend by slope*(1-alpha)/alpha.
#pragma once

#include <cstdint>

#include "engine/detect/detector.h"

namespace homeostat::engine::detect {

struct ExpSmoothingConfig {
    double alpha = 0.3;      // level smoothing
    double var_alpha = 0.05; // forecast-error variance smoothing (~40 points of memory)
    std::uint64_t warmup = 10;
};

class ExpSmoothing final : public Detector {
public:
    static constexpr std::string_view kName = "ses";
    // Throws std::invalid_argument unless 0 < alpha, var_alpha <= 1 and warmup >= 2.
    explicit ExpSmoothing(ExpSmoothingConfig config = {});

    Score update(const Point& p) override;
    std::string_view name() const override { return kName; }
    nlohmann::json save() const override;
    void load(const nlohmann::json& j) override;

    double level() const { return level_; }

private:
    ExpSmoothingConfig config_;
    double level_ = 0;
    EwVar error_; // one-step forecast errors
    std::uint64_t n_ = 0;
};

} // namespace homeostat::engine::detect
