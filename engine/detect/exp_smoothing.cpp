#include "engine/detect/exp_smoothing.h"

#include <stdexcept>

namespace homeostat::engine::detect {

ExpSmoothing::ExpSmoothing(ExpSmoothingConfig config) : config_(config) {
    if (!unit_rate(config_.alpha) || !unit_rate(config_.var_alpha) || config_.warmup < 2)
        throw std::invalid_argument("ExpSmoothing: alpha and var_alpha must be in (0,1], warmup >= 2");
}

Score ExpSmoothing::update(const Point& p) {
    Score s;
    s.observed = p.value;
    s.expected = level_;
    const double sd = std::max(error_.sd(), sd_floor(level_));
    s.lower = level_ - kIntervalZ * sd;
    s.upper = level_ + kIntervalZ * sd;
    s.warm = n_ >= config_.warmup;
    if (!std::isfinite(p.value)) return s;
    if (n_ == 0) {
        level_ = p.value;
        s.expected = s.lower = s.upper = p.value;
        n_ = 1;
        return s;
    }
    const double err = p.value - level_;
    if (s.warm) s.score = z_to_score(err / sd);
    error_.add(err, config_.var_alpha);
    level_ += config_.alpha * err;
    ++n_;
    return s;
}

nlohmann::json ExpSmoothing::save() const {
    return {
        {"type", kName},
        {"params", {{"alpha", config_.alpha}, {"var_alpha", config_.var_alpha}, {"warmup", config_.warmup}}},
        {"state", {{"level", level_}, {"error", error_.save()}, {"n", n_}}}};
}

void ExpSmoothing::load(const nlohmann::json& j) {
    check_type(j, kName);
    const auto& pa = j.at("params");
    ExpSmoothingConfig c{pa.at("alpha").get<double>(), pa.at("var_alpha").get<double>(),
                         pa.at("warmup").get<std::uint64_t>()};
    *this = ExpSmoothing(c);
    const auto& st = j.at("state");
    level_ = st.at("level").get<double>();
    error_.load(st.at("error"));
    n_ = st.at("n").get<std::uint64_t>();
}

} // namespace homeostat::engine::detect
