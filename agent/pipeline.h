// From ring-buffer bytes to the engine: decode, attribute to a service, aggregate.
// Runs on the io_context thread that drains the ring buffer; nothing here blocks for
// long (identity lookups read /proc only for processes and ports not seen before).
#pragma once

#include <cstdint>
#include <span>

#include "agent/identity.h"
#include "agent/recording.h"
#include "engine/aggregator.h"

namespace homeostat::agent {

struct PipelineCounters {
    std::uint64_t exchanges = 0;
    std::uint64_t listens = 0;
    std::uint64_t malformed = 0;    // records we could not decode (ABI mismatch)
    std::uint64_t unattributed = 0; // exchanges given a fallback service name
    std::uint64_t own = 0;          // homeostatd's own exchanges, left out
};

class Pipeline {
public:
    Pipeline(engine::Aggregator& aggregator, ServiceResolver& identity)
        : aggregator_(aggregator), identity_(identity) {}

    void on_record(std::span<const std::byte> bytes);
    // The daemon's own exchanges (its API on `api_port`, local clients' calls to it, its
    // webhook deliveries from `pid`) are left out: watching itself would turn every alert
    // it sends and every page refresh into traffic that detection sees, and feed back.
    void ignore_self(std::uint32_t pid, std::uint16_t api_port) {
        self_pid_ = pid;
        self_port_ = api_port;
    }
    // Every exchange also goes to `recorder` (homeostatd --record), when set.
    void set_recorder(Recorder* recorder) { recorder_ = recorder; }
    const PipelineCounters& counters() const { return counters_; }

private:
    engine::Aggregator& aggregator_;
    ServiceResolver& identity_;
    Recorder* recorder_ = nullptr;
    std::uint32_t self_pid_ = 0;
    std::uint16_t self_port_ = 0;
    PipelineCounters counters_;
};

} // namespace homeostat::agent
