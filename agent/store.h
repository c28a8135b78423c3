// Durable state in SQLite (WAL) under the state directory: the alert spool (an alert
// survives a receiver outage and a daemon restart: delivered at least once), per-window
// rollups of every endpoint (the history API; pruned after the retention period), named
// documents such as the detector baselines, the action audit log (every candidate
// healing action and what became of it) and the history of tuned settings.
//
// Schema versioning: a `meta` table holds schema_version; open() applies the migrations
// a file is missing, in one transaction each, and refuses a file from a newer homeostat.
// Every call returns its error instead of throwing: a full or read-only disk is reported
// by the caller, and the daemon keeps observing.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "agent/result.h"

struct sqlite3;

namespace homeostat::agent {

// One delivery waiting in the spool: a ready-made HTTP request to a receiver.
struct SpoolItem {
    std::int64_t id = 0;
    std::string receiver;        // name from the configuration
    std::string idempotency_key; // the same for every attempt of this delivery
    std::string body;            // the request body
    std::int64_t attempts = 0;
    double created_at = 0;       // unix seconds
    double next_attempt_at = 0;
    std::string last_error;
};

// One endpoint over one aggregation window.
struct Rollup {
    double window_start = 0; // unix seconds
    double window_seconds = 0;
    std::string service, role, endpoint;
    std::int64_t requests = 0, errors = 0;
    double p50 = 0, p95 = 0, p99 = 0; // seconds
};

// One entry of the action audit log: a candidate action and what became of it. An entry
// is written when the action is decided and updated as it is applied, verified or undone.
struct ActionRecord {
    std::int64_t id = 0;
    double at = 0;         // unix seconds, when decided
    double updated_at = 0; // last change of verdict
    std::string service, kind, rule;
    // dry_run, refused, applied, failed, verified, rolled_back, rollback_failed
    std::string verdict;
    std::string summary;   // one line: what changed, or would have
    std::string reason;    // why, with the evidence
    std::string detail;    // JSON object: plan, before/after, commands, error
    std::uint64_t anomaly_id = 0;
};

// Settings the tuner derived for one service (and upstream or file), as a JSON object
// ({"timeout_ms": 850, ...}); each change is a new row, the newest is current.
struct TunedRecord {
    std::int64_t id = 0;
    double at = 0;
    std::string service;
    std::string target;    // upstream ("127.0.0.1:8080") or configured file name; "" for the service
    std::string settings;  // JSON object
    bool applied = false;  // false: recommended (dry-run or not yet written)
    std::string reason;
};

class Store {
public:
    static constexpr int kSchemaVersion = 3;

    // Opens (creating it, mode 0600, and its directory, mode 0700) the database at `path`.
    static Result<std::unique_ptr<Store>> open(const std::filesystem::path& path);
    ~Store();
    Store(const Store&) = delete;
    Store& operator=(const Store&) = delete;

    int schema_version() const { return version_; }
    const std::filesystem::path& path() const { return path_; }

    // Spool.
    Result<std::int64_t> enqueue(const SpoolItem& item);
    // Pending items with next_attempt_at <= now, oldest first.
    Result<std::vector<SpoolItem>> due(double now, std::size_t limit);
    Result<void> delivered(std::int64_t id, double now);
    Result<void> retry_later(std::int64_t id, std::int64_t attempts, double next_attempt_at, const std::string& error);
    // Will not be retried (a 4xx answer): kept as failed, for `homeostat alerts`.
    Result<void> give_up(std::int64_t id, const std::string& error, double now);
    Result<std::int64_t> pending();
    // Delivered and failed items older than `before` are deleted.
    Result<std::int64_t> prune(double before);

    // Rollups: one transaction per window.
    Result<void> add_rollups(const std::vector<Rollup>& rows);
    // Rows of `service` (all services when empty) with window_start in [from, to], in
    // time order, at most `limit`.
    Result<std::vector<Rollup>> history(const std::string& service, double from, double to, std::size_t limit);
    // Deletes rollups older than `before`; returns how many.
    Result<std::int64_t> prune_rollups(double before);

    // Named documents (e.g. "detector_state"), replaced atomically.
    Result<void> put_document(const std::string& name, const std::string& value, double now);
    // Empty optional-like: ok() with an empty string when there is none.
    Result<std::string> get_document(const std::string& name);

    // Action audit log.
    Result<std::int64_t> add_action(const ActionRecord& a);
    Result<void> update_action(std::int64_t id, const std::string& verdict, const std::string& detail, double now);
    // Newest first; `service` empty: all services.
    Result<std::vector<ActionRecord>> actions(const std::string& service, std::size_t limit);
    Result<std::int64_t> prune_actions(double before);

    // Tuned settings.
    Result<std::int64_t> add_tuned(const TunedRecord& t);
    // The newest row of every (service, target), sorted by service and target.
    Result<std::vector<TunedRecord>> tuned_current();
    // Newest first; `service` empty: all services.
    Result<std::vector<TunedRecord>> tuned_history(const std::string& service, std::size_t limit);

private:
    Store(sqlite3* db, std::filesystem::path path) : db_(db), path_(std::move(path)) {}
    Result<void> exec(const char* sql);
    Result<void> migrate();
    Error error(const std::string& what) const;

    sqlite3* db_;
    std::filesystem::path path_;
    int version_ = 0;
};

} // namespace homeostat::agent
