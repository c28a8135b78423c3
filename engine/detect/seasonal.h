// Seasonal baseline: what this series usually does at this time of day (or week).
//
// The period (default a day) is cut into slots of `slot_seconds` (default 15 min), chosen
// from each point's own timestamp (UTC, aligned on the Unix epoch, so daily slots start
// at midnight UTC and weekly ones on Thursday 00:00 UTC: the alignment does not matter,
// only that the same time of day always lands in the same slot). Each slot keeps an EW
// mean and variance of the values that fell in it, so a point is scored against the
// level and spread of the same slot on previous days: the regular 09:00 peak is expected,
// the same value at 03:00 is not.
//
// Why the pieces:
//  - no score until `min_periods` full periods have been seen since the first point and
//    the slot holds `min_slot_points` values: one day of history cannot tell a daily
//    peak from an incident on that day;
//  - the value a slot learns is winsorised to ±4 sd of the slot once it is warm, so an
//    incident does not teach tomorrow's baseline much;
//  - the spread is the larger of the slot's own sd and `global_sd_fraction` of the
//    series-wide EW sd of residuals (x - slot mean), so a slot that happened to be very
//    quiet (or holds few points) does not turn ordinary noise into 10-sigma events.
//
// O(1) per point; memory is one EwStats per slot (period / slot, at most kMaxSlots).
#pragma once

#include <cstdint>
#include <vector>

#include "engine/detect/detector.h"

namespace homeostat::engine::detect {

struct SeasonalConfig {
    std::int64_t period_seconds = 86400; // a day; 604800 for weekly
    std::int64_t slot_seconds = 900;     // must divide the period
    double alpha = 0.1;                  // per-slot smoothing, per value that falls in the slot
    std::uint64_t min_periods = 2;
    std::uint64_t min_slot_points = 2;
    double global_sd_fraction = 1.0;
};

class Seasonal final : public Detector {
public:
    static constexpr std::string_view kName = "seasonal";
    static constexpr std::int64_t kMaxSlots = 1 << 14;
    // Throws std::invalid_argument unless slot_seconds > 0 divides period_seconds into at
    // most kMaxSlots slots, 0 < alpha <= 1, min_periods >= 1, min_slot_points >= 1 and
    // global_sd_fraction >= 0.
    explicit Seasonal(SeasonalConfig config = {});

    Score update(const Point& p) override;
    std::string_view name() const override { return kName; }
    nlohmann::json save() const override;
    void load(const nlohmann::json& j) override;

    // The slot a timestamp falls in.
    std::size_t slot_of(std::int64_t t_ns) const;
    const EwStats& slot(std::size_t i) const { return slots_.at(i); }
    const SeasonalConfig& config() const { return config_; }

private:
    SeasonalConfig config_;
    std::vector<EwStats> slots_;
    EwVar residual_; // series-wide spread of x - slot mean
    std::int64_t first_ns_ = 0;
    bool started_ = false;
};

} // namespace homeostat::engine::detect
