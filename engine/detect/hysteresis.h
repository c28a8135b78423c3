// Turns a stream of anomaly scores in [0,1] into anomalies that open and resolve without
// flapping, with a severity. Shared by the Ensemble (its combined score) and the live
// monitor (scores gated by effect size).
//
// An anomaly opens after `open_points` consecutive scores >= open_threshold and resolves
// after `close_points` consecutive scores below close_threshold; between the two
// thresholds it keeps its state, so a score hovering around the open threshold opens once.
// Severity starts at warning and escalates to critical (never back while open) once a
// score of the anomaly reaches critical_threshold.
#pragma once

#include <cstdint>
#include <string_view>

#include <nlohmann/json.hpp>

namespace homeostat::engine::detect {

enum class Severity : std::uint8_t { none, warning, critical };
std::string_view severity_name(Severity s);

struct HysteresisConfig {
    double open_threshold = 0.8;
    double close_threshold = 0.5;
    std::uint32_t open_points = 2;  // k
    std::uint32_t close_points = 5; // m
    double critical_threshold = 0.95;
};

class Hysteresis {
public:
    // Throws std::invalid_argument unless 0 <= close <= open <= critical <= 1 and both
    // point counts are >= 1.
    explicit Hysteresis(HysteresisConfig config = {});

    struct Step {
        bool opened = false;   // an anomaly opened on this score
        bool resolved = false; // an anomaly resolved on this score
    };
    // One score at time t_ns (the caller's axis; kept as the anomaly's start).
    Step step(double score, std::int64_t t_ns);

    bool open() const { return open_; }
    Severity severity() const { return severity_; }
    std::int64_t since_ns() const { return since_ns_; } // t of the first score of the opening run
    double peak() const { return peak_; }               // highest score of the open anomaly
    const HysteresisConfig& config() const { return config_; }

    nlohmann::json save_state() const;
    // Throws std::invalid_argument / nlohmann::json::exception on a malformed state.
    void load_state(const nlohmann::json& j);

private:
    HysteresisConfig config_;
    std::uint32_t above_ = 0; // consecutive scores >= open_threshold while closed
    std::uint32_t below_ = 0; // consecutive scores < close_threshold while open
    std::int64_t run_start_ns_ = 0;
    bool open_ = false;
    Severity severity_ = Severity::none;
    std::int64_t since_ns_ = 0;
    double peak_ = 0;
};

} // namespace homeostat::engine::detect
