#include "engine/detect/robust_mad.h"

#include <algorithm>
#include <stdexcept>

namespace homeostat::engine::detect {

namespace {
// 1 / Phi^-1(3/4): scales the MAD of Gaussian data to its standard deviation.
constexpr double kMadToSd = 1.4826;
} // namespace

RobustMad::RobustMad(RobustMadConfig config) : config_(config) {
    if (config_.warmup < 3 || config_.warmup > config_.window || config_.window > kMaxWindow)
        throw std::invalid_argument("RobustMad: need 3 <= warmup <= window <= 4096");
    ring_.reserve(config_.window);
    sorted_.reserve(config_.window);
}

double RobustMad::median() const {
    const std::size_t n = sorted_.size();
    if (n == 0) return 0;
    return n % 2 ? sorted_[n / 2] : 0.5 * (sorted_[n / 2 - 1] + sorted_[n / 2]);
}

double RobustMad::mad() const {
    // The absolute deviations below the median, read from the median downwards, and those
    // above it, read upwards, are both ascending: merge them until the middle rank.
    const std::size_t n = sorted_.size();
    if (n == 0) return 0;
    const double m = median();
    auto hi = std::lower_bound(sorted_.begin(), sorted_.end(), m) - sorted_.begin();
    std::ptrdiff_t lo = hi - 1;                               // sorted_[lo] < m <= sorted_[hi]
    const std::size_t want_lo = (n - 1) / 2, want_hi = n / 2; // ranks to average
    double a = 0, b = 0;
    for (std::size_t rank = 0; rank <= want_hi; ++rank) {
        double d;
        const bool take_hi =
            lo < 0 || (static_cast<std::size_t>(hi) < n && sorted_[hi] - m <= m - sorted_[lo]);
        if (take_hi)
            d = sorted_[hi++] - m;
        else
            d = m - sorted_[lo--];
        if (rank == want_lo) a = d;
        if (rank == want_hi) b = d;
    }
    return 0.5 * (a + b);
}

Score RobustMad::update(const Point& p) {
    Score s;
    s.observed = p.value;
    s.expected = sorted_.empty() ? p.value : median();
    const double sd = std::max(kMadToSd * mad(), sd_floor(s.expected));
    s.lower = s.expected - kIntervalZ * sd;
    s.upper = s.expected + kIntervalZ * sd;
    s.warm = sorted_.size() >= config_.warmup;
    if (!std::isfinite(p.value)) return s;
    if (s.warm) s.score = z_to_score((p.value - s.expected) / sd);
    if (ring_.size() < config_.window) {
        ring_.push_back(p.value);
        sorted_.insert(std::upper_bound(sorted_.begin(), sorted_.end(), p.value), p.value);
        return s;
    }
    // Replace the oldest value: erase it from the sorted copy, insert the new one.
    const double old = ring_[head_];
    ring_[head_] = p.value;
    head_ = (head_ + 1) % config_.window;
    auto it_old = std::lower_bound(sorted_.begin(), sorted_.end(), old);
    auto it_new = std::upper_bound(sorted_.begin(), sorted_.end(), p.value);
    // One shift of the values between the two positions instead of erase + insert.
    if (it_new <= it_old) {
        std::move_backward(it_new, it_old, it_old + 1);
        *it_new = p.value;
    } else {
        std::move(it_old + 1, it_new, it_old);
        *(it_new - 1) = p.value;
    }
    return s;
}

nlohmann::json RobustMad::save() const {
    // The window in arrival order, oldest first: enough to rebuild both copies.
    std::vector<double> ordered;
    ordered.reserve(ring_.size());
    for (std::size_t i = 0; i < ring_.size(); ++i)
        ordered.push_back(ring_[(head_ + i) % ring_.size()]);
    return {{"type", kName},
            {"params", {{"window", config_.window}, {"warmup", config_.warmup}}},
            {"state", {{"values", ordered}}}};
}

void RobustMad::load(const nlohmann::json& j) {
    check_type(j, kName);
    const auto& pa = j.at("params");
    *this =
        RobustMad(RobustMadConfig{pa.at("window").get<std::size_t>(), pa.at("warmup").get<std::size_t>()});
    const auto values = j.at("state").at("values").get<std::vector<double>>();
    if (values.size() > config_.window)
        throw std::invalid_argument("RobustMad: saved window larger than the window size");
    for (double v : values) {
        if (!std::isfinite(v))
            throw std::invalid_argument("RobustMad: saved window holds a non-finite value");
        ring_.push_back(v);
        sorted_.insert(std::upper_bound(sorted_.begin(), sorted_.end(), v), v);
    }
}

} // namespace homeostat::engine::detect
