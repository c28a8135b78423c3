#include "engine/detect/holt.h"

#include <stdexcept>

namespace homeostat::engine::detect {

Holt::Holt(HoltConfig config) : config_(config) {
    if (!unit_rate(config_.alpha) || !unit_rate(config_.beta) || !unit_rate(config_.var_alpha) ||
        config_.warmup < 3)
        throw std::invalid_argument("Holt: alpha, beta and var_alpha must be in (0,1], warmup >= 3");
}

Score Holt::update(const Point& p) {
    Score s;
    s.observed = p.value;
    s.expected = forecast();
    const double sd = std::max(error_.sd(), sd_floor(s.expected));
    s.lower = s.expected - kIntervalZ * sd;
    s.upper = s.expected + kIntervalZ * sd;
    s.warm = n_ >= config_.warmup;
    if (!std::isfinite(p.value)) return s;
    if (n_ == 0) {
        // The trend starts at 0 rather than at the first difference, which in a noisy
        // series is mostly noise and would take ~1/beta points to unlearn.
        level_ = p.value;
        s.expected = s.lower = s.upper = p.value;
        n_ = 1;
        return s;
    }
    const double err = p.value - s.expected;
    if (s.warm) s.score = z_to_score(err / sd);
    error_.add(err, config_.var_alpha);
    const double prev_level = level_;
    level_ = s.expected + config_.alpha * err;
    trend_ += config_.beta * (level_ - prev_level - trend_);
    ++n_;
    return s;
}

nlohmann::json Holt::save() const {
    return {{"type", kName},
            {"params",
             {{"alpha", config_.alpha},
              {"beta", config_.beta},
              {"var_alpha", config_.var_alpha},
              {"warmup", config_.warmup}}},
            {"state", {{"level", level_}, {"trend", trend_}, {"error", error_.save()}, {"n", n_}}}};
}

void Holt::load(const nlohmann::json& j) {
    check_type(j, kName);
    const auto& pa = j.at("params");
    *this = Holt(HoltConfig{pa.at("alpha").get<double>(), pa.at("beta").get<double>(),
                            pa.at("var_alpha").get<double>(), pa.at("warmup").get<std::uint64_t>()});
    const auto& st = j.at("state");
    level_ = st.at("level").get<double>();
    trend_ = st.at("trend").get<double>();
    error_.load(st.at("error"));
    n_ = st.at("n").get<std::uint64_t>();
}

} // namespace homeostat::engine::detect
