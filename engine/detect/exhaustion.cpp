#include "engine/detect/exhaustion.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace homeostat::engine::detect {

ExhaustionTrend::ExhaustionTrend(ExhaustionConfig config) : config_(config) {
    if (config_.min_points < 3 || config_.min_points > config_.window || config_.window > kMaxWindow ||
        !(config_.min_z >= 0))
        throw std::invalid_argument("ExhaustionTrend: need 3 <= min_points <= window <= 1024, min_z >= 0");
    t_.reserve(config_.window);
    y_.reserve(config_.window);
}

void ExhaustionTrend::add(std::int64_t t_ns, double bytes) {
    if (!std::isfinite(bytes)) return;
    if (!started_) {
        started_ = true;
        t0_ns_ = t_ns;
    }
    const double t = static_cast<double>(t_ns - t0_ns_) * 1e-9;
    if (t_.size() < config_.window) {
        t_.push_back(t);
        y_.push_back(bytes);
        return;
    }
    t_[head_] = t;
    y_[head_] = bytes;
    head_ = (head_ + 1) % config_.window;
}

std::optional<Exhaustion> ExhaustionTrend::predict(double limit) const {
    const std::size_t n = t_.size();
    if (n < config_.min_points) return std::nullopt;
    std::vector<double> slopes;
    slopes.reserve(n * (n - 1) / 2);
    long long s = 0; // Mann–Kendall S, by time order of each pair
    for (std::size_t i = 0; i < n; ++i)
        for (std::size_t j = i + 1; j < n; ++j) {
            const double dt = t_[j] - t_[i], dy = y_[j] - y_[i];
            if (dt == 0) continue; // two samples at one instant say nothing about a slope
            const double sign_t = dt > 0 ? 1 : -1;
            s += (dy * sign_t > 0) - (dy * sign_t < 0);
            slopes.push_back(dy / dt);
        }
    if (slopes.empty()) return std::nullopt;
    const double nn = static_cast<double>(n);
    const double sd_s = std::sqrt(nn * (nn - 1) * (2 * nn + 5) / 18.0);
    // Continuity-corrected, as usual for Mann–Kendall.
    if ((static_cast<double>(s) - 1) / sd_s <= config_.min_z) return std::nullopt;

    auto mid = slopes.begin() + static_cast<std::ptrdiff_t>(slopes.size() / 2);
    std::nth_element(slopes.begin(), mid, slopes.end());
    const double slope = *mid;
    if (!(slope > 0)) return std::nullopt;
    // Intercept: the median of y - slope * t (Sen), then the line at the newest sample.
    std::vector<double> icpt(n);
    double t_last = t_[0];
    for (std::size_t i = 0; i < n; ++i) {
        icpt[i] = y_[i] - slope * t_[i];
        t_last = std::max(t_last, t_[i]);
    }
    auto im = icpt.begin() + static_cast<std::ptrdiff_t>(n / 2);
    std::nth_element(icpt.begin(), im, icpt.end());
    Exhaustion e;
    e.slope = slope;
    e.current = *im + slope * t_last;
    e.seconds_to_limit = std::max(0.0, (limit - e.current) / slope);
    return e;
}

} // namespace homeostat::engine::detect
