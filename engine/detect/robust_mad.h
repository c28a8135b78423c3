// Robust z-score over a rolling window: (x - median) / (1.4826 * MAD), where 1.4826 makes
// the MAD estimate the standard deviation of Gaussian data. Median and MAD ignore up to
// half the window being outliers, so a burst of spikes does not inflate the scale the way
// it inflates a variance, and the score does not depend on a smoothing constant.
//
// Cost: the window (default 64, at most kMaxWindow) is kept both in arrival order (a ring)
// and sorted. An update is a binary search plus a move of at most W doubles to replace
// the oldest value, and the MAD is a two-pointer walk outward from the median over the
// sorted window: O(W) with W fixed and small (~100 ns at W = 64), bounded memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "engine/detect/detector.h"

namespace homeostat::engine::detect {

struct RobustMadConfig {
    std::size_t window = 64;
    std::size_t warmup = 20; // points in the window before scoring (<= window)
};

class RobustMad final : public Detector {
public:
    static constexpr std::string_view kName = "mad";
    static constexpr std::size_t kMaxWindow = 4096;
    // Throws std::invalid_argument unless 3 <= warmup <= window <= kMaxWindow.
    explicit RobustMad(RobustMadConfig config = {});

    Score update(const Point& p) override;
    std::string_view name() const override { return kName; }
    nlohmann::json save() const override;
    void load(const nlohmann::json& j) override;

    // Median and MAD of the current window (0 when empty).
    double median() const;
    double mad() const;

private:
    RobustMadConfig config_;
    std::vector<double> ring_;   // arrival order, ring_[head_] is the oldest once full
    std::vector<double> sorted_; // the same values, ascending
    std::size_t head_ = 0;
};

} // namespace homeostat::engine::detect
