// CPU and memory limit recommendations per service, the way Kubernetes' VPA makes them:
// usage samples go into exponentially bucketed histograms whose old samples fade with a
// half-life, the recommendation is a high percentile of that plus a safety margin, inside
// [min, max]. An OOM kill sets a memory floor of max(usage × oom_bump, usage +
// oom_min_bump_bytes) for oom_memory_seconds: the limit that killed it was too low.
//
// Decay without touching every bucket: a sample at time t weighs 2^((t − ref)/half_life)
// against a reference time ref, so newer samples weigh more and the old ones need no
// update; when the factor grows large everything is rescaled once and ref moves.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace homeostat::engine::policy {

class DecayingHistogram {
public:
    // Bucket 0 is [0, first_bucket); each next bucket is `ratio` times wider.
    DecayingHistogram(double first_bucket, double ratio, std::size_t buckets, double half_life_seconds);

    void add(double value, double now, double weight = 1);
    // The upper bound of the bucket where the cumulative weight reaches p (0 when empty).
    double percentile(double p) const;
    bool empty() const { return total_ <= 0; }
    std::uint64_t samples() const { return samples_; }
    double bucket_start(std::size_t i) const;
    std::size_t bucket_of(double value) const;

    nlohmann::json save() const;
    void load(const nlohmann::json& j); // same geometry expected

private:
    double first_, ratio_, half_life_;
    std::vector<double> weights_;
    double total_ = 0;
    double ref_ = 0;
    bool has_ref_ = false;
    std::uint64_t samples_ = 0;
};

struct RecommenderConfig {
    double cpu_first_bucket = 0.01;           // cores
    double memory_first_bucket = 1048576;     // bytes
    double bucket_ratio = 1.05;
    std::size_t buckets = 300;                // up to ~4.5e5 cores / ~45 TiB
    double half_life_seconds = 86400;
    double percentile = 0.9;
    double margin = 0.15;                     // recommendation = percentile × (1 + margin)
    double cpu_min_cores = 0.1, cpu_max_cores = 0;       // max 0: none
    double memory_min_bytes = 64.0 * 1048576, memory_max_bytes = 0;
    double oom_bump = 1.2;
    double oom_min_bump_bytes = 100.0 * 1048576;
    double oom_memory_seconds = 86400;
    std::uint64_t min_samples = 10;           // fewer: no recommendation yet
};

struct ResourceRecommendation {
    double cpu_cores = 0;
    double memory_bytes = 0;
    std::uint64_t samples = 0;
    bool oom_floor = false; // memory comes from the OOM floor, not the histogram
};

class ResourceRecommender {
public:
    explicit ResourceRecommender(RecommenderConfig config = {});

    void observe(const std::string& service, double cpu_cores, double memory_bytes, double now);
    void observe_oom(const std::string& service, double memory_bytes, double now);
    std::optional<ResourceRecommendation> recommend(const std::string& service, double now) const;
    const RecommenderConfig& config() const { return config_; }
    std::vector<std::string> services() const; // every service with samples or an OOM floor
    std::size_t size() const { return services_.size(); }

    nlohmann::json save() const;
    void load(const nlohmann::json& j); // throws nlohmann::json::exception on a bad document

private:
    struct Service {
        DecayingHistogram cpu, memory;
        double oom_floor = 0, oom_at = 0;
    };
    Service fresh() const;
    RecommenderConfig config_;
    std::map<std::string, Service> services_;
};

} // namespace homeostat::engine::policy
