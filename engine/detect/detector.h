// The common interface of the per-series anomaly detectors, and the small pieces they
// share (z → score mapping, exponentially weighted statistics).
//
// A detector sees one series as a stream of points and, for each point, says how
// surprising it was given what came BEFORE it: every update predicts, scores, then learns.
// Detectors assume regularly spaced points (one per aggregation window); t_ns is carried
// for evidence and is never compared with a clock. Every update is O(1) time (or O(W) for
// a fixed, small window W) and the state is bounded, so a detector per series is cheap.
//
// State persists: save() returns parameters and state as JSON and load() restores them,
// so a restarted daemon keeps its baselines. Doubles are stored as JSON numbers, which
// nlohmann::json prints with enough digits to round-trip exactly.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string_view>

#include <nlohmann/json.hpp>

namespace homeostat::engine::detect {

struct Point {
    std::int64_t t_ns = 0;
    double value = 0;
};

struct Score {
    double score = 0;    // [0,1]; 0 while not warm
    double expected = 0; // what the detector predicted for this point
    double observed = 0; // the point's value
    double lower = 0;    // prediction interval; a value outside it is "anomalous"
    double upper = 0;    //   (|z| > kIntervalZ for the z-based detectors)
    bool warm = false;   // false while the detector is still learning
};

class Detector {
public:
    virtual ~Detector() = default;
    // Scores `p` against the state, then learns it. A NaN or infinite value is not
    // learned and scores 0 (the series had a gap, it did not misbehave).
    virtual Score update(const Point& p) = 0;
    virtual std::string_view name() const = 0;
    // {"type": name(), "params": {...}, "state": {...}}.
    virtual nlohmann::json save() const = 0;
    // Restores what save() returned (parameters included). Throws std::invalid_argument
    // if the type differs and nlohmann::json::exception if a field is missing.
    virtual void load(const nlohmann::json& j) = 0;
};

// The interval half-width in standard deviations: the seeds' |Z| > 3.
inline constexpr double kIntervalZ = 3.0;

// Maps |z| to [0,1]: 0 for |z| <= 2, 1 for |z| >= 6, smoothstep in between
// (3 → 0.16, 4 → 0.5, 5 → 0.84). A point outside the 3-sigma interval is "anomalous" for
// the evidence, but only |z| >= ~4.9 reaches the usual open threshold 0.8: single 3-sigma
// points are common in real traffic, 5-sigma ones are not.
// A smoothing rate or learning rate: in (0, 1].
inline bool unit_rate(double a) {
    return a > 0 && a <= 1;
}

inline double z_to_score(double z) {
    if (!std::isfinite(z)) return std::isnan(z) ? 0.0 : 1.0;
    const double t = std::clamp((std::fabs(z) - 2.0) / 4.0, 0.0, 1.0);
    return t * t * (3.0 - 2.0 * t);
}

// A lower bound on a standard deviation, so a series that has been constant (sd 0) gives
// a finite z: relative to the level (1e-9, far above double rounding, far below any real
// variation: 5 bytes of noise on 1 GB still counts), plus a tiny absolute floor for series
// sitting at 0. A constant series that moves at all still scores 1; a caller that feeds
// quantised values (sketch buckets) should know its resolution.
inline double sd_floor(double level) {
    return 1e-12 + 1e-9 * std::fabs(level);
}

// The smoothing rate to use for the (n+1)-th value: 1/(n+1) (a plain running mean) until
// that drops below alpha, so that early estimates are averages of what was seen rather
// than biased towards the starting value (a variance starting at 0 would otherwise need
// ~2/alpha points to grow, and alert on everything meanwhile).
inline double warm_alpha(double alpha, std::uint64_t n) {
    return std::max(alpha, 1.0 / static_cast<double>(n + 1));
}

// Exponentially weighted mean and variance (West 1979 / Finch 2009 incremental form).
// Once `clip_after` points have been seen, the squared deviation fed to the variance is
// capped at (clip_z * sd)^2, so a single huge spike does not blind the detector for the
// next dozens of points, while a genuine variance increase (deviations of a few sd)
// still comes through in full.
struct EwStats {
    double mean = 0;
    double var = 0;
    std::uint64_t n = 0;

    double sd() const { return std::sqrt(std::max(var, 0.0)); }

    void add(double x, double alpha, double clip_z = 5.0, std::uint64_t clip_after = 10) {
        if (n == 0) {
            mean = x;
            var = 0;
            n = 1;
            return;
        }
        const double d = x - mean;
        double d2 = d * d;
        if (n >= clip_after) {
            const double cap = clip_z * std::max(sd(), sd_floor(mean));
            d2 = std::min(d2, cap * cap);
        }
        const double a = warm_alpha(alpha, n);
        mean += a * d;
        var = (1.0 - a) * (var + a * d2);
        ++n;
    }

    nlohmann::json save() const { return {{"mean", mean}, {"var", var}, {"n", n}}; }
    void load(const nlohmann::json& j) {
        mean = j.at("mean").get<double>();
        var = j.at("var").get<double>();
        n = j.at("n").get<std::uint64_t>();
    }
};

// Exponentially weighted variance of a quantity whose mean is 0 by construction (one-step
// forecast errors): a forecaster that is persistently off (a trend it lags) should get a
// wide interval, not a narrow one around its own bias. Clipped like EwStats.
struct EwVar {
    double var = 0;
    std::uint64_t n = 0;

    double sd() const { return std::sqrt(std::max(var, 0.0)); }

    void add(double err, double alpha, double clip_z = 5.0, std::uint64_t clip_after = 10) {
        double e2 = err * err;
        if (n == 0) {
            var = e2;
            n = 1;
            return;
        }
        if (n >= clip_after) {
            const double cap = clip_z * sd();
            e2 = std::min(e2, cap * cap);
        }
        const double a = warm_alpha(alpha, n);
        var = (1.0 - a) * var + a * e2;
        ++n;
    }

    nlohmann::json save() const { return {{"var", var}, {"n", n}}; }
    void load(const nlohmann::json& j) {
        var = j.at("var").get<double>();
        n = j.at("n").get<std::uint64_t>();
    }
};

// Checks that `j` was saved by a detector called `name`; throws std::invalid_argument.
void check_type(const nlohmann::json& j, std::string_view name);

} // namespace homeostat::engine::detect
