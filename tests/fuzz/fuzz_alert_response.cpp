// What homeostat itself makes of a receiver's answer and of receiver URLs. The HTTP
// response is parsed by Beast (agent/http_client.cpp), which is not fuzzed here; what
// homeostat does with its result is: classify() of the status, describe_answer() of
// status and body (kept in the spool and the log), and parse_url()/redacted_url() of the
// configured URL (from the config file, shown by the API).
//
// Input: [2 bytes status][1 byte split][rest]: rest[0..split) is a URL, the remainder
// the response body.
#include <cstdlib>
#include <string>

#include "agent/alerting.h"
#include "agent/http_client.h"

using namespace homeostat::agent;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 3) return 0;
    const int status = data[0] | (data[1] << 8);
    const std::string rest(reinterpret_cast<const char*>(data) + 3, size - 3);
    const std::string url = rest.substr(0, std::min<std::size_t>(data[2], rest.size()));

    const auto outcome = classify(status);
    if (status >= 200 && status < 300 && outcome != DeliveryOutcome::delivered) std::abort();
    if (status >= 500 && outcome != DeliveryOutcome::retry) std::abort();

    HttpClientResponse res{status, rest.substr(url.size()), status ? "" : "connect: refused"};
    const std::string what = describe_answer(res);
    if (what.size() > 220) std::abort(); // the body is cut, however long the answer

    auto u = parse_url(url);
    const std::string shown = redacted_url(url);
    if (u) {
        if (u->host.empty() || u->port.empty() || u->target.empty() || u->target.front() != '/') std::abort();
        // Paths of incoming webhooks are credentials: never shown.
        const std::string hidden = "/…";
        if (u->target != "/" && (shown.size() < hidden.size() || shown.compare(shown.size() - hidden.size(), hidden.size(), hidden) != 0))
            std::abort();
    } else if (shown != "(invalid URL)") {
        std::abort();
    }
    return 0;
}
