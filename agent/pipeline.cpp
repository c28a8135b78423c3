#include "agent/pipeline.h"

#include <chrono>

#include <spdlog/spdlog.h>

#include "events.hpp"

namespace homeostat::agent {

void Pipeline::on_record(std::span<const std::byte> bytes) {
    hs_event_header h{};
    if (bytes.size() >= sizeof h) std::memcpy(&h, bytes.data(), sizeof h);
    switch (h.kind) {
    case HS_EV_HTTP_EXCHANGE:
        if (auto ev = abi::decode<hs_http_exchange>(bytes, HS_EV_HTTP_EXCHANGE)) {
            ++counters_.exchanges;
            // Calls to the daemon's API from this host (a browser on the page, curl, a
            // local Prometheus) are its own traffic too: the client side of a connection
            // between two local sockets to the API port.
            const bool to_api = ev->role == HS_ROLE_CLIENT && self_port_ && ev->remote_port == self_port_ &&
                                std::memcmp(ev->local_addr, ev->remote_addr, sizeof ev->local_addr) == 0;
            const bool own = (ev->role == HS_ROLE_SERVER && self_port_ && ev->local_port == self_port_) ||
                             (ev->role == HS_ROLE_CLIENT && self_pid_ && ev->tgid == self_pid_ &&
                              (ev->flags & HS_XF_OWNER_KNOWN)) ||
                             to_api;
            if (own) {
                ++counters_.own;
                return;
            }
            bool attributed = true;
            const std::string& service = identity_.service_for(*ev, attributed);
            if (!attributed) ++counters_.unattributed;
            if (spdlog::should_log(spdlog::level::trace))
                spdlog::trace("exchange {} service={}", abi::to_string(*ev), service);
            aggregator_.record(service, *ev, std::chrono::nanoseconds(ev->resp_start_ns));
            if (recorder_) recorder_->write(service, *ev);
            return;
        }
        break;
    case HS_EV_LISTEN:
        if (auto ev = abi::decode<hs_listen_event>(bytes, HS_EV_LISTEN)) {
            ++counters_.listens;
            identity_.on_listen(*ev);
            return;
        }
        break;
    }
    if (counters_.malformed++ == 0)
        spdlog::error("capture: a ring-buffer record of kind {} (ABI {}, {} bytes) could not be decoded; "
                      "the BPF object and homeostatd are from different builds",
                      h.kind, h.abi_version, bytes.size());
}

} // namespace homeostat::agent
