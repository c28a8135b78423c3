#include "agent/store.h"

#include <sqlite3.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>

namespace homeostat::agent {
namespace {

// Migration i takes a database from version i to i + 1.
const char* const kMigrations[] = {
    // 0 → 1: the alert spool.
    "CREATE TABLE spool ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  receiver TEXT NOT NULL,"
    "  idempotency_key TEXT NOT NULL UNIQUE,"
    "  body BLOB NOT NULL,"
    "  attempts INTEGER NOT NULL DEFAULT 0,"
    "  created_at REAL NOT NULL,"
    "  next_attempt_at REAL NOT NULL,"
    "  state TEXT NOT NULL DEFAULT 'pending'," // pending, delivered, failed
    "  finished_at REAL,"
    "  last_error TEXT NOT NULL DEFAULT '');"
    "CREATE INDEX spool_due ON spool(state, next_attempt_at);",
    // 1 → 2: window rollups and named documents.
    "CREATE TABLE rollups ("
    "  window_start REAL NOT NULL,"
    "  window_seconds REAL NOT NULL,"
    "  service TEXT NOT NULL,"
    "  role TEXT NOT NULL,"
    "  endpoint TEXT NOT NULL,"
    "  requests INTEGER NOT NULL,"
    "  errors INTEGER NOT NULL,"
    "  p50 REAL NOT NULL, p95 REAL NOT NULL, p99 REAL NOT NULL);"
    "CREATE INDEX rollups_time ON rollups(window_start);"
    "CREATE INDEX rollups_service ON rollups(service, window_start);"
    "CREATE TABLE documents (name TEXT PRIMARY KEY, value BLOB NOT NULL, updated_at REAL NOT NULL);",
    // 2 → 3: the action audit log and tuned-settings history.
    "CREATE TABLE actions ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  at REAL NOT NULL, updated_at REAL NOT NULL,"
    "  service TEXT NOT NULL, kind TEXT NOT NULL, rule TEXT NOT NULL,"
    "  verdict TEXT NOT NULL, summary TEXT NOT NULL, reason TEXT NOT NULL,"
    "  detail TEXT NOT NULL DEFAULT '{}', anomaly_id INTEGER NOT NULL DEFAULT 0);"
    "CREATE INDEX actions_service ON actions(service, at);"
    "CREATE INDEX actions_time ON actions(at);"
    "CREATE TABLE tuned ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  at REAL NOT NULL, service TEXT NOT NULL, target TEXT NOT NULL,"
    "  settings TEXT NOT NULL, applied INTEGER NOT NULL, reason TEXT NOT NULL);"
    "CREATE INDEX tuned_key ON tuned(service, target, id);",
};
constexpr int kMigrationCount = sizeof kMigrations / sizeof kMigrations[0];
static_assert(kMigrationCount == Store::kSchemaVersion);

// A prepared statement that finalises itself.
class Stmt {
public:
    Stmt(sqlite3* db, const char* sql) { rc_ = sqlite3_prepare_v2(db, sql, -1, &s_, nullptr); }
    ~Stmt() { sqlite3_finalize(s_); }
    bool ok() const { return rc_ == SQLITE_OK; }
    Stmt& text(int i, const std::string& v) {
        sqlite3_bind_text(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
        return *this;
    }
    Stmt& blob(int i, const std::string& v) {
        sqlite3_bind_blob(s_, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
        return *this;
    }
    Stmt& real(int i, double v) {
        sqlite3_bind_double(s_, i, v);
        return *this;
    }
    Stmt& integer(int i, std::int64_t v) {
        sqlite3_bind_int64(s_, i, v);
        return *this;
    }
    int step() { return sqlite3_step(s_); }
    sqlite3_stmt* raw() { return s_; }
    std::string column_text(int i) const {
        const auto* p = sqlite3_column_blob(s_, i);
        return p ? std::string(static_cast<const char*>(p), sqlite3_column_bytes(s_, i)) : std::string();
    }
    std::int64_t column_int(int i) const { return sqlite3_column_int64(s_, i); }
    double column_real(int i) const { return sqlite3_column_double(s_, i); }

private:
    sqlite3_stmt* s_ = nullptr;
    int rc_;
};

} // namespace

Error Store::error(const std::string& what) const {
    const int code = sqlite3_extended_errcode(db_);
    std::string hint;
    if ((code & 0xff) == SQLITE_FULL) hint = " (the disk is full)";
    else if ((code & 0xff) == SQLITE_READONLY) hint = " (the file or its directory is read-only)";
    return Error{"state database " + path_.string() + ": " + what + ": " + sqlite3_errmsg(db_) + hint};
}

Result<void> Store::exec(const char* sql) {
    char* msg = nullptr;
    if (sqlite3_exec(db_, sql, nullptr, nullptr, &msg) != SQLITE_OK) {
        sqlite3_free(msg); // the same text as sqlite3_errmsg(), which error() adds
        return error(std::string("executing '") + std::string(sql).substr(0, 60) + "'");
    }
    return {};
}

Result<std::unique_ptr<Store>> Store::open(const std::filesystem::path& path) {
    std::error_code ec;
    if (auto dir = path.parent_path(); !dir.empty() && !std::filesystem::exists(dir, ec)) {
        std::filesystem::create_directories(dir, ec);
        if (ec) return Error{"cannot create " + dir.string() + ": " + ec.message()};
        ::chmod(dir.c_str(), 0700);
    }
    const mode_t old = ::umask(0077); // the database and its -wal/-shm files: 0600
    sqlite3* db = nullptr;
    const int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
    ::umask(old);
    if (rc != SQLITE_OK) {
        std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
        sqlite3_close(db);
        return Error{"cannot open the state database " + path.string() + ": " + msg};
    }
    std::unique_ptr<Store> s(new Store(db, path));
    sqlite3_busy_timeout(db, 2000);
    // WAL: readers never block the writer, and a crash loses at most the last commit.
    if (auto r = s->exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"); !r)
        return r.error();
    if (auto r = s->migrate(); !r) return r.error();
    return s;
}

Store::~Store() {
    sqlite3_close(db_);
}

Result<void> Store::migrate() {
    if (auto r = exec("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)"); !r) return r;
    {
        Stmt q(db_, "SELECT value FROM meta WHERE key = 'schema_version'");
        if (!q.ok()) return error("reading the schema version");
        version_ = q.step() == SQLITE_ROW ? std::atoi(q.column_text(0).c_str()) : 0;
    }
    if (version_ > kSchemaVersion)
        return Error{"state database " + path_.string() + " has schema version " + std::to_string(version_) +
                     ", newer than this homeostat's " + std::to_string(kSchemaVersion) +
                     "; upgrade homeostat or move the file away"};
    for (int v = version_; v < kSchemaVersion; ++v) {
        if (auto r = exec("BEGIN IMMEDIATE"); !r) return r;
        auto r = exec(kMigrations[v]);
        if (r) {
            Stmt u(db_, "INSERT OR REPLACE INTO meta(key, value) VALUES('schema_version', ?)");
            u.text(1, std::to_string(v + 1));
            if (u.step() != SQLITE_DONE) r = error("recording the schema version");
        }
        if (!r) {
            exec("ROLLBACK");
            return Error{r.error().message + " (migrating to schema version " + std::to_string(v + 1) + ")"};
        }
        if (auto c = exec("COMMIT"); !c) return c;
        version_ = v + 1;
    }
    return {};
}

Result<std::int64_t> Store::enqueue(const SpoolItem& item) {
    Stmt q(db_, "INSERT INTO spool(receiver, idempotency_key, body, attempts, created_at, next_attempt_at) "
                "VALUES(?, ?, ?, 0, ?, ?) ON CONFLICT(idempotency_key) DO NOTHING");
    if (!q.ok()) return error("preparing the spool insert");
    q.text(1, item.receiver).text(2, item.idempotency_key).blob(3, item.body).real(4, item.created_at)
        .real(5, item.next_attempt_at);
    if (q.step() != SQLITE_DONE) return error("spooling an alert");
    return static_cast<std::int64_t>(sqlite3_last_insert_rowid(db_));
}

Result<std::vector<SpoolItem>> Store::due(double now, std::size_t limit) {
    Stmt q(db_, "SELECT id, receiver, idempotency_key, body, attempts, created_at, next_attempt_at, last_error "
                "FROM spool WHERE state = 'pending' AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT ?");
    if (!q.ok()) return error("preparing the spool query");
    q.real(1, now).integer(2, static_cast<std::int64_t>(limit));
    std::vector<SpoolItem> out;
    int rc;
    while ((rc = q.step()) == SQLITE_ROW) {
        SpoolItem it;
        it.id = q.column_int(0);
        it.receiver = q.column_text(1);
        it.idempotency_key = q.column_text(2);
        it.body = q.column_text(3);
        it.attempts = q.column_int(4);
        it.created_at = q.column_real(5);
        it.next_attempt_at = q.column_real(6);
        it.last_error = q.column_text(7);
        out.push_back(std::move(it));
    }
    if (rc != SQLITE_DONE) return error("reading the spool");
    return out;
}

Result<void> Store::delivered(std::int64_t id, double now) {
    Stmt q(db_, "UPDATE spool SET state = 'delivered', finished_at = ?, attempts = attempts + 1 WHERE id = ?");
    q.real(1, now).integer(2, id);
    if (q.step() != SQLITE_DONE) return error("marking an alert delivered");
    return {};
}

Result<void> Store::retry_later(std::int64_t id, std::int64_t attempts, double next_attempt_at,
                                const std::string& error_text) {
    Stmt q(db_, "UPDATE spool SET attempts = ?, next_attempt_at = ?, last_error = ? WHERE id = ?");
    q.integer(1, attempts).real(2, next_attempt_at).text(3, error_text).integer(4, id);
    if (q.step() != SQLITE_DONE) return error("rescheduling an alert");
    return {};
}

Result<void> Store::give_up(std::int64_t id, const std::string& error_text, double now) {
    Stmt q(db_, "UPDATE spool SET state = 'failed', finished_at = ?, attempts = attempts + 1, last_error = ? "
                "WHERE id = ?");
    q.real(1, now).text(2, error_text).integer(3, id);
    if (q.step() != SQLITE_DONE) return error("marking an alert failed");
    return {};
}

Result<std::int64_t> Store::pending() {
    Stmt q(db_, "SELECT COUNT(*) FROM spool WHERE state = 'pending'");
    if (q.step() != SQLITE_ROW) return error("counting the spool");
    return q.column_int(0);
}

Result<std::int64_t> Store::prune(double before) {
    Stmt q(db_, "DELETE FROM spool WHERE state != 'pending' AND finished_at < ?");
    q.real(1, before);
    if (q.step() != SQLITE_DONE) return error("pruning the spool");
    return static_cast<std::int64_t>(sqlite3_changes(db_));
}

Result<void> Store::add_rollups(const std::vector<Rollup>& rows) {
    if (rows.empty()) return {};
    if (auto r = exec("BEGIN"); !r) return r;
    {
        Stmt q(db_, "INSERT INTO rollups(window_start, window_seconds, service, role, endpoint, requests, errors, "
                    "p50, p95, p99) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
        if (!q.ok()) {
            exec("ROLLBACK");
            return error("preparing the rollup insert");
        }
        for (const auto& row : rows) {
            sqlite3_reset(q.raw());
            q.real(1, row.window_start).real(2, row.window_seconds).text(3, row.service).text(4, row.role)
                .text(5, row.endpoint).integer(6, row.requests).integer(7, row.errors).real(8, row.p50)
                .real(9, row.p95).real(10, row.p99);
            if (q.step() != SQLITE_DONE) {
                auto e = error("writing rollups");
                exec("ROLLBACK");
                return e;
            }
        }
    }
    return exec("COMMIT");
}

Result<std::vector<Rollup>> Store::history(const std::string& service, double from, double to, std::size_t limit) {
    Stmt q(db_, service.empty()
                    ? "SELECT window_start, window_seconds, service, role, endpoint, requests, errors, p50, p95, p99 "
                      "FROM rollups WHERE window_start >= ? AND window_start <= ? ORDER BY window_start, service, "
                      "endpoint LIMIT ?"
                    : "SELECT window_start, window_seconds, service, role, endpoint, requests, errors, p50, p95, p99 "
                      "FROM rollups WHERE window_start >= ? AND window_start <= ? AND service = ? "
                      "ORDER BY window_start, endpoint LIMIT ?");
    if (!q.ok()) return error("preparing the history query");
    q.real(1, from).real(2, to);
    if (service.empty()) q.integer(3, static_cast<std::int64_t>(limit));
    else q.text(3, service).integer(4, static_cast<std::int64_t>(limit));
    std::vector<Rollup> out;
    int rc;
    while ((rc = q.step()) == SQLITE_ROW) {
        Rollup r;
        r.window_start = q.column_real(0);
        r.window_seconds = q.column_real(1);
        r.service = q.column_text(2);
        r.role = q.column_text(3);
        r.endpoint = q.column_text(4);
        r.requests = q.column_int(5);
        r.errors = q.column_int(6);
        r.p50 = q.column_real(7);
        r.p95 = q.column_real(8);
        r.p99 = q.column_real(9);
        out.push_back(std::move(r));
    }
    if (rc != SQLITE_DONE) return error("reading the history");
    return out;
}

Result<std::int64_t> Store::prune_rollups(double before) {
    Stmt q(db_, "DELETE FROM rollups WHERE window_start < ?");
    q.real(1, before);
    if (q.step() != SQLITE_DONE) return error("pruning rollups");
    return static_cast<std::int64_t>(sqlite3_changes(db_));
}

Result<void> Store::put_document(const std::string& name, const std::string& value, double now) {
    Stmt q(db_, "INSERT INTO documents(name, value, updated_at) VALUES(?, ?, ?) "
                "ON CONFLICT(name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at");
    q.text(1, name).blob(2, value).real(3, now);
    if (q.step() != SQLITE_DONE) return error("saving " + name);
    return {};
}

Result<std::string> Store::get_document(const std::string& name) {
    Stmt q(db_, "SELECT value FROM documents WHERE name = ?");
    q.text(1, name);
    const int rc = q.step();
    if (rc == SQLITE_ROW) return q.column_text(0);
    if (rc == SQLITE_DONE) return std::string();
    return error("reading " + name);
}

namespace {

ActionRecord read_action(const Stmt& q) {
    ActionRecord a;
    a.id = q.column_int(0);
    a.at = q.column_real(1);
    a.updated_at = q.column_real(2);
    a.service = q.column_text(3);
    a.kind = q.column_text(4);
    a.rule = q.column_text(5);
    a.verdict = q.column_text(6);
    a.summary = q.column_text(7);
    a.reason = q.column_text(8);
    a.detail = q.column_text(9);
    a.anomaly_id = static_cast<std::uint64_t>(q.column_int(10));
    return a;
}

TunedRecord read_tuned(const Stmt& q) {
    TunedRecord t;
    t.id = q.column_int(0);
    t.at = q.column_real(1);
    t.service = q.column_text(2);
    t.target = q.column_text(3);
    t.settings = q.column_text(4);
    t.applied = q.column_int(5) != 0;
    t.reason = q.column_text(6);
    return t;
}

constexpr const char* kActionColumns =
    "SELECT id, at, updated_at, service, kind, rule, verdict, summary, reason, detail, anomaly_id FROM actions ";
constexpr const char* kTunedColumns = "SELECT id, at, service, target, settings, applied, reason FROM tuned ";

} // namespace

Result<std::int64_t> Store::add_action(const ActionRecord& a) {
    Stmt q(db_, "INSERT INTO actions(at, updated_at, service, kind, rule, verdict, summary, reason, detail, "
                "anomaly_id) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    if (!q.ok()) return error("preparing the audit insert");
    q.real(1, a.at).real(2, a.at).text(3, a.service).text(4, a.kind).text(5, a.rule).text(6, a.verdict)
        .text(7, a.summary).text(8, a.reason).text(9, a.detail.empty() ? "{}" : a.detail)
        .integer(10, static_cast<std::int64_t>(a.anomaly_id));
    if (q.step() != SQLITE_DONE) return error("writing the audit log");
    return static_cast<std::int64_t>(sqlite3_last_insert_rowid(db_));
}

Result<void> Store::update_action(std::int64_t id, const std::string& verdict, const std::string& detail,
                                  double now) {
    Stmt q(db_, "UPDATE actions SET verdict = ?, detail = ?, updated_at = ? WHERE id = ?");
    q.text(1, verdict).text(2, detail.empty() ? "{}" : detail).real(3, now).integer(4, id);
    if (q.step() != SQLITE_DONE) return error("updating the audit log");
    if (sqlite3_changes(db_) == 0) return Error{"audit log: no action with id " + std::to_string(id)};
    return {};
}

Result<std::vector<ActionRecord>> Store::actions(const std::string& service, std::size_t limit) {
    const std::string sql = std::string(kActionColumns) + (service.empty() ? "" : "WHERE service = ? ") +
                            "ORDER BY at DESC, id DESC LIMIT ?";
    Stmt q(db_, sql.c_str());
    if (!q.ok()) return error("preparing the audit query");
    int i = 1;
    if (!service.empty()) q.text(i++, service);
    q.integer(i, static_cast<std::int64_t>(limit));
    std::vector<ActionRecord> out;
    int rc;
    while ((rc = q.step()) == SQLITE_ROW) out.push_back(read_action(q));
    if (rc != SQLITE_DONE) return error("reading the audit log");
    return out;
}

Result<std::int64_t> Store::prune_actions(double before) {
    Stmt q(db_, "DELETE FROM actions WHERE at < ?");
    q.real(1, before);
    if (q.step() != SQLITE_DONE) return error("pruning the audit log");
    return static_cast<std::int64_t>(sqlite3_changes(db_));
}

Result<std::int64_t> Store::add_tuned(const TunedRecord& t) {
    Stmt q(db_, "INSERT INTO tuned(at, service, target, settings, applied, reason) VALUES(?, ?, ?, ?, ?, ?)");
    if (!q.ok()) return error("preparing the tuned insert");
    q.real(1, t.at).text(2, t.service).text(3, t.target).text(4, t.settings).integer(5, t.applied ? 1 : 0)
        .text(6, t.reason);
    if (q.step() != SQLITE_DONE) return error("writing tuned settings");
    return static_cast<std::int64_t>(sqlite3_last_insert_rowid(db_));
}

Result<std::vector<TunedRecord>> Store::tuned_current() {
    Stmt q(db_, (std::string(kTunedColumns) +
                 "WHERE id IN (SELECT MAX(id) FROM tuned GROUP BY service, target) ORDER BY service, target")
                    .c_str());
    if (!q.ok()) return error("preparing the tuned query");
    std::vector<TunedRecord> out;
    int rc;
    while ((rc = q.step()) == SQLITE_ROW) out.push_back(read_tuned(q));
    if (rc != SQLITE_DONE) return error("reading tuned settings");
    return out;
}

Result<std::vector<TunedRecord>> Store::tuned_history(const std::string& service, std::size_t limit) {
    const std::string sql =
        std::string(kTunedColumns) + (service.empty() ? "" : "WHERE service = ? ") + "ORDER BY id DESC LIMIT ?";
    Stmt q(db_, sql.c_str());
    if (!q.ok()) return error("preparing the tuned query");
    int i = 1;
    if (!service.empty()) q.text(i++, service);
    q.integer(i, static_cast<std::int64_t>(limit));
    std::vector<TunedRecord> out;
    int rc;
    while ((rc = q.step()) == SQLITE_ROW) out.push_back(read_tuned(q));
    if (rc != SQLITE_DONE) return error("reading tuned settings");
    return out;
}

} // namespace homeostat::agent
