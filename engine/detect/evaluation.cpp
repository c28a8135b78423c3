#include "engine/detect/evaluation.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <numbers>
#include <stdexcept>

#include "engine/detect/ensemble.h"
#include "engine/detect/gauss.h"
#include "engine/detect/hysteresis.h"

namespace homeostat::engine::detect::eval {

namespace {

// One point a minute from 2023-11-15 00:00:00 UTC (a midnight, so days are days).
constexpr std::int64_t kT0 = 1'700'006'400;
constexpr std::int64_t kStepS = 60;
constexpr std::size_t kPointsPerDay = 86400 / kStepS;

// Uniform, Gaussian and Poisson draws, all from one deterministic Gauss (gauss.h).
class Rng {
public:
    explicit Rng(std::uint64_t seed) : g_(seed) {}
    double uniform() { return g_.uniform(); } // (0, 1]
    double uniform(double lo, double hi) { return lo + (hi - lo) * (uniform() - 0x1.0p-53); }
    std::size_t index(std::size_t lo, std::size_t hi) { // [lo, hi]
        return lo + static_cast<std::size_t>(g_.bits() % (hi - lo + 1));
    }
    double sign() { return (g_.bits() & 1) ? 1.0 : -1.0; }
    double gauss() { return g_.next(); }
    // Knuth's product method on pieces of at most 30 (a sum of Poissons is Poisson).
    double poisson(double lambda) {
        double total = 0;
        while (lambda > 0) {
            const double piece = std::min(lambda, 30.0);
            lambda -= piece;
            const double limit = std::exp(-piece);
            double prod = uniform();
            while (prod > limit) {
                ++total;
                prod *= uniform();
            }
        }
        return total;
    }

private:
    Gauss g_;
};

// A base level and noise scale shared by the Gaussian families: level in [50, 500], sd
// 1-5 % of it (latencies in ms, sizes, rates: the scale must not matter).
struct Base {
    double mean, sd;
};
Base base(Rng& r) {
    const double mean = r.uniform(50, 500);
    return {mean, mean * r.uniform(0.01, 0.05)};
}

LabelledSeries gaussian(Rng& r, std::size_t n, Base b) {
    LabelledSeries s;
    s.points.resize(n);
    for (std::size_t i = 0; i < n; ++i)
        s.points[i] = Point{(kT0 + static_cast<std::int64_t>(i) * kStepS) * 1'000'000'000, b.mean + b.sd * r.gauss()};
    return s;
}

// `k` windows of width [wmin, wmax], one in each of k equal slots of [from, n - margin),
// placed uniformly inside its slot.
std::vector<Window> place(Rng& r, std::size_t n, std::size_t from, std::size_t k, std::size_t wmin,
                          std::size_t wmax, std::size_t margin = 20) {
    std::vector<Window> out;
    const std::size_t slot = (n - margin - from) / k;
    for (std::size_t i = 0; i < k; ++i) {
        const std::size_t w = r.index(wmin, wmax);
        const std::size_t lo = from + i * slot;
        const std::size_t b = r.index(lo, lo + slot - w - 1);
        out.push_back({b, b + w});
    }
    return out;
}

// Families. Anomalies never start before point 100 (every detector's warm-up is <= 30).
LabelledSeries spikes(Rng& r) {
    // 5 spikes of 1-4 points, +-6..12 sd each.
    const auto b = base(r);
    auto s = gaussian(r, 1000, b);
    s.anomalies = place(r, 1000, 100, 5, 1, 4);
    for (const auto& w : s.anomalies) {
        const double jump = r.sign() * r.uniform(6, 12) * b.sd;
        for (std::size_t i = w.begin; i < w.end; ++i)
            s.points[i].value += jump;
    }
    return s;
}

LabelledSeries level_shift(Rng& r) {
    // 2 persistent shifts of +-3..8 sd, near 1/3 and 2/3; the first 10 points after each
    // are the anomaly, after that it is the new normal.
    const auto b = base(r);
    auto s = gaussian(r, 1000, b);
    for (std::size_t at : {r.index(250, 350), r.index(600, 700)}) {
        const double jump = r.sign() * r.uniform(3, 8) * b.sd;
        for (std::size_t i = at; i < s.points.size(); ++i)
            s.points[i].value += jump;
        s.anomalies.push_back({at, at + 10});
    }
    return s;
}

LabelledSeries variance(Rng& r) {
    // 2 episodes of 30-60 points where the sd is 3-6 times larger, same mean.
    const auto b = base(r);
    auto s = gaussian(r, 1000, b);
    for (std::size_t from : {std::size_t{200}, std::size_t{600}}) {
        const std::size_t w = r.index(30, 60);
        const std::size_t at = r.index(from, from + 100);
        const double k = r.uniform(3, 6);
        for (std::size_t i = at; i < at + w; ++i)
            s.points[i].value = b.mean + k * (s.points[i].value - b.mean);
        s.anomalies.push_back({at, at + w});
    }
    return s;
}

LabelledSeries trend(Rng& r) {
    // A leak: from a point in [300, 600] the level rises by 0.05-0.2 sd per point until
    // the end (the series is 1000 points; the whole ramp is the anomaly).
    const auto b = base(r);
    auto s = gaussian(r, 1000, b);
    const std::size_t at = r.index(300, 600);
    const double slope = r.uniform(0.05, 0.2) * b.sd;
    for (std::size_t i = at; i < s.points.size(); ++i)
        s.points[i].value += slope * static_cast<double>(i - at + 1);
    s.anomalies.push_back({at, s.points.size()});
    return s;
}

LabelledSeries seasonal(Rng& r) {
    // 5 days, one point a minute, a daily sine of amplitude 5-15 sd with a random phase;
    // 3 bumps of 5-15 points and +-4..8 sd on days 3-5 (one per day, any time of day).
    const auto b = base(r);
    const std::size_t n = 5 * kPointsPerDay;
    auto s = gaussian(r, n, b);
    const double amp = r.uniform(5, 15) * b.sd, phase = r.uniform(0, 2 * std::numbers::pi);
    for (std::size_t i = 0; i < n; ++i)
        s.points[i].value +=
            amp * std::sin(2 * std::numbers::pi * static_cast<double>(i % kPointsPerDay) / kPointsPerDay + phase);
    for (std::size_t day = 2; day < 5; ++day) {
        const std::size_t w = r.index(5, 15);
        const std::size_t at = r.index(day * kPointsPerDay, (day + 1) * kPointsPerDay - w - 20);
        const double jump = r.sign() * r.uniform(4, 8) * b.sd;
        for (std::size_t i = at; i < at + w; ++i)
            s.points[i].value += jump;
        s.anomalies.push_back({at, at + w});
    }
    return s;
}

LabelledSeries traffic_bursts(Rng& r) {
    // Request counts: Poisson(lambda), lambda in [20, 200]; 4 bursts of 3-10 points where
    // the rate is 2-4 times higher.
    const double lambda = r.uniform(20, 200);
    LabelledSeries s;
    s.anomalies = place(r, 1000, 100, 4, 3, 10);
    s.points.resize(1000);
    for (std::size_t i = 0; i < 1000; ++i)
        s.points[i] = Point{(kT0 + static_cast<std::int64_t>(i) * kStepS) * 1'000'000'000, lambda};
    for (const auto& w : s.anomalies) {
        const double k = r.uniform(2, 4);
        for (std::size_t i = w.begin; i < w.end; ++i)
            s.points[i].value = lambda * k;
    }
    for (auto& p : s.points)
        p.value = r.poisson(p.value);
    return s;
}

LabelledSeries pure_noise(Rng& r) {
    // 2000 points of Gaussian noise, nothing else.
    return gaussian(r, 2000, base(r));
}

using Generator = LabelledSeries (*)(Rng&);
struct Family {
    std::string_view name;
    Generator gen;
};
constexpr Family kFamilies[] = {{"spikes", spikes},     {"level_shift", level_shift},
                                {"variance", variance}, {"trend", trend},
                                {"seasonal", seasonal}, {"traffic_bursts", traffic_bursts},
                                {"pure_noise", pure_noise}};

std::string fmt(double v, const char* spec) {
    if (std::isnan(v)) return "–";
    char buf[32];
    std::snprintf(buf, sizeof buf, spec, v);
    return buf;
}

} // namespace

const std::vector<std::string_view>& family_names() {
    static const std::vector<std::string_view> names = [] {
        std::vector<std::string_view> v;
        for (const auto& f : kFamilies)
            v.push_back(f.name);
        return v;
    }();
    return names;
}

std::vector<LabelledSeries> generate_family(std::string_view family, std::size_t count, std::uint64_t seed_base) {
    for (std::size_t f = 0; f < std::size(kFamilies); ++f) {
        if (kFamilies[f].name != family) continue;
        std::vector<LabelledSeries> out;
        for (std::size_t i = 0; i < count; ++i) {
            // Families draw from disjoint seeds, so adding one changes no other.
            Rng r((seed_base + i) * 1'000'003 + f);
            out.push_back(kFamilies[f].gen(r));
        }
        return out;
    }
    throw std::invalid_argument("unknown series family '" + std::string(family) + "'");
}

std::vector<std::string> evaluated_detectors() {
    std::vector<std::string> out;
    for (auto n : detector_names())
        out.emplace_back(n);
    out.emplace_back(kBaseline);
    return out;
}

std::vector<std::size_t> alerts(std::string_view name, const std::vector<Point>& points) {
    std::vector<std::size_t> out;
    const bool baseline = name == kBaseline;
    auto d = make_detector(baseline ? std::string_view("rollz") : name);
    if (!d) throw std::invalid_argument("unknown detector '" + std::string(name) + "'");
    if (auto* e = dynamic_cast<Ensemble*>(d.get())) {
        // The ensemble's own hysteresis, as live.
        for (std::size_t i = 0; i < points.size(); ++i)
            if (e->step(points[i]).opened) out.push_back(i);
        return out;
    }
    // |z| > 3 is score > z_to_score(3); the baseline opens and closes on that alone.
    const HysteresisConfig h = baseline ? HysteresisConfig{z_to_score(kIntervalZ), z_to_score(kIntervalZ), 1, 1, 1.0}
                                        : HysteresisConfig{};
    Hysteresis hyst(h);
    for (std::size_t i = 0; i < points.size(); ++i) {
        const Score s = d->update(points[i]);
        const double x = baseline && s.score <= h.open_threshold ? 0.0 : s.score;
        if (hyst.step(x, points[i].t_ns).opened) out.push_back(i);
    }
    return out;
}

double Metrics::precision() const {
    const std::size_t claimed = detected + false_positives;
    return claimed ? static_cast<double>(detected) / static_cast<double>(claimed) : 1.0;
}

double Metrics::recall() const {
    return windows ? static_cast<double>(detected) / static_cast<double>(windows) : 1.0;
}

double Metrics::f1() const {
    const double p = precision(), r = recall();
    return p + r > 0 ? 2 * p * r / (p + r) : 0.0;
}

double Metrics::mean_delay() const {
    return detected ? delay_sum / static_cast<double>(detected) : std::nan("");
}

Metrics& Metrics::operator+=(const Metrics& o) {
    windows += o.windows;
    detected += o.detected;
    false_positives += o.false_positives;
    alerts += o.alerts;
    delay_sum += o.delay_sum;
    return *this;
}

Metrics score_alerts(const std::vector<std::size_t>& alerts, const std::vector<Window>& anomalies,
                     std::size_t tolerance) {
    Metrics m;
    m.windows = anomalies.size();
    m.alerts = alerts.size();
    std::vector<bool> hit(anomalies.size(), false);
    for (std::size_t a : alerts) {
        bool inside = false;
        for (std::size_t w = 0; w < anomalies.size(); ++w) {
            if (a < anomalies[w].begin || a >= anomalies[w].end + tolerance) continue;
            inside = true;
            if (!hit[w]) {
                hit[w] = true;
                ++m.detected;
                m.delay_sum += static_cast<double>(a - anomalies[w].begin);
            }
            break;
        }
        if (!inside) ++m.false_positives;
    }
    return m;
}

std::vector<Cell> evaluate(std::size_t count) {
    std::vector<Cell> cells;
    const auto detectors = evaluated_detectors();
    for (auto family : family_names()) {
        const auto series = generate_family(family, count);
        for (const auto& d : detectors) {
            Cell c{std::string(family), d, {}};
            for (const auto& s : series)
                c.metrics += score_alerts(alerts(d, s.points), s.anomalies);
            cells.push_back(std::move(c));
        }
    }
    return cells;
}

std::string markdown(const std::vector<Cell>& cells) {
    std::string out = "| family | detector | precision | recall | F1 | mean delay (points) | false positives |\n"
                      "|---|---|---:|---:|---:|---:|---:|\n";
    for (const auto& c : cells) {
        const auto& m = c.metrics;
        const bool best = c.detector == Ensemble::kName;
        const std::string b = best ? "**" : "";
        std::string name; // a '|' in a cell must be escaped
        for (char ch : c.detector)
            name += ch == '|' ? std::string("\\|") : std::string(1, ch);
        out += "| " + c.family + " | " + b + name + b + " | " + fmt(m.precision(), "%.2f") + " | " +
               fmt(m.recall(), "%.2f") + " | " + b + fmt(m.f1(), "%.2f") + b + " | " + fmt(m.mean_delay(), "%.1f") +
               " | " + std::to_string(m.false_positives) + " |\n";
    }
    return out;
}

} // namespace homeostat::engine::detect::eval
