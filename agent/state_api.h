// API documents served from the state database: GET /api/v1/history, /api/v1/actions and
// /api/v1/tuned. Each parses its query (unknown parameters and bad numbers are a 400 that
// says what is accepted) and answers JSON; without a database, 503 says why.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "agent/http_api.h"
#include "agent/store.h"

namespace homeostat::agent {

// ?service=NAME&from=UNIX&to=UNIX&limit=N (last hour, 10 000 rows by default):
// {"from", "to", "service", "truncated", "rollups": [...]}.
HttpResponse history_response(Store* store, const std::string& query, double now);

// ?service=NAME&limit=N (200 by default): {"actions": [...newest first], "healing": status}.
// `status` is what the healing loop says of itself (enabled, dry_run, ...).
HttpResponse actions_response(Store* store, const std::string& query, const nlohmann::json& status);

// ?service=NAME&history=N: {"tuned": [the current settings of every service and target],
// "recommendations": [the recommender's CPU and memory limits per service],
// "history": [the last N changes, newest first, when asked]}. `recommendations` is
// HealingStrategies::recommendations() (an array; null: healing is off, none shown).
HttpResponse tuned_response(Store* store, const std::string& query,
                            const nlohmann::json& recommendations = nlohmann::json::array());

// The audit and tuned rows as the API shows them (also for the CLI's tests).
nlohmann::json to_json(const ActionRecord& a);
nlohmann::json to_json(const TunedRecord& t);

} // namespace homeostat::agent
