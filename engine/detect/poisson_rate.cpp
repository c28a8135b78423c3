#include "engine/detect/poisson_rate.h"

#include <stdexcept>

namespace homeostat::engine::detect {

PoissonRate::PoissonRate(PoissonRateConfig config) : config_(config) {
    if (!(config_.alpha > 0 && config_.alpha <= 1) || !(config_.min_volume >= 0) ||
        !(config_.min_events >= 0) || !(config_.rate_floor > 0) || config_.warmup < 1)
        throw std::invalid_argument("PoissonRate: need alpha in (0,1], min_volume >= 0, "
                                    "min_events >= 0, rate_floor > 0, warmup >= 1");
}

double PoissonRate::anscombe_z(double x, double lambda) {
    return 2.0 * (std::sqrt(std::max(x, 0.0) + 0.375) - std::sqrt(std::max(lambda, 0.0) + 0.375));
}

Score PoissonRate::score(double observed, double lambda, bool warm, bool two_sided, bool enough) const {
    Score s;
    s.observed = observed;
    s.expected = lambda;
    // Counts whose |z| is kIntervalZ: invert z = 2 (sqrt(x + 3/8) - sqrt(lambda + 3/8)).
    const double root = std::sqrt(lambda + 0.375);
    const double lo = root - kIntervalZ / 2;
    s.lower = lo > 0 ? std::max(0.0, lo * lo - 0.375) : 0.0;
    s.upper = (root + kIntervalZ / 2) * (root + kIntervalZ / 2) - 0.375;
    s.warm = warm;
    if (warm && enough) {
        const double z = anscombe_z(observed, lambda);
        s.score = (two_sided || z > 0) ? z_to_score(z) : 0.0;
    }
    return s;
}

Score PoissonRate::update(const Point& p) {
    const double lambda = std::max(count_n_ ? count_mean_ : p.value, config_.rate_floor);
    if (!std::isfinite(p.value) || p.value < 0)
        return score(p.value, lambda, count_n_ >= config_.warmup, true, false);
    const bool enough = std::max(lambda, p.value) >= config_.min_volume;
    Score s = score(p.value, lambda, count_n_ >= config_.warmup, true, enough);
    count_mean_ =
        count_n_ ? count_mean_ + warm_alpha(config_.alpha, count_n_) * (p.value - count_mean_) : p.value;
    ++count_n_;
    return s;
}

Score PoissonRate::update_ratio(const Point& errors, double trials) {
    const double x = errors.value;
    const double ratio = trials_ > 0 ? events_ / trials_ : 0.0;
    const bool valid = std::isfinite(x) && std::isfinite(trials) && x >= 0 && trials >= x;
    const double lambda = std::max(ratio * (valid ? trials : 0.0), config_.rate_floor);
    const bool warm = ratio_n_ >= config_.warmup;
    if (!valid) return score(x, lambda, warm, false, false);
    const bool enough = trials >= config_.min_volume && x >= config_.min_events;
    Score s = score(x, lambda, warm, false, enough);
    // EW sums, not an EW mean of ratios: 1/2 in a quiet interval must not weigh as much as
    // 100/200 in a busy one.
    const double a = warm_alpha(config_.alpha, ratio_n_);
    events_ = (1 - a) * events_ + a * x;
    trials_ = (1 - a) * trials_ + a * trials;
    ++ratio_n_;
    return s;
}

nlohmann::json PoissonRate::save() const {
    return {{"type", kName},
            {"params",
             {{"alpha", config_.alpha},
              {"min_volume", config_.min_volume},
              {"min_events", config_.min_events},
              {"rate_floor", config_.rate_floor},
              {"warmup", config_.warmup}}},
            {"state",
             {{"count_mean", count_mean_},
              {"count_n", count_n_},
              {"events", events_},
              {"trials", trials_},
              {"ratio_n", ratio_n_}}}};
}

void PoissonRate::load(const nlohmann::json& j) {
    check_type(j, kName);
    const auto& pa = j.at("params");
    *this = PoissonRate(PoissonRateConfig{
        pa.at("alpha").get<double>(), pa.at("min_volume").get<double>(), pa.at("min_events").get<double>(),
        pa.at("rate_floor").get<double>(), pa.at("warmup").get<std::uint64_t>()});
    const auto& st = j.at("state");
    count_mean_ = st.at("count_mean").get<double>();
    count_n_ = st.at("count_n").get<std::uint64_t>();
    events_ = st.at("events").get<double>();
    trials_ = st.at("trials").get<double>();
    ratio_n_ = st.at("ratio_n").get<std::uint64_t>();
}

} // namespace homeostat::engine::detect
