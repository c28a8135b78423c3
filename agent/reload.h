// SIGHUP: the daemon re-reads its configuration file and applies what can change while
// it runs, keeping every piece of state (aggregates, baselines, open anomalies, alerts,
// the spool). A file that does not load or validate changes nothing: the running
// configuration stays, and the log says why.
//
// Applied live: log_level, detection thresholds, detection.save_interval,
// history_retention, alerting (receivers, resend and retry settings), otlp.
// Needs a restart (the running value is kept and the log says so): listen,
// api_token_file, state_dir, capture.*, aggregation.*, detection.enabled, healing.
#pragma once

#include <string>
#include <vector>

#include "agent/config.h"

namespace homeostat::agent {

struct ReloadPlan {
    Config next;                        // the configuration to run with from now on
    std::vector<std::string> applied;   // keys that change now
    std::vector<std::string> needs_restart; // keys the file changed that only a restart applies
};

// `loaded` is the freshly loaded file (flags applied as at start); `running` what the
// daemon runs with. Pure: compares and copies, touches nothing.
ReloadPlan plan_reload(const Config& running, Config loaded);

} // namespace homeostat::agent
