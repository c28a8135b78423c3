// Offline evaluation of the detectors on generated, labelled series (bench/detect_eval,
// tests/engine/detect/evaluation_test.cpp, the table in docs/detection.md).
//
// Series: seven families, each a fixed number of series from deterministic seeds
// (mt19937_64, whose output the standard fixes, through our own Gaussian and Poisson
// samplers, so every standard library gives the same numbers). The generator's
// parameters are in generate_family() and documented in docs/detection.md; they were set
// from what the families stand for (a spike is a few windows, a leak a slow ramp), not
// from what any detector finds.
//
// Alerts: each detector's score goes through the default hysteresis (an alert is the
// point where an anomaly OPENS: >= 0.8 for 2 points; it resolves after 5 points < 0.5);
// the ensemble uses its own built-in hysteresis (the same defaults), exactly as live. The
// baseline "rollz |Z|>3" is the plain rolling z-score with the seeds' rule: an alert
// opens on the first point with |z| > 3 and closes on the first point with |z| <= 3.
//
// Event-based scoring. A labelled anomaly window is [begin, end) in points; it is
// DETECTED if at least one alert opens in [begin, end + tolerance). An alert opening
// outside every such extended window is a FALSE POSITIVE; further alerts inside a window
// that is already detected count neither way. With W windows, D detected, F false
// positives: precision = D / (D + F) (1 when there is no alert at all), recall = D / W
// (1 when there is no window), F1 their harmonic mean (0 when both are 0). Delay = first
// alert of a detected window - begin, in points, averaged over detected windows.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/detect/detector.h"

namespace homeostat::engine::detect::eval {

struct Window {
    std::size_t begin = 0; // first anomalous point
    std::size_t end = 0;   // one past the last
};

struct LabelledSeries {
    std::vector<Point> points;
    std::vector<Window> anomalies; // sorted, disjoint
};

// spikes, level_shift, variance, trend, seasonal, traffic_bursts, pure_noise.
const std::vector<std::string_view>& family_names();

// `count` series of the family, series i from seed (seed_base + i). Throws
// std::invalid_argument on an unknown family.
std::vector<LabelledSeries> generate_family(std::string_view family, std::size_t count,
                                            std::uint64_t seed_base = 1);

// Points an alert may come after a window's end and still detect it.
inline constexpr std::size_t kTolerance = 5;

// The detectors evaluated: every make_detector name, then the baseline.
inline constexpr std::string_view kBaseline = "rollz |Z|>3";
std::vector<std::string> evaluated_detectors();

// Indices of the points where an alert opens, running a fresh detector `name` (a
// make_detector name or kBaseline) over the series. Throws std::invalid_argument on an
// unknown name.
std::vector<std::size_t> alerts(std::string_view name, const std::vector<Point>& points);

struct Metrics {
    std::size_t windows = 0;
    std::size_t detected = 0;
    std::size_t false_positives = 0;
    std::size_t alerts = 0;
    double delay_sum = 0; // points, over detected windows

    double precision() const;
    double recall() const;
    double f1() const;
    double mean_delay() const; // NaN when nothing was detected
    Metrics& operator+=(const Metrics& o);
};

// Scores one series' alerts against its labels (the rules above).
Metrics score_alerts(const std::vector<std::size_t>& alerts, const std::vector<Window>& anomalies,
                     std::size_t tolerance = kTolerance);

struct Cell {
    std::string family;
    std::string detector;
    Metrics metrics; // summed over the family's series
};

// Every family x every evaluated detector, `count` series per family.
inline constexpr std::size_t kSeriesPerFamily = 10;
std::vector<Cell> evaluate(std::size_t count = kSeriesPerFamily);

// The cells as a Markdown table (family, detector, precision, recall, F1, delay, FP).
std::string markdown(const std::vector<Cell>& cells);

} // namespace homeostat::engine::detect::eval
