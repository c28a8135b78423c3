#include "engine/detect/ew_zscore.h"

#include <stdexcept>

namespace homeostat::engine::detect {

EwZScore::EwZScore(EwZScoreConfig config) : config_(config) {
    if (!(config_.alpha > 0 && config_.alpha <= 1) || config_.warmup < 2)
        throw std::invalid_argument("EwZScore: alpha must be in (0,1], warmup >= 2");
}

Score EwZScore::update(const Point& p) {
    Score s;
    s.observed = p.value;
    s.expected = stats_.n ? stats_.mean : p.value;
    const double sd = std::max(stats_.sd(), sd_floor(s.expected));
    s.lower = s.expected - kIntervalZ * sd;
    s.upper = s.expected + kIntervalZ * sd;
    s.warm = stats_.n >= config_.warmup;
    if (!std::isfinite(p.value)) return s;
    if (s.warm) s.score = z_to_score((p.value - s.expected) / sd);
    stats_.add(p.value, config_.alpha);
    return s;
}

nlohmann::json EwZScore::save() const {
    return {{"type", kName},
            {"params", {{"alpha", config_.alpha}, {"warmup", config_.warmup}}},
            {"state", {{"stats", stats_.save()}}}};
}

void EwZScore::load(const nlohmann::json& j) {
    check_type(j, kName);
    const auto& pa = j.at("params");
    *this = EwZScore(EwZScoreConfig{pa.at("alpha").get<double>(), pa.at("warmup").get<std::uint64_t>()});
    stats_.load(j.at("state").at("stats"));
}

} // namespace homeostat::engine::detect
