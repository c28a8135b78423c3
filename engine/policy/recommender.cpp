#include "engine/policy/recommender.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace homeostat::engine::policy {
namespace {

// Rescale before 2^k overflows the precision of small buckets next to large ones.
constexpr double kMaxExponent = 64;

double bounded(double v, double lo, double hi) {
    if (hi > 0) v = std::min(v, hi);
    return std::max(v, lo);
}

} // namespace

DecayingHistogram::DecayingHistogram(double first_bucket, double ratio, std::size_t buckets, double half_life_seconds)
    : first_(first_bucket), ratio_(ratio), half_life_(half_life_seconds), weights_(buckets, 0.0) {
    if (!(first_bucket > 0) || !(ratio > 1) || buckets < 2 || !(half_life_seconds > 0))
        throw std::invalid_argument("DecayingHistogram: needs first_bucket > 0, ratio > 1, buckets >= 2, half_life > 0");
}

double DecayingHistogram::bucket_start(std::size_t i) const {
    return first_ * (std::pow(ratio_, static_cast<double>(i)) - 1) / (ratio_ - 1);
}

std::size_t DecayingHistogram::bucket_of(double value) const {
    if (!(value >= first_)) return 0;
    auto i = static_cast<std::size_t>(std::floor(std::log(1 + value * (ratio_ - 1) / first_) / std::log(ratio_)));
    // Floating point may land one bucket off at a boundary: settle it exactly.
    while (i > 0 && bucket_start(i) > value) --i;
    while (i + 1 < weights_.size() && bucket_start(i + 1) <= value) ++i;
    return std::min(i, weights_.size() - 1);
}

void DecayingHistogram::add(double value, double now, double weight) {
    if (!(weight > 0) || !std::isfinite(value)) return;
    if (!has_ref_) {
        ref_ = now;
        has_ref_ = true;
    }
    double exponent = (now - ref_) / half_life_;
    if (exponent > kMaxExponent) {
        const double scale = std::exp2(-exponent);
        for (double& w : weights_) w *= scale;
        total_ *= scale;
        ref_ = now;
        exponent = 0;
    }
    const double w = weight * std::exp2(exponent);
    weights_[bucket_of(std::max(0.0, value))] += w;
    total_ += w;
    ++samples_;
}

double DecayingHistogram::percentile(double p) const {
    if (total_ <= 0) return 0;
    const double threshold = p * total_;
    double cumulative = 0;
    for (std::size_t i = 0; i < weights_.size(); ++i) {
        cumulative += weights_[i];
        if (weights_[i] > 0 && cumulative >= threshold * (1 - 1e-12)) return bucket_start(i + 1);
    }
    return bucket_start(weights_.size());
}

nlohmann::json DecayingHistogram::save() const {
    // Sparse: most buckets are empty.
    nlohmann::json buckets = nlohmann::json::array();
    for (std::size_t i = 0; i < weights_.size(); ++i)
        if (weights_[i] > 0) buckets.push_back({i, weights_[i]});
    return {{"ref", ref_}, {"has_ref", has_ref_}, {"samples", samples_}, {"buckets", buckets}};
}

void DecayingHistogram::load(const nlohmann::json& j) {
    std::vector<double> weights(weights_.size(), 0.0);
    double total = 0;
    for (const auto& b : j.at("buckets")) {
        const auto i = b.at(0).get<std::size_t>();
        if (i >= weights.size()) throw nlohmann::json::out_of_range::create(401, "histogram: bucket out of range", &b);
        weights[i] = b.at(1).get<double>();
        total += weights[i];
    }
    ref_ = j.at("ref").get<double>();
    has_ref_ = j.at("has_ref").get<bool>();
    samples_ = j.at("samples").get<std::uint64_t>();
    weights_ = std::move(weights);
    total_ = total;
}

ResourceRecommender::ResourceRecommender(RecommenderConfig config) : config_(config) { (void)fresh(); }

ResourceRecommender::Service ResourceRecommender::fresh() const {
    return Service{DecayingHistogram(config_.cpu_first_bucket, config_.bucket_ratio, config_.buckets, config_.half_life_seconds),
                   DecayingHistogram(config_.memory_first_bucket, config_.bucket_ratio, config_.buckets,
                                     config_.half_life_seconds)};
}

void ResourceRecommender::observe(const std::string& service, double cpu_cores, double memory_bytes, double now) {
    auto it = services_.find(service);
    if (it == services_.end()) it = services_.emplace(service, fresh()).first;
    it->second.cpu.add(cpu_cores, now);
    it->second.memory.add(memory_bytes, now);
}

void ResourceRecommender::observe_oom(const std::string& service, double memory_bytes, double now) {
    auto it = services_.find(service);
    if (it == services_.end()) it = services_.emplace(service, fresh()).first;
    it->second.oom_floor = std::max(memory_bytes * config_.oom_bump, memory_bytes + config_.oom_min_bump_bytes);
    it->second.oom_at = now;
}

std::optional<ResourceRecommendation> ResourceRecommender::recommend(const std::string& service, double now) const {
    auto it = services_.find(service);
    if (it == services_.end()) return std::nullopt;
    const Service& s = it->second;
    const bool oom = s.oom_floor > 0 && now - s.oom_at < config_.oom_memory_seconds;
    if (s.cpu.samples() < config_.min_samples && !oom) return std::nullopt;
    ResourceRecommendation r;
    r.samples = s.cpu.samples();
    const double factor = 1 + config_.margin;
    r.cpu_cores = bounded(s.cpu.percentile(config_.percentile) * factor, config_.cpu_min_cores, config_.cpu_max_cores);
    double memory = s.memory.percentile(config_.percentile) * factor;
    if (oom && s.oom_floor > memory) {
        memory = s.oom_floor;
        r.oom_floor = true;
    }
    r.memory_bytes = bounded(memory, config_.memory_min_bytes, config_.memory_max_bytes);
    return r;
}

std::vector<std::string> ResourceRecommender::services() const {
    std::vector<std::string> out;
    out.reserve(services_.size());
    for (const auto& [name, _] : services_) out.push_back(name);
    return out;
}

nlohmann::json ResourceRecommender::save() const {
    nlohmann::json services = nlohmann::json::object();
    for (const auto& [name, s] : services_)
        services[name] = {{"cpu", s.cpu.save()}, {"memory", s.memory.save()}, {"oom_floor", s.oom_floor}, {"oom_at", s.oom_at}};
    return {{"version", 1}, {"services", services}};
}

void ResourceRecommender::load(const nlohmann::json& j) {
    if (j.at("version").get<int>() != 1) throw nlohmann::json::other_error::create(501, "recommender: unknown version", &j);
    std::map<std::string, Service> services;
    for (const auto& [name, v] : j.at("services").items()) {
        Service s = fresh();
        s.cpu.load(v.at("cpu"));
        s.memory.load(v.at("memory"));
        s.oom_floor = v.at("oom_floor").get<double>();
        s.oom_at = v.at("oom_at").get<double>();
        services.emplace(name, std::move(s));
    }
    services_ = std::move(services);
}

} // namespace homeostat::engine::policy
