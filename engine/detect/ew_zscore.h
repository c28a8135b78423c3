// Exponentially weighted z-score: how many (EW) standard deviations a point lies from the
// (EW) mean. This is the seeds' Z-score (|Z| > 3 is anomalous: the interval is mean ± 3 sd)
// made O(1) and recency-weighted. Slower than the forecasters (alpha 0.05), so it still
// sees a level shift after they have adapted to it.
#pragma once

#include <cstdint>

#include "engine/detect/detector.h"

namespace homeostat::engine::detect {

struct EwZScoreConfig {
    double alpha = 0.05; // mean and variance smoothing (~40 points of memory)
    std::uint64_t warmup = 20;
};

class EwZScore final : public Detector {
public:
    static constexpr std::string_view kName = "ewz";
    // Throws std::invalid_argument unless 0 < alpha <= 1 and warmup >= 2.
    explicit EwZScore(EwZScoreConfig config = {});

    Score update(const Point& p) override;
    std::string_view name() const override { return kName; }
    nlohmann::json save() const override;
    void load(const nlohmann::json& j) override;

    const EwStats& stats() const { return stats_; }

private:
    EwZScoreConfig config_;
    EwStats stats_;
};

} // namespace homeostat::engine::detect
