#include "engine/detect/ensemble.h"

#include <stdexcept>
#include <string>

#include "engine/detect/cusum.h"
#include "engine/detect/drift.h"
#include "engine/detect/ew_zscore.h"
#include "engine/detect/exp_smoothing.h"
#include "engine/detect/holt.h"
#include "engine/detect/poisson_rate.h"
#include "engine/detect/robust_mad.h"
#include "engine/detect/rolling_zscore.h"
#include "engine/detect/scale.h"
#include "engine/detect/seasonal.h"

namespace homeostat::engine::detect {

namespace {

HysteresisConfig hysteresis_config(const EnsembleConfig& c) {
    if (!(c.fired_threshold >= 0 && c.fired_threshold <= 1))
        throw std::invalid_argument("Ensemble: fired_threshold must be in [0,1]");
    return {c.open_threshold, c.close_threshold, c.open_points, c.close_points, c.critical_threshold};
}

nlohmann::json config_json(const EnsembleConfig& c) {
    return {{"warmup", c.warmup},
            {"open_threshold", c.open_threshold},
            {"close_threshold", c.close_threshold},
            {"open_points", c.open_points},
            {"close_points", c.close_points},
            {"critical_threshold", c.critical_threshold},
            {"fired_threshold", c.fired_threshold}};
}

EnsembleConfig config_from_json(const nlohmann::json& j) {
    EnsembleConfig c;
    c.warmup = j.at("warmup").get<std::uint64_t>();
    c.open_threshold = j.at("open_threshold").get<double>();
    c.close_threshold = j.at("close_threshold").get<double>();
    c.open_points = j.at("open_points").get<std::uint32_t>();
    c.close_points = j.at("close_points").get<std::uint32_t>();
    c.critical_threshold = j.at("critical_threshold").get<double>();
    c.fired_threshold = j.at("fired_threshold").get<double>();
    return c;
}

} // namespace

Ensemble::Ensemble(std::vector<std::unique_ptr<Detector>> detectors, EnsembleConfig config)
    : config_(config), detectors_(std::move(detectors)), hysteresis_(hysteresis_config(config)) {
    if (detectors_.empty() || detectors_.size() > kMaxDetectors)
        throw std::invalid_argument("Ensemble: needs 1 to 32 detectors");
    for (const auto& d : detectors_)
        if (!d) throw std::invalid_argument("Ensemble: null detector");
    scores_.resize(detectors_.size());
}

const EnsembleResult& Ensemble::step(const Point& p) {
    // Every detector learns every point, warm or not.
    double top1 = 0, top2 = 0;
    int lead = -1;
    std::uint32_t fired = 0;
    for (std::size_t i = 0; i < detectors_.size(); ++i) {
        scores_[i] = detectors_[i]->update(p);
        const double s = scores_[i].score;
        if (s > top1) {
            top2 = top1;
            top1 = s;
            lead = static_cast<int>(i);
        } else if (s > top2) {
            top2 = s;
        }
        if (s >= config_.fired_threshold && s > 0) fired |= 1u << i;
    }
    const bool finite = std::isfinite(p.value);
    if (finite) ++n_;
    const bool warm = n_ > config_.warmup;

    EnsembleResult r;
    const Score& ev = scores_[lead >= 0 ? static_cast<std::size_t>(lead) : 0];
    r.score.expected = ev.expected;
    r.score.lower = ev.lower;
    r.score.upper = ev.upper;
    r.score.observed = p.value;
    r.score.warm = warm;
    if (warm && finite) {
        r.score.score = detectors_.size() == 1 ? top1 : 0.5 * (top1 + top2);
        r.fired = fired;
        r.lead = lead;
        const auto st = hysteresis_.step(r.score.score, p.t_ns);
        r.opened = st.opened;
        r.resolved = st.resolved;
    }
    // While learning, or on a gap, there is no evidence either way: the state stays.
    r.open = hysteresis_.open();
    // The resolving point still reports what resolved (severity, since, peak).
    if (r.open || r.resolved) {
        r.severity = hysteresis_.severity();
        r.since_ns = hysteresis_.since_ns();
        r.peak = hysteresis_.peak();
    }
    last_ = r;
    return last_;
}

std::vector<std::string_view> Ensemble::fired_names(std::uint32_t mask) const {
    std::vector<std::string_view> out;
    for (std::size_t i = 0; i < detectors_.size(); ++i)
        if (mask & (1u << i)) out.push_back(detectors_[i]->name());
    return out;
}

nlohmann::json Ensemble::save() const {
    nlohmann::json dets = nlohmann::json::array();
    for (const auto& d : detectors_)
        dets.push_back(d->save());
    return {{"type", kName},
            {"params", config_json(config_)},
            {"detectors", std::move(dets)},
            {"state", [&] {
                 auto st = hysteresis_.save_state();
                 st["n"] = n_;
                 return st;
             }()}};
}

void Ensemble::load(const nlohmann::json& j) {
    check_type(j, kName);
    std::vector<std::unique_ptr<Detector>> dets;
    for (const auto& dj : j.at("detectors")) {
        const auto& type = dj.at("type").get_ref<const std::string&>();
        auto d = make_detector(type);
        if (!d) throw std::invalid_argument("Ensemble: unknown detector type '" + type + "'");
        d->load(dj);
        dets.push_back(std::move(d));
    }
    Ensemble e(std::move(dets), config_from_json(j.at("params")));
    const auto& st = j.at("state");
    e.n_ = st.at("n").get<std::uint64_t>();
    e.hysteresis_.load_state(st);
    *this = std::move(e);
}

std::unique_ptr<Ensemble> make_default_ensemble(EnsembleConfig config) {
    std::vector<std::unique_ptr<Detector>> d;
    d.push_back(std::make_unique<ExpSmoothing>());
    d.push_back(std::make_unique<Holt>());
    d.push_back(std::make_unique<EwZScore>());
    d.push_back(std::make_unique<RobustMad>());
    d.push_back(std::make_unique<Cusum>());
    d.push_back(std::make_unique<Drift>());
    d.push_back(std::make_unique<Scale>());
    return std::make_unique<Ensemble>(std::move(d), config);
}

const std::vector<std::string_view>& detector_names() {
    static const std::vector<std::string_view> names = {
        ExpSmoothing::kName,  Holt::kName,    EwZScore::kName, RobustMad::kName, Cusum::kName,
        Drift::kName,         Scale::kName,   PoissonRate::kName, RollingZScore::kName,
        Seasonal::kName,      Ensemble::kName};
    return names;
}

std::unique_ptr<Detector> make_detector(std::string_view name) {
    if (name == ExpSmoothing::kName) return std::make_unique<ExpSmoothing>();
    if (name == Holt::kName) return std::make_unique<Holt>();
    if (name == EwZScore::kName) return std::make_unique<EwZScore>();
    if (name == RobustMad::kName) return std::make_unique<RobustMad>();
    if (name == Cusum::kName) return std::make_unique<Cusum>();
    if (name == Drift::kName) return std::make_unique<Drift>();
    if (name == Scale::kName) return std::make_unique<Scale>();
    if (name == RollingZScore::kName) return std::make_unique<RollingZScore>();
    if (name == PoissonRate::kName) return std::make_unique<PoissonRate>();
    if (name == Seasonal::kName) return std::make_unique<Seasonal>();
    if (name == Ensemble::kName) return make_default_ensemble();
    return nullptr;
}

} // namespace homeostat::engine::detect
