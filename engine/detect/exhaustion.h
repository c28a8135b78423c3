// Memory growth: a robust trend over (t, bytes) and the predicted time until a limit
// (the cgroup's memory.max) is hit, for the memory_growth anomaly.
//
// Trend: Theil–Sen, the median of the slopes between every pair of the last `window`
// samples. It ignores up to ~29 % of outliers (a GC pause, a cache flush), needs no
// smoothing constant and gives bytes per second directly from the timestamps, so
// irregular sampling is fine. Cost: add() is O(1) into a ring; predict() is O(W^2) (W =
// 64: ~2k slopes, a few µs), meant to be called once per evaluation, not per sample.
//
// "Growing" is decided by the Mann–Kendall test on the same pairs: S = (#rising pairs -
// #falling pairs), and the trend counts only if S / sd(S) > min_z (4 by default, about 3
// in 100 000 for a flat noisy series). A flat or noisy series gives no prediction rather than
// a "full in 40 years" one; so does a shrinking one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace homeostat::engine::detect {

struct ExhaustionConfig {
    std::size_t window = 64;
    std::size_t min_points = 8;
    double min_z = 4.0;
};

struct Exhaustion {
    double slope = 0;            // bytes per second (Theil–Sen)
    double current = 0;          // the trend line at the last sample, bytes
    double seconds_to_limit = 0; // from the last sample; 0 when already at or above it
};

class ExhaustionTrend {
public:
    static constexpr std::size_t kMaxWindow = 1024;
    // Throws std::invalid_argument unless 3 <= min_points <= window <= kMaxWindow, min_z >= 0.
    explicit ExhaustionTrend(ExhaustionConfig config = {});

    // A sample; non-finite values are ignored.
    void add(std::int64_t t_ns, double bytes);
    // The trend and the time until `limit` bytes, or nullopt when there are fewer than
    // min_points samples or the series is not significantly growing.
    std::optional<Exhaustion> predict(double limit) const;
    std::size_t size() const { return t_.size(); }

private:
    ExhaustionConfig config_;
    std::vector<double> t_; // seconds, relative to the first sample (precision)
    std::vector<double> y_;
    std::size_t head_ = 0; // oldest once full
    std::int64_t t0_ns_ = 0;
    bool started_ = false;
};

} // namespace homeostat::engine::detect
