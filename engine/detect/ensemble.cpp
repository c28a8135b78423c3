#include "engine/detect/ensemble.h"

#include <stdexcept>
#include <string>

#include "engine/detect/cusum.h"
#include "engine/detect/ew_zscore.h"
#include "engine/detect/exp_smoothing.h"
#include "engine/detect/holt.h"
#include "engine/detect/poisson_rate.h"
#include "engine/detect/robust_mad.h"
#include "engine/detect/rolling_zscore.h"
#include "engine/detect/seasonal.h"

namespace homeostat::engine::detect {

std::string_view severity_name(Severity s) {
    switch (s) {
    case Severity::none: return "none";
    case Severity::warning: return "warning";
    case Severity::critical: return "critical";
    }
    return "none";
}

namespace {

void check_config(const EnsembleConfig& c) {
    auto unit = [](double x) { return x >= 0 && x <= 1; };
    if (!unit(c.open_threshold) || !unit(c.close_threshold) || !unit(c.critical_threshold) ||
        !unit(c.fired_threshold) || c.close_threshold > c.open_threshold ||
        c.open_threshold > c.critical_threshold || c.open_points == 0 || c.close_points == 0)
        throw std::invalid_argument("Ensemble: need 0 <= close <= open <= critical <= 1, "
                                    "fired in [0,1], open_points and close_points >= 1");
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
    : config_(config), detectors_(std::move(detectors)) {
    check_config(config_);
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
    } else {
        // Learning, or a gap: no evidence either way, the hysteresis state stays as it is.
        r.open = open_;
        r.severity = severity_;
        r.since_ns = since_ns_;
        r.peak = peak_;
        last_ = r;
        return last_;
    }

    const double s = r.score.score;
    if (!open_) {
        if (s >= config_.open_threshold) {
            if (above_++ == 0) run_start_ns_ = p.t_ns;
            if (above_ >= config_.open_points) {
                open_ = true;
                r.opened = true;
                since_ns_ = run_start_ns_;
                peak_ = 0;
                severity_ = Severity::warning;
                below_ = 0;
                above_ = 0;
            }
        } else {
            above_ = 0;
        }
    }
    if (open_) {
        peak_ = std::max(peak_, s);
        if (s >= config_.critical_threshold) severity_ = Severity::critical;
        if (s < config_.close_threshold) {
            if (++below_ >= config_.close_points) {
                open_ = false;
                r.resolved = true;
                below_ = 0;
            }
        } else {
            below_ = 0;
        }
    }
    r.open = open_;
    // The resolving point still reports what resolved (severity, since, peak).
    r.severity = (open_ || r.resolved) ? severity_ : Severity::none;
    r.since_ns = (open_ || r.resolved) ? since_ns_ : 0;
    r.peak = (open_ || r.resolved) ? peak_ : 0;
    if (r.resolved) {
        severity_ = Severity::none;
        since_ns_ = 0;
        peak_ = 0;
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
            {"state",
             {{"n", n_},
              {"above", above_},
              {"below", below_},
              {"run_start_ns", run_start_ns_},
              {"open", open_},
              {"severity", static_cast<int>(severity_)},
              {"since_ns", since_ns_},
              {"peak", peak_}}}};
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
    e.above_ = st.at("above").get<std::uint32_t>();
    e.below_ = st.at("below").get<std::uint32_t>();
    e.run_start_ns_ = st.at("run_start_ns").get<std::int64_t>();
    e.open_ = st.at("open").get<bool>();
    const int sev = st.at("severity").get<int>();
    if (sev < 0 || sev > static_cast<int>(Severity::critical))
        throw std::invalid_argument("Ensemble: bad severity");
    e.severity_ = static_cast<Severity>(sev);
    e.since_ns_ = st.at("since_ns").get<std::int64_t>();
    e.peak_ = st.at("peak").get<double>();
    *this = std::move(e);
}

std::unique_ptr<Ensemble> make_default_ensemble(EnsembleConfig config) {
    std::vector<std::unique_ptr<Detector>> d;
    d.push_back(std::make_unique<ExpSmoothing>());
    d.push_back(std::make_unique<Holt>());
    d.push_back(std::make_unique<EwZScore>());
    d.push_back(std::make_unique<RobustMad>());
    d.push_back(std::make_unique<Cusum>());
    return std::make_unique<Ensemble>(std::move(d), config);
}

const std::vector<std::string_view>& detector_names() {
    static const std::vector<std::string_view> names = {
        ExpSmoothing::kName, Holt::kName,          EwZScore::kName, RobustMad::kName, Cusum::kName,
        PoissonRate::kName,  RollingZScore::kName, Seasonal::kName, Ensemble::kName};
    return names;
}

std::unique_ptr<Detector> make_detector(std::string_view name) {
    if (name == ExpSmoothing::kName) return std::make_unique<ExpSmoothing>();
    if (name == Holt::kName) return std::make_unique<Holt>();
    if (name == EwZScore::kName) return std::make_unique<EwZScore>();
    if (name == RobustMad::kName) return std::make_unique<RobustMad>();
    if (name == Cusum::kName) return std::make_unique<Cusum>();
    if (name == RollingZScore::kName) return std::make_unique<RollingZScore>();
    if (name == PoissonRate::kName) return std::make_unique<PoissonRate>();
    if (name == Seasonal::kName) return std::make_unique<Seasonal>();
    if (name == Ensemble::kName) return make_default_ensemble();
    return nullptr;
}

} // namespace homeostat::engine::detect
