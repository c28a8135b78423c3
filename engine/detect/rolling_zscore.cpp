#include "engine/detect/rolling_zscore.h"

#include <stdexcept>

namespace homeostat::engine::detect {

RollingZScore::RollingZScore(RollingZScoreConfig config) : config_(config) {
    if (config_.warmup < 3 || config_.warmup > config_.window || config_.window > kMaxWindow)
        throw std::invalid_argument("RollingZScore: need 3 <= warmup <= window <= 65536");
    ring_.reserve(config_.window);
}

void RollingZScore::recompute() {
    sum_ = sumsq_ = 0;
    for (double x : ring_) {
        sum_ += x - shift_;
        sumsq_ += (x - shift_) * (x - shift_);
    }
    since_recompute_ = 0;
}

Score RollingZScore::update(const Point& p) {
    Score s;
    s.observed = p.value;
    const auto n = static_cast<double>(ring_.size());
    const double mean = ring_.empty() ? p.value : shift_ + sum_ / n;
    // Sample variance; clamped at 0 against rounding.
    const double var = n > 1 ? std::max(0.0, (sumsq_ - sum_ * sum_ / n) / (n - 1)) : 0.0;
    const double sd = std::max(std::sqrt(var), sd_floor(mean));
    s.expected = mean;
    s.lower = mean - kIntervalZ * sd;
    s.upper = mean + kIntervalZ * sd;
    s.warm = ring_.size() >= config_.warmup;
    if (!std::isfinite(p.value)) return s;
    if (s.warm) s.score = z_to_score((p.value - mean) / sd);
    if (ring_.empty()) shift_ = p.value;
    const double x = p.value - shift_;
    if (ring_.size() < config_.window) {
        ring_.push_back(p.value);
    } else {
        const double old = ring_[head_] - shift_;
        ring_[head_] = p.value;
        head_ = (head_ + 1) % config_.window;
        sum_ -= old;
        sumsq_ -= old * old;
    }
    sum_ += x;
    sumsq_ += x * x;
    if (++since_recompute_ >= config_.window) recompute();
    return s;
}

nlohmann::json RollingZScore::save() const {
    // The ring as stored plus the running sums: restoring the sums (rather than summing
    // the values again) keeps the next scores bit-identical.
    return {{"type", kName},
            {"params", {{"window", config_.window}, {"warmup", config_.warmup}}},
            {"state",
             {{"ring", ring_},
              {"head", head_},
              {"shift", shift_},
              {"sum", sum_},
              {"sumsq", sumsq_},
              {"since_recompute", since_recompute_}}}};
}

void RollingZScore::load(const nlohmann::json& j) {
    check_type(j, kName);
    const auto& pa = j.at("params");
    *this = RollingZScore(
        RollingZScoreConfig{pa.at("window").get<std::size_t>(), pa.at("warmup").get<std::size_t>()});
    const auto& st = j.at("state");
    ring_ = st.at("ring").get<std::vector<double>>();
    head_ = st.at("head").get<std::size_t>();
    if (ring_.size() > config_.window || (head_ != 0 && head_ >= ring_.size()))
        throw std::invalid_argument("RollingZScore: saved ring does not fit the window");
    shift_ = st.at("shift").get<double>();
    sum_ = st.at("sum").get<double>();
    sumsq_ = st.at("sumsq").get<double>();
    since_recompute_ = st.at("since_recompute").get<std::size_t>();
}

} // namespace homeostat::engine::detect
