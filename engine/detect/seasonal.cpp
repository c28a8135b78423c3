#include "engine/detect/seasonal.h"

#include <stdexcept>

namespace homeostat::engine::detect {

namespace {
constexpr std::int64_t kNsPerS = 1'000'000'000;
constexpr double kLearnClipZ = 4.0;
constexpr double kResidualAlpha = 0.01; // series-wide: slow, it is a floor not a baseline
} // namespace

Seasonal::Seasonal(SeasonalConfig config) : config_(config) {
    const auto& c = config_;
    if (c.slot_seconds <= 0 || c.period_seconds <= 0 || c.period_seconds % c.slot_seconds != 0 ||
        c.period_seconds / c.slot_seconds > kMaxSlots || !unit_rate(c.alpha) || c.min_periods < 1 ||
        c.min_slot_points < 1 || !(c.global_sd_fraction >= 0))
        throw std::invalid_argument("Seasonal: slot_seconds must divide period_seconds into at most 16384 "
                                    "slots, alpha in (0,1], min_periods and min_slot_points >= 1, "
                                    "global_sd_fraction >= 0");
    slots_.resize(static_cast<std::size_t>(c.period_seconds / c.slot_seconds));
}

std::size_t Seasonal::slot_of(std::int64_t t_ns) const {
    // Floor division, so timestamps before 1970 land in the right slot too.
    const std::int64_t slot_ns = config_.slot_seconds * kNsPerS;
    std::int64_t k = t_ns / slot_ns;
    if (t_ns % slot_ns < 0) --k;
    const auto n = static_cast<std::int64_t>(slots_.size());
    return static_cast<std::size_t>(((k % n) + n) % n);
}

Score Seasonal::update(const Point& p) {
    Score s;
    s.observed = p.value;
    if (!std::isfinite(p.value)) return s;
    if (!started_) {
        started_ = true;
        first_ns_ = p.t_ns;
    }
    EwStats& st = slots_[slot_of(p.t_ns)];
    s.expected = st.n ? st.mean : p.value;
    const double sd = std::max({st.sd(), config_.global_sd_fraction * residual_.sd(), sd_floor(s.expected)});
    s.lower = s.expected - kIntervalZ * sd;
    s.upper = s.expected + kIntervalZ * sd;
    // Full periods since the first point (a series whose clock goes backwards is not
    // "older" for it).
    const std::int64_t seen = p.t_ns - first_ns_;
    s.warm = seen >= static_cast<std::int64_t>(config_.min_periods) * config_.period_seconds * kNsPerS &&
             st.n >= config_.min_slot_points;
    const double dev = p.value - s.expected;
    if (s.warm) s.score = z_to_score(dev / sd);
    if (st.n > 0) residual_.add(dev, kResidualAlpha);
    // Learn, winsorised once the slot is warm (see the header).
    const double x = st.n >= config_.min_slot_points
                         ? s.expected + std::clamp(dev, -kLearnClipZ * sd, kLearnClipZ * sd)
                         : p.value;
    st.add(x, config_.alpha);
    return s;
}

nlohmann::json Seasonal::save() const {
    // Slots as three parallel arrays: a weekly baseline is thousands of slots.
    std::vector<double> mean, var;
    std::vector<std::uint64_t> n;
    mean.reserve(slots_.size());
    var.reserve(slots_.size());
    n.reserve(slots_.size());
    for (const auto& st : slots_) {
        mean.push_back(st.mean);
        var.push_back(st.var);
        n.push_back(st.n);
    }
    const auto& c = config_;
    return {{"type", kName},
            {"params",
             {{"period_seconds", c.period_seconds},
              {"slot_seconds", c.slot_seconds},
              {"alpha", c.alpha},
              {"min_periods", c.min_periods},
              {"min_slot_points", c.min_slot_points},
              {"global_sd_fraction", c.global_sd_fraction}}},
            {"state",
             {{"mean", mean},
              {"var", var},
              {"n", n},
              {"residual", residual_.save()},
              {"first_ns", first_ns_},
              {"started", started_}}}};
}

void Seasonal::load(const nlohmann::json& j) {
    check_type(j, kName);
    const auto& pa = j.at("params");
    Seasonal d(SeasonalConfig{
        pa.at("period_seconds").get<std::int64_t>(), pa.at("slot_seconds").get<std::int64_t>(),
        pa.at("alpha").get<double>(), pa.at("min_periods").get<std::uint64_t>(),
        pa.at("min_slot_points").get<std::uint64_t>(), pa.at("global_sd_fraction").get<double>()});
    const auto& st = j.at("state");
    const auto mean = st.at("mean").get<std::vector<double>>();
    const auto var = st.at("var").get<std::vector<double>>();
    const auto n = st.at("n").get<std::vector<std::uint64_t>>();
    if (mean.size() != d.slots_.size() || var.size() != d.slots_.size() || n.size() != d.slots_.size())
        throw std::invalid_argument("Seasonal: saved slots do not match the period and slot width");
    for (std::size_t i = 0; i < d.slots_.size(); ++i)
        d.slots_[i] = EwStats{mean[i], var[i], n[i]};
    d.residual_.load(st.at("residual"));
    d.first_ns_ = st.at("first_ns").get<std::int64_t>();
    d.started_ = st.at("started").get<bool>();
    *this = std::move(d);
}

} // namespace homeostat::engine::detect
