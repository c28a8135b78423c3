// DDSketch (Masson, Rim, Lee: "DDSketch: A Fast and Fully-Mergeable Quantile Sketch with
// Relative-Error Guarantees", VLDB 2019). Latency quantiles must be mergeable across
// windows (a p99 over a minute from six 10 s windows) and accurate relative to the value
// (1% of 2 ms and 1% of 2 s alike), which is exactly what this sketch gives, in bounded
// memory and O(1) per value.
//
// Mapping: value v > 0 goes to bucket k = ceil(log_gamma(v)) with gamma = (1+a)/(1-a);
// bucket k covers (gamma^(k-1), gamma^k] and is reported as 2*gamma^k/(gamma+1), which
// is within relative error a of every value in it.
//
// Bounded memory: the store keeps at most max_buckets consecutive buckets. When a value
// would need more, the LOWEST buckets are collapsed into one (a value below the kept range
// is counted in its lowest bucket). Only quantiles that fall among the collapsed values
// lose their guarantee (they are over-estimated); the high quantiles that latency
// monitoring cares about keep it. With a = 0.01, 2048 buckets span a ratio of about
// gamma^2048 ~ 6e17 between the smallest and largest value, e.g. 1 ns to 20 years, so
// collapsing does not happen for latencies.
//
// Values below min_indexable_value (default 1 ns, the resolution of the clock the
// latencies come from) go to a zero bucket and are reported as 0. Negative values are
// clamped to 0, NaN is ignored.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace homeostat::engine {

class DDSketch {
public:
    static constexpr double kDefaultRelativeAccuracy = 0.01;
    static constexpr std::size_t kDefaultMaxBuckets = 2048;
    static constexpr double kDefaultMinIndexableValue = 1e-9;

    // Throws std::invalid_argument unless 0 < relative_accuracy < 1, max_buckets >= 1 and
    // min_indexable_value > 0.
    explicit DDSketch(double relative_accuracy = kDefaultRelativeAccuracy,
                      std::size_t max_buckets = kDefaultMaxBuckets,
                      double min_indexable_value = kDefaultMinIndexableValue);

    void add(double value) { add(value, 1); }
    void add(double value, std::uint64_t n);

    // Adds everything `other` holds. Both must share relative accuracy and minimum
    // indexable value (else std::invalid_argument: their buckets would not line up);
    // this sketch's max_buckets bounds the result.
    void merge(const DDSketch& other);

    // The value at rank q*(count-1) of the sorted values ("lower" convention: the
    // floor(q*(count-1))-th smallest, 0-based), within relative accuracy unless it fell
    // among collapsed buckets. q is clamped to [0, 1]. NaN when empty.
    double quantile(double q) const;

    std::uint64_t count() const { return count_; }
    double sum() const { return sum_; }
    double min() const; // NaN when empty
    double max() const; // NaN when empty
    bool empty() const { return count_ == 0; }

    // Forgets all values but keeps the bucket memory, so a reused sketch (a window that
    // rolls over) does not allocate again.
    void clear();

    double relative_accuracy() const { return relative_accuracy_; }
    double gamma() const { return gamma_; }
    double min_indexable_value() const { return min_indexable_; }
    std::size_t max_buckets() const { return max_buckets_; }
    // Buckets between the lowest and highest non-empty one (<= max_buckets).
    std::size_t bucket_span() const;
    // Bucket counters allocated (<= max_buckets): the memory bound.
    std::size_t allocated_buckets() const { return bins_.size(); }
    // Whether low buckets were collapsed since the last clear().
    bool collapsed() const { return collapsed_; }

private:
    int key_of(double v) const;
    double value_of(int key) const;
    void add_to_key(int key, std::uint64_t n);
    void ensure_range(int lo, int hi);
    std::uint64_t& bin(int key) { return bins_[static_cast<std::size_t>(key - offset_)]; }
    std::uint64_t bin(int key) const { return bins_[static_cast<std::size_t>(key - offset_)]; }

    // Fields add() touches come first, so they share the sketch's first cache line.
    std::vector<std::uint64_t> bins_; // bins_[i] counts bucket key offset_ + i
    int offset_ = 0;
    int min_key_ = 0, max_key_ = 0; // non-empty key range, valid when store_count_ > 0
    std::uint64_t store_count_ = 0; // values in bins_
    std::uint64_t count_ = 0;
    double inv_log_gamma_;
    double sum_ = 0;
    double min_ = 0, max_ = 0;
    double min_indexable_;
    std::uint64_t zero_count_ = 0; // values below min_indexable_

    double relative_accuracy_;
    double gamma_;
    double log_gamma_;
    std::size_t max_buckets_;
    bool collapsed_ = false;
};

} // namespace homeostat::engine
