// Plain rolling z-score over the last `window` points: (x - mean) / sd, |z| > 3 being
// anomalous (the seeds' rule). Not in the default ensemble: it is the baseline the
// ensemble is evaluated against, and a spike inflates its sd for a whole window.
//
// O(1) per point: running sums over a ring buffer. The sums are of (x - shift), shift
// being the first value seen, to limit cancellation, and they are recomputed exactly from
// the ring every `window` points (amortised O(1)), so rounding cannot accumulate.
#pragma once

#include <cstddef>
#include <vector>

#include "engine/detect/detector.h"

namespace homeostat::engine::detect {

struct RollingZScoreConfig {
    std::size_t window = 64;
    std::size_t warmup = 20; // points in the window before scoring (<= window)
};

class RollingZScore final : public Detector {
public:
    static constexpr std::string_view kName = "rollz";
    static constexpr std::size_t kMaxWindow = 1 << 16;
    // Throws std::invalid_argument unless 3 <= warmup <= window <= kMaxWindow.
    explicit RollingZScore(RollingZScoreConfig config = {});

    Score update(const Point& p) override;
    std::string_view name() const override { return kName; }
    nlohmann::json save() const override;
    void load(const nlohmann::json& j) override;

private:
    void recompute();

    RollingZScoreConfig config_;
    std::vector<double> ring_; // ring_[head_] is the oldest once full
    std::size_t head_ = 0;
    double shift_ = 0;
    double sum_ = 0;   // of (x - shift_)
    double sumsq_ = 0; // of (x - shift_)^2
    std::size_t since_recompute_ = 0;
};

} // namespace homeostat::engine::detect
