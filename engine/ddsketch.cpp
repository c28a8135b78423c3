#include "engine/ddsketch.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace homeostat::engine {
namespace {

// Extra buckets allocated beyond the needed range when the store grows, so a slowly
// widening range does not reallocate on every new extreme value.
constexpr int kGrowthSlack = 32;

} // namespace

DDSketch::DDSketch(double relative_accuracy, std::size_t max_buckets, double min_indexable_value)
    : relative_accuracy_(relative_accuracy), max_buckets_(max_buckets) {
    if (!(relative_accuracy > 0 && relative_accuracy < 1))
        throw std::invalid_argument("DDSketch: relative accuracy must be in (0, 1)");
    if (max_buckets < 1) throw std::invalid_argument("DDSketch: max_buckets must be >= 1");
    if (!(min_indexable_value > 0)) throw std::invalid_argument("DDSketch: min indexable value must be > 0");
    gamma_ = (1 + relative_accuracy) / (1 - relative_accuracy);
    log_gamma_ = std::log(gamma_);
    inv_log_gamma_ = 1 / log_gamma_;
    min_indexable_ = min_indexable_value;
}

int DDSketch::key_of(double v) const {
    return static_cast<int>(std::ceil(std::log(v) * inv_log_gamma_));
}

double DDSketch::value_of(int key) const {
    return 2 * std::exp(key * log_gamma_) / (gamma_ + 1);
}

void DDSketch::add(double value, std::uint64_t n) {
    if (n == 0 || std::isnan(value)) return;
    if (value < 0) value = 0;
    // Keeps the key finite; no latency comes near it.
    if (value > std::numeric_limits<double>::max()) value = std::numeric_limits<double>::max();

    if (count_ == 0) {
        min_ = max_ = value;
    } else {
        min_ = std::min(min_, value);
        max_ = std::max(max_, value);
    }
    count_ += n;
    sum_ += value * static_cast<double>(n);

    if (value < min_indexable_) {
        zero_count_ += n;
        return;
    }
    const int k = key_of(value);
    if (store_count_ != 0 && k >= min_key_ && k <= max_key_) {
        // The common case once a sketch has seen its typical range.
        bin(k) += n;
        store_count_ += n;
        return;
    }
    add_to_key(k, n);
}

void DDSketch::add_to_key(int k, std::uint64_t n) {
    const int span = static_cast<int>(max_buckets_);
    if (store_count_ == 0) {
        ensure_range(k, k);
        min_key_ = max_key_ = k;
    } else if (k < min_key_) {
        const int floor = max_key_ - (span - 1);
        if (k < floor) {
            k = floor; // counted with the lowest kept bucket
            collapsed_ = true;
        }
        if (k < min_key_) {
            ensure_range(k, max_key_);
            min_key_ = k;
        }
    } else if (k > max_key_) {
        const int new_floor = k - (span - 1);
        if (new_floor > min_key_) {
            // Fold everything below the new floor into it before the range moves up.
            std::uint64_t folded = 0;
            for (int i = min_key_; i <= std::min(max_key_, new_floor - 1); ++i) {
                folded += bin(i);
                bin(i) = 0;
            }
            ensure_range(new_floor, k);
            bin(new_floor) += folded;
            min_key_ = new_floor;
            collapsed_ = true;
        } else {
            ensure_range(min_key_, k);
        }
        max_key_ = k;
    }
    bin(k) += n;
    store_count_ += n;
}

// Makes bins_ cover keys [lo, hi]. Callers guarantee every non-zero counter lies in that
// range and hi - lo < max_buckets_, so the allocation never exceeds max_buckets_.
void DDSketch::ensure_range(int lo, int hi) {
    const int size = static_cast<int>(bins_.size());
    if (size > 0 && lo >= offset_ && hi < offset_ + size) return;

    const int needed = hi - lo + 1;
    const int cap = static_cast<int>(max_buckets_);
    const int new_size = std::min(cap, needed + 2 * kGrowthSlack);
    // Centre the slack on the needed range.
    const int new_offset = lo - (new_size - needed) / 2;

    std::vector<std::uint64_t> grown(static_cast<std::size_t>(new_size), 0);
    const int from = std::max(offset_, new_offset);
    const int to = std::min(offset_ + size, new_offset + new_size); // exclusive
    for (int key = from; key < to; ++key)
        grown[static_cast<std::size_t>(key - new_offset)] = bins_[static_cast<std::size_t>(key - offset_)];
    bins_.swap(grown);
    offset_ = new_offset;
}

void DDSketch::merge(const DDSketch& other) {
    if (other.gamma_ != gamma_ || other.min_indexable_ != min_indexable_)
        throw std::invalid_argument("DDSketch: cannot merge sketches with different mappings");
    if (other.count_ == 0) return;
    if (&other == this) {
        const DDSketch copy = other;
        merge(copy);
        return;
    }
    if (count_ == 0) {
        min_ = other.min_;
        max_ = other.max_;
    } else {
        min_ = std::min(min_, other.min_);
        max_ = std::max(max_, other.max_);
    }
    count_ += other.count_;
    sum_ += other.sum_;
    zero_count_ += other.zero_count_;
    if (other.collapsed_) collapsed_ = true;
    // Highest key first: the top of the range is then fixed and lower keys either fit
    // or fold into the floor, without moving the range more than once.
    for (int k = other.max_key_; other.store_count_ > 0 && k >= other.min_key_; --k)
        if (const std::uint64_t c = other.bin(k)) add_to_key(k, c);
}

double DDSketch::quantile(double q) const {
    if (count_ == 0 || std::isnan(q)) return std::numeric_limits<double>::quiet_NaN();
    q = std::clamp(q, 0.0, 1.0);
    // The extremes are tracked exactly; no need to approximate them.
    if (q == 0) return min_;
    if (q == 1) return max_;
    const double rank = q * static_cast<double>(count_ - 1);

    double estimate = max_;
    std::uint64_t cumulative = zero_count_;
    if (static_cast<double>(cumulative) > rank) {
        estimate = 0;
    } else {
        for (int k = min_key_; store_count_ > 0 && k <= max_key_; ++k) {
            cumulative += bin(k);
            if (static_cast<double>(cumulative) > rank) {
                estimate = value_of(k);
                break;
            }
        }
    }
    // The true value lies in [min, max]; clamping can only bring the estimate closer.
    return std::clamp(estimate, min_, max_);
}

double DDSketch::min() const {
    return count_ == 0 ? std::numeric_limits<double>::quiet_NaN() : min_;
}

double DDSketch::max() const {
    return count_ == 0 ? std::numeric_limits<double>::quiet_NaN() : max_;
}

std::size_t DDSketch::bucket_span() const {
    return store_count_ == 0 ? 0 : static_cast<std::size_t>(max_key_ - min_key_ + 1);
}

void DDSketch::clear() {
    if (store_count_ > 0)
        for (int k = min_key_; k <= max_key_; ++k)
            bin(k) = 0;
    store_count_ = zero_count_ = count_ = 0;
    sum_ = 0;
    min_ = max_ = 0;
    collapsed_ = false;
}

} // namespace homeostat::engine
