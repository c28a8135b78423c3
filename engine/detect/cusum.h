// Two-sided CUSUM (Page 1954) for level shifts. Points are standardised against a slow
// reference (EW mean and sd); the sums S+ = max(0, S+ + z - drift) and S- = max(0, S- - z -
// drift) accumulate evidence of a sustained move up or down, and an alarm is raised when
// either exceeds `threshold`. A shift of d sd is detected after about
// (threshold + 1.17) / (d - drift) points (2 points for 5 sd with the defaults); on
// Gaussian noise a false alarm comes about once per 1e5 points (Siegmund's approximation).
//
// Why the pieces:
//  - z is clipped to ±clip_z so one huge spike cannot alarm on its own (that is a spike,
//    not a shift; the other detectors see it);
//  - the reference learns winsorised values (within ±3 sd), so it is not dragged by the
//    shift it is meant to detect;
//  - after an alarm both sums restart and the reference mean re-learns the new level as
//    the plain average of the next `relearn` points (not scored meanwhile; the variance
//    is kept), so one shift gives one alarm, not an alarm per point for as long as a slow
//    reference lags, nor a second alarm because one noisy point was taken as the level.
//
// Score: 0 while max(S+, S-) < threshold / 2, smoothstep up to 1 at the alarm.
#pragma once

#include <cstdint>

#include "engine/detect/detector.h"

namespace homeostat::engine::detect {

struct CusumConfig {
    double drift = 1.0;      // k, in sd: half the smallest shift worth detecting quickly
    double threshold = 5.0;  // h, in sd
    double ref_alpha = 0.02; // reference mean and variance smoothing (~100 points)
    double clip_z = 4.0;
    std::uint64_t warmup = 30;
    std::uint64_t relearn = 10;
};

class Cusum final : public Detector {
public:
    static constexpr std::string_view kName = "cusum";
    // Throws std::invalid_argument unless drift >= 0, threshold > 0, clip_z > 0,
    // 0 < ref_alpha <= 1 and warmup >= 2.
    explicit Cusum(CusumConfig config = {});

    Score update(const Point& p) override;
    std::string_view name() const override { return kName; }
    nlohmann::json save() const override;
    void load(const nlohmann::json& j) override;

    double pos() const { return pos_; }
    double neg() const { return neg_; }
    std::uint64_t alarms() const { return alarms_; }

private:
    CusumConfig config_;
    EwStats ref_;
    double pos_ = 0;
    double neg_ = 0;
    std::uint64_t alarms_ = 0;
    std::uint64_t relearning_ = 0; // points averaged since the last alarm, 0 = not relearning
};

} // namespace homeostat::engine::detect
