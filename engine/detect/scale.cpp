#include "engine/detect/scale.h"

#include <stdexcept>

namespace homeostat::engine::detect {

namespace {
constexpr double kLongClipZ = 2.5; // see the header
} // namespace

Scale::Scale(ScaleConfig config) : config_(config) {
    const auto& c = config_;
    if (!unit_rate(c.short_alpha) || !unit_rate(c.long_alpha) || !(c.long_alpha < c.short_alpha) ||
        !(c.clip_z > 0) || c.warmup < 2)
        throw std::invalid_argument("Scale: rates must be in (0,1], long_alpha < short_alpha, clip_z > 0, "
                                    "warmup >= 2");
}

Score Scale::update(const Point& p) {
    Score s;
    s.observed = p.value;
    s.expected = n_ ? prev_ : p.value;
    const double sd = std::max(long_.sd(), sd_floor(s.expected));
    s.lower = s.expected - kIntervalZ * sd;
    s.upper = s.expected + kIntervalZ * sd;
    s.warm = n_ >= config_.warmup;
    if (!std::isfinite(p.value)) return s;
    if (n_ == 0) {
        prev_ = p.value;
        n_ = 1;
        return s;
    }
    const double d = p.value - prev_;
    prev_ = p.value;
    const double cap = config_.clip_z * sd;
    const double d2 = n_ > 10 ? std::min(d * d, cap * cap) : d * d;
    short_ += warm_alpha(config_.short_alpha, n_ - 1) * (d2 - short_);
    if (s.warm) {
        const double a = config_.short_alpha;
        const double z = std::log(std::max(short_, 1e-300) / (sd * sd)) / std::sqrt(3 * a / (2 - a));
        s.score = z > 0 ? z_to_score(z) : 0.0;
    }
    long_.add(d, config_.long_alpha, kLongClipZ);
    ++n_;
    return s;
}

nlohmann::json Scale::save() const {
    const auto& c = config_;
    return {{"type", kName},
            {"params",
             {{"short_alpha", c.short_alpha},
              {"long_alpha", c.long_alpha},
              {"clip_z", c.clip_z},
              {"warmup", c.warmup}}},
            {"state", {{"prev", prev_}, {"short", short_}, {"long", long_.save()}, {"n", n_}}}};
}

void Scale::load(const nlohmann::json& j) {
    check_type(j, kName);
    const auto& pa = j.at("params");
    *this = Scale(ScaleConfig{pa.at("short_alpha").get<double>(), pa.at("long_alpha").get<double>(),
                              pa.at("clip_z").get<double>(), pa.at("warmup").get<std::uint64_t>()});
    const auto& st = j.at("state");
    prev_ = st.at("prev").get<double>();
    short_ = st.at("short").get<double>();
    long_.load(st.at("long"));
    n_ = st.at("n").get<std::uint64_t>();
}

} // namespace homeostat::engine::detect
