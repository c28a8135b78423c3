// Holt's linear method (double exponential smoothing): a level and a trend, so a series
// that drifts steadily (a slow leak, growing traffic) is forecast without lag and does not
// alert, while a departure from the drift does. Interval: forecast ± 3 sd of the
// one-step forecast errors (exponentially weighted).
#pragma once

#include <cstdint>

#include "engine/detect/detector.h"

namespace homeostat::engine::detect {

struct HoltConfig {
    double alpha = 0.3;      // level smoothing (the seeds' value)
    double beta = 0.1;       // trend smoothing
    double var_alpha = 0.05; // forecast-error variance smoothing
    std::uint64_t warmup = 10;
};

class Holt final : public Detector {
public:
    static constexpr std::string_view kName = "holt";
    // Throws std::invalid_argument unless alpha, beta, var_alpha are in (0,1], warmup >= 3.
    explicit Holt(HoltConfig config = {});

    Score update(const Point& p) override;
    std::string_view name() const override { return kName; }
    nlohmann::json save() const override;
    void load(const nlohmann::json& j) override;

    double level() const { return level_; }
    double trend() const { return trend_; } // per point
    // The forecast `steps` points ahead (1 = the next point).
    double forecast(double steps = 1) const { return level_ + steps * trend_; }

private:
    HoltConfig config_;
    double level_ = 0;
    double trend_ = 0;
    EwVar error_;
    std::uint64_t n_ = 0;
};

} // namespace homeostat::engine::detect
