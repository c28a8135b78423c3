// Rate tests for event counts per interval, for error_surge and traffic_shift.
//
//  - update(p): p.value is a count of events in one interval (requests, say). The
//    expected count is an EW mean of past counts; the test is two-sided (a surge and a
//    drop are both shifts). It only scores when max(expected, observed) >= min_volume:
//    3 requests instead of 1 is not a traffic shift.
//  - update_ratio(p, trials): p.value errors out of `trials` requests. The expected count
//    is trials * p0, p0 being the EW error ratio (EW sums of errors and of requests, so
//    busy intervals weigh more). One-sided (fewer errors is good news), and it scores only
//    when trials >= min_volume AND errors >= min_events: 1 error out of 2 requests never
//    alerts, however clean the past was.
//
// Both compare the observed count x with Poisson(lambda) through Anscombe's variance-
// stabilising transform, z = 2 (sqrt(x + 3/8) - sqrt(lambda + 3/8)), approximately N(0,1)
// even for small lambda, in O(1) (no tail sums). lambda is at least rate_floor, so a
// baseline of zero errors does not make the first error infinitely surprising.
#pragma once

#include <cstdint>

#include "engine/detect/detector.h"

namespace homeostat::engine::detect {

struct PoissonRateConfig {
    double alpha = 0.05;     // baseline smoothing
    double min_volume = 20;  // see above
    double min_events = 5;   // ratio mode: errors needed before anything can alert
    double rate_floor = 0.5; // lower bound on the expected count
    std::uint64_t warmup = 10;
};

class PoissonRate final : public Detector {
public:
    static constexpr std::string_view kName = "poisson";
    // Throws std::invalid_argument unless 0 < alpha <= 1, min_volume >= 0, min_events >= 0,
    // rate_floor > 0 and warmup >= 1.
    explicit PoissonRate(PoissonRateConfig config = {});

    // Counts mode. A negative or non-finite count is ignored.
    Score update(const Point& p) override;
    // Ratio mode; ignored unless 0 <= errors <= trials and both finite.
    Score update_ratio(const Point& errors, double trials);

    std::string_view name() const override { return kName; }
    nlohmann::json save() const override;
    void load(const nlohmann::json& j) override;

    double expected_count() const { return count_mean_; }
    double expected_ratio() const { return trials_ > 0 ? events_ / trials_ : 0; }

    // Anscombe z of x against Poisson(lambda).
    static double anscombe_z(double x, double lambda);

private:
    Score score(double observed, double lambda, bool warm, bool two_sided, bool enough) const;

    PoissonRateConfig config_;
    double count_mean_ = 0; // counts mode
    std::uint64_t count_n_ = 0;
    double events_ = 0; // ratio mode: EW sums
    double trials_ = 0;
    std::uint64_t ratio_n_ = 0;
};

} // namespace homeostat::engine::detect
