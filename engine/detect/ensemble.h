// Combines per-series detectors into one anomaly score in [0,1], and turns that score
// into anomalies that open and resolve (hysteresis) with a severity and evidence.
//
// Score: the mean of the two highest detector scores (the only score with one detector).
// One detector alone reaches at most 0.5, so an alert needs two detectors that agree;
// the detectors look at the series in different ways (forecast error, slow z, robust
// window, accumulated shift, mean drift, noise scale), so two of them at once is rare on
// noise and common on real spikes, shifts and leaks. No scores (0) before `warmup` points.
//
// Hysteresis: an anomaly opens after `open_points` consecutive points with score >=
// open_threshold, and resolves after `close_points` consecutive points below
// close_threshold; between the two thresholds it keeps its state, so a series hovering
// around the open threshold opens once and does not flap.
//
// Severity: warning, escalated to critical (never back while open) once a point of the
// anomaly scores >= critical_threshold.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

#include "engine/detect/detector.h"
#include "engine/detect/hysteresis.h"

namespace homeostat::engine::detect {

struct EnsembleConfig {
    std::uint64_t warmup = 30;
    double open_threshold = 0.8;
    double close_threshold = 0.5;
    std::uint32_t open_points = 2;  // k
    std::uint32_t close_points = 5; // m
    double critical_threshold = 0.95;
    double fired_threshold = 0.5; // a detector "fired" on a point when its score >= this
};

struct EnsembleResult {
    // The combined score. expected / lower / upper come from the lead detector (the
    // highest-scoring one), or from the first detector when none scored.
    Score score;
    bool open = false;                  // an anomaly is open after this point
    bool opened = false;                // ... and it opened on this point
    bool resolved = false;              // an anomaly resolved on this point
    Severity severity = Severity::none; // of the open anomaly
    std::uint32_t fired = 0;            // bit i: detector i scored >= fired_threshold
    int lead = -1;                      // index of the highest-scoring detector, -1 if none
    std::int64_t since_ns = 0;          // open anomaly: t of the first point of its opening run
    double peak = 0;                    // open anomaly: its highest combined score
};

class Ensemble final : public Detector {
public:
    static constexpr std::string_view kName = "ensemble";
    static constexpr std::size_t kMaxDetectors = 32;

    // Throws std::invalid_argument on no detectors, more than kMaxDetectors, a null one,
    // thresholds outside [0,1] or close_threshold > open_threshold > critical_threshold
    // ordering violated, or open_points / close_points of 0.
    explicit Ensemble(std::vector<std::unique_ptr<Detector>> detectors, EnsembleConfig config = {});

    // Detector interface: the combined score. step() gives everything.
    Score update(const Point& p) override { return step(p).score; }
    const EnsembleResult& step(const Point& p);
    // The result of the last step() (not persisted by save()).
    const EnsembleResult& last() const { return last_; }

    std::string_view name() const override { return kName; }
    // Saves the config, every detector's save() and the hysteresis state. load() rebuilds
    // the detectors from their saved types (make_detector), so it restores any ensemble.
    nlohmann::json save() const override;
    void load(const nlohmann::json& j) override;

    std::size_t size() const { return detectors_.size(); }
    const Detector& detector(std::size_t i) const { return *detectors_.at(i); }
    // Names of the detectors in a `fired` mask, in detector order.
    std::vector<std::string_view> fired_names(std::uint32_t mask) const;
    const EnsembleConfig& config() const { return config_; }

private:
    EnsembleConfig config_;
    std::vector<std::unique_ptr<Detector>> detectors_;
    std::vector<Score> scores_; // per detector, the last point (reused, no allocation)
    EnsembleResult last_;
    std::uint64_t n_ = 0;
    Hysteresis hysteresis_;
};

// ses, holt, ewz, mad, cusum, drift, scale with their defaults, in that order.
std::unique_ptr<Ensemble> make_default_ensemble(EnsembleConfig config = {});

// A detector with default parameters by name: "ses", "holt", "ewz", "mad", "cusum", "drift", "scale",
// "poisson", "rollz" (the plain rolling z-score baseline), "seasonal" (daily, 15-min
// slots) or "ensemble" (the default one). nullptr for an unknown name.
std::unique_ptr<Detector> make_detector(std::string_view name);
// The names make_detector accepts.
const std::vector<std::string_view>& detector_names();

} // namespace homeostat::engine::detect
