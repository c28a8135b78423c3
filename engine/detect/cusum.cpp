#include "engine/detect/cusum.h"

#include <stdexcept>

namespace homeostat::engine::detect {

Cusum::Cusum(CusumConfig config) : config_(config) {
    if (!(config_.drift >= 0) || !(config_.threshold > 0) || !(config_.clip_z > 0) ||
        !(config_.ref_alpha > 0 && config_.ref_alpha <= 1) || config_.warmup < 2)
        throw std::invalid_argument("Cusum: need drift >= 0, threshold > 0, clip_z > 0, "
                                    "ref_alpha in (0,1], warmup >= 2");
}

Score Cusum::update(const Point& p) {
    Score s;
    s.observed = p.value;
    s.expected = ref_.n ? ref_.mean : p.value;
    const double sd = std::max(ref_.sd(), sd_floor(s.expected));
    // The interval is where a sustained level would not alarm within threshold/drift
    // points; for the evidence, the ±3 sd band of the reference is clearer.
    s.lower = s.expected - kIntervalZ * sd;
    s.upper = s.expected + kIntervalZ * sd;
    s.warm = ref_.n >= config_.warmup;
    if (!std::isfinite(p.value)) return s;
    const double dev = p.value - s.expected;
    if (!s.warm) {
        ref_.add(p.value, config_.ref_alpha);
        return s;
    }
    if (relearning_ > 0) {
        ref_.mean += (p.value - ref_.mean) / static_cast<double>(++relearning_);
        if (relearning_ > config_.relearn) relearning_ = 0;
        return s;
    }
    const double z = std::clamp(dev / sd, -config_.clip_z, config_.clip_z);
    pos_ = std::max(0.0, pos_ + z - config_.drift);
    neg_ = std::max(0.0, neg_ - z - config_.drift);
    const double r = std::max(pos_, neg_) / config_.threshold;
    const double t = std::clamp((r - 0.5) / 0.5, 0.0, 1.0);
    s.score = t * t * (3.0 - 2.0 * t);
    if (r >= 1.0) {
        ++alarms_;
        pos_ = neg_ = 0;
        ref_.mean = p.value; // the new level, averaged over the next points
        relearning_ = config_.relearn > 0 ? 1 : 0;
        return s;
    }
    ref_.add(s.expected + std::clamp(dev, -kIntervalZ * sd, kIntervalZ * sd), config_.ref_alpha);
    return s;
}

nlohmann::json Cusum::save() const {
    return {{"type", kName},
            {"params",
             {{"drift", config_.drift},
              {"threshold", config_.threshold},
              {"ref_alpha", config_.ref_alpha},
              {"clip_z", config_.clip_z},
              {"warmup", config_.warmup},
              {"relearn", config_.relearn}}},
            {"state",
             {{"ref", ref_.save()},
              {"pos", pos_},
              {"neg", neg_},
              {"alarms", alarms_},
              {"relearning", relearning_}}}};
}

void Cusum::load(const nlohmann::json& j) {
    check_type(j, kName);
    const auto& pa = j.at("params");
    *this = Cusum(CusumConfig{pa.at("drift").get<double>(), pa.at("threshold").get<double>(),
                              pa.at("ref_alpha").get<double>(), pa.at("clip_z").get<double>(),
                              pa.at("warmup").get<std::uint64_t>(), pa.at("relearn").get<std::uint64_t>()});
    const auto& st = j.at("state");
    ref_.load(st.at("ref"));
    pos_ = st.at("pos").get<double>();
    neg_ = st.at("neg").get<double>();
    alarms_ = st.at("alarms").get<std::uint64_t>();
    relearning_ = st.at("relearning").get<std::uint64_t>();
}

} // namespace homeostat::engine::detect
