#include "engine/detect/drift.h"

#include <stdexcept>

namespace homeostat::engine::detect {

namespace {
constexpr double kClipZ = 4.0;
} // namespace

Drift::Drift(DriftConfig config) : config_(config) {
    const auto& c = config_;
    if (!unit_rate(c.short_alpha) || !unit_rate(c.long_alpha) || !unit_rate(c.noise_alpha) ||
        !(c.long_alpha < c.short_alpha) || c.warmup < 2)
        throw std::invalid_argument("Drift: rates must be in (0,1], long_alpha < short_alpha, warmup >= 2");
}

Score Drift::update(const Point& p) {
    Score s;
    s.observed = p.value;
    s.expected = n_ ? long_ : p.value;
    const double sigma = std::max(std::sqrt(0.5 * diff_.var), sd_floor(s.expected));
    s.lower = s.expected - kIntervalZ * sigma;
    s.upper = s.expected + kIntervalZ * sigma;
    s.warm = n_ >= config_.warmup;
    if (!std::isfinite(p.value)) return s;
    if (n_ == 0) {
        short_ = long_ = prev_ = p.value;
        n_ = 1;
        return s;
    }
    diff_.add(p.value - prev_, config_.noise_alpha);
    prev_ = p.value;
    const double as = warm_alpha(config_.short_alpha, n_), al = warm_alpha(config_.long_alpha, n_);
    // The short mean learns values clipped at long ± kClipZ sigma: a spike (one window
    // of a loaded host) moves it by at most a_s * kClipZ sigma (z ~1.7), a sustained move
    // by that every point.
    const double x = n_ > config_.warmup ? std::clamp(p.value, long_ - kClipZ * sigma, long_ + kClipZ * sigma)
                                         : p.value;
    short_ += as * (x - short_);
    if (s.warm) {
        const double spread = sigma * std::sqrt(config_.short_alpha / (2 - config_.short_alpha) +
                                                config_.long_alpha / (2 - config_.long_alpha));
        s.score = z_to_score((short_ - long_) / spread);
    }
    long_ += al * (p.value - long_);
    ++n_;
    return s;
}

nlohmann::json Drift::save() const {
    const auto& c = config_;
    return {{"type", kName},
            {"params",
             {{"short_alpha", c.short_alpha},
              {"long_alpha", c.long_alpha},
              {"noise_alpha", c.noise_alpha},
              {"warmup", c.warmup}}},
            {"state", {{"short", short_}, {"long", long_}, {"prev", prev_}, {"diff", diff_.save()}, {"n", n_}}}};
}

void Drift::load(const nlohmann::json& j) {
    check_type(j, kName);
    const auto& pa = j.at("params");
    *this = Drift(DriftConfig{pa.at("short_alpha").get<double>(), pa.at("long_alpha").get<double>(),
                              pa.at("noise_alpha").get<double>(), pa.at("warmup").get<std::uint64_t>()});
    const auto& st = j.at("state");
    short_ = st.at("short").get<double>();
    long_ = st.at("long").get<double>();
    prev_ = st.at("prev").get<double>();
    diff_.load(st.at("diff"));
    n_ = st.at("n").get<std::uint64_t>();
}

} // namespace homeostat::engine::detect
