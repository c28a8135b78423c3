// packaging/grafana/homeostat.json against what the daemon exports: every metric and
// label a PromQL expression names must be on a /metrics page (full_metrics_page()), the
// panels the operator needs must be there, and promtool must parse every expression.
#include <unistd.h>

#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/exporters/metrics_page.h"

namespace homeostat::exporters {
namespace {

struct Page {
    std::set<std::string> samples; // sample names: foo_bucket, foo_count, bar_total
    std::set<std::string> labels;  // every label name on any sample
};

Page parse_page(const std::string& text) {
    Page p;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        if (line.empty() || line[0] == '#') continue;
        const auto name_end = line.find_first_of("{ ");
        p.samples.insert(line.substr(0, name_end));
        if (line[name_end] != '{') continue;
        // name{a="x",b="y\"z"} v
        std::size_t i = name_end + 1;
        while (i < line.size() && line[i] != '}') {
            const auto eq = line.find('=', i);
            p.labels.insert(line.substr(i, eq - i));
            i = eq + 2; // past ="
            while (i < line.size() && line[i] != '"') i += line[i] == '\\' ? 2 : 1;
            ++i;
            if (i < line.size() && line[i] == ',') ++i;
        }
    }
    return p;
}

struct Names {
    std::vector<std::string> metrics;
    std::vector<std::string> labels;
};

bool ident_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':'; }
bool ident_char(char c) { return ident_start(c) || std::isdigit(static_cast<unsigned char>(c)); }

// Metric names and label names of a PromQL expression. Function and aggregation names
// (followed by "(" or by/without), keywords, numbers, strings, ranges and Grafana
// variables are not names.
Names promql_names(const std::string& e) {
    static const std::set<std::string> aggregations = {"sum", "min", "max", "avg", "group", "stddev", "stdvar",
                                                       "count", "count_values", "bottomk", "topk", "quantile"};
    static const std::set<std::string> label_lists = {"by", "without", "on", "ignoring", "group_left",
                                                      "group_right"};
    static const std::set<std::string> keywords = {"bool", "offset", "and", "or", "unless"};
    Names out;
    std::size_t i = 0;
    auto skip_space = [&] { while (i < e.size() && std::isspace(static_cast<unsigned char>(e[i]))) ++i; };
    auto ident = [&] {
        const auto s = i;
        while (i < e.size() && ident_char(e[i])) ++i;
        return e.substr(s, i - s);
    };
    auto skip_string = [&] {
        const char q = e[i++];
        while (i < e.size() && e[i] != q) i += e[i] == '\\' ? 2 : 1;
        ++i;
    };
    while (i < e.size()) {
        const char c = e[i];
        if (c == '"' || c == '\'' || c == '`') { skip_string(); continue; }
        if (c == '[') { i = e.find(']', i) + 1; continue; } // [5m], [$__rate_interval]
        if (c == '$') { ++i; ident(); continue; }
        if (std::isdigit(static_cast<unsigned char>(c))) {
            while (i < e.size() && (std::isalnum(static_cast<unsigned char>(e[i])) || e[i] == '.')) ++i;
            continue;
        }
        if (c == '{') { // matchers: name op "value", ...
            ++i;
            for (;;) {
                skip_space();
                if (i >= e.size() || e[i] == '}') { ++i; break; }
                if (e[i] == ',') { ++i; continue; }
                if (ident_start(e[i])) { out.labels.push_back(ident()); continue; }
                if (e[i] == '"' || e[i] == '\'' || e[i] == '`') { skip_string(); continue; }
                ++i; // = != =~ !~
            }
            continue;
        }
        if (!ident_start(c)) { ++i; continue; }
        const std::string word = ident();
        skip_space();
        if (label_lists.count(word)) { // by (a, b); group_left may have no list
            if (i >= e.size() || e[i] != '(') continue;
            const auto close = e.find(')', i);
            std::string list = e.substr(i + 1, close - i - 1);
            std::istringstream in(list);
            for (std::string l; std::getline(in, l, ',');) {
                l.erase(0, l.find_first_not_of(" \n"));
                l.erase(l.find_last_not_of(" \n") + 1);
                if (!l.empty()) out.labels.push_back(l);
            }
            i = close + 1;
            continue;
        }
        if (keywords.count(word) || aggregations.count(word)) continue;
        if (i < e.size() && e[i] == '(') continue; // a function
        out.metrics.push_back(word);
    }
    return out;
}

struct Expr {
    std::string where; // panel title / refId
    std::string promql;
};

nlohmann::json load_dashboard() {
    std::ifstream f(HOMEOSTAT_SOURCE_DIR "/packaging/grafana/homeostat.json");
    EXPECT_TRUE(f.good()) << "packaging/grafana/homeostat.json is missing";
    return nlohmann::json::parse(f); // throws, and fails the test, on bad JSON
}

std::vector<Expr> exprs_of(const nlohmann::json& dash) {
    std::vector<Expr> out;
    for (const auto& p : dash.at("panels")) {
        if (p.at("type") == "row") continue;
        for (const auto& t : p.at("targets"))
            out.push_back({p.at("title").get<std::string>() + " / " + t.at("refId").get<std::string>(),
                           t.at("expr").get<std::string>()});
    }
    // Template variables: label_values(metric, label) is Grafana's, not PromQL; its
    // arguments are a metric and a label.
    for (const auto& v : dash.at("templating").at("list")) {
        if (v.at("type") != "query") continue;
        std::string q = v.at("definition");
        const std::string prefix = "label_values(";
        EXPECT_EQ(q.rfind(prefix, 0), 0u) << q;
        q = q.substr(prefix.size(), q.size() - prefix.size() - 1);
        const auto comma = q.find(',');
        std::string label = q.substr(comma + 1);
        label.erase(0, label.find_first_not_of(' '));
        out.push_back({"variable " + v.at("name").get<std::string>(), q.substr(0, comma) + "{" + label + "=\"\"}"});
    }
    return out;
}

TEST(GrafanaDashboard, NamesOnlyMetricsAndLabelsTheDaemonExports) {
    const Page page = parse_page(full_metrics_page());
    ASSERT_GT(page.samples.size(), 30u);
    const auto exprs = exprs_of(load_dashboard());
    ASSERT_GT(exprs.size(), 10u);
    std::set<std::string> used;
    for (const auto& x : exprs) {
        const auto names = promql_names(x.promql);
        EXPECT_FALSE(names.metrics.empty()) << x.where << ": no metric in " << x.promql;
        for (const auto& m : names.metrics) {
            EXPECT_TRUE(page.samples.count(m)) << x.where << ": " << m << " is not on /metrics (" << x.promql << ")";
            used.insert(m);
        }
        for (const auto& l : names.labels)
            EXPECT_TRUE(l == "le" || page.labels.count(l)) << x.where << ": no metric has a label " << l;
    }
    // What an operator looks at: traffic, errors and latency per route, resources against
    // limits, restarts, OOM kills, TCP trouble, anomalies and the agent's own losses.
    for (const char* want : {"http_server_request_duration_seconds_count", "http_server_request_duration_seconds_bucket",
                             "homeostat_http_request_duration_quantile_seconds", "process_cpu_seconds_total",
                             "process_resident_memory_bytes", "homeostat_cgroup_memory_limit_bytes",
                             "homeostat_service_restarts_total", "homeostat_oom_kills_total", "tcp_retransmits_total",
                             "tcp_resets_total", "tcp_connect_failures_total", "homeostat_anomaly_score",
                             "homeostat_anomalies_open", "homeostat_events_dropped_total"})
        EXPECT_TRUE(used.count(want)) << "no panel shows " << want;
}

TEST(GrafanaDashboard, ExtractsNamesTheWayPromqlReadsThem) {
    const auto n = promql_names(
        "histogram_quantile(0.95, sum by (service, le) (rate(x_bucket{service=~\"$service\", a!=\"b}\"}[$__rate_interval])))"
        " / on (service) group_left sum without (z) (y_total) > bool 0.5e3");
    EXPECT_EQ(n.metrics, (std::vector<std::string>{"x_bucket", "y_total"}));
    EXPECT_EQ(n.labels, (std::vector<std::string>{"service", "le", "service", "a", "service", "z"}));
}

TEST(GrafanaDashboard, PanelsAreWellFormed) {
    const auto dash = load_dashboard();
    EXPECT_EQ(dash.at("uid"), "homeostat-services");
    std::set<int> ids;
    for (const auto& p : dash.at("panels")) {
        EXPECT_TRUE(ids.insert(p.at("id").get<int>()).second) << "duplicate panel id " << p.at("id");
        const auto& g = p.at("gridPos");
        EXPECT_LE(g.at("x").get<int>() + g.at("w").get<int>(), 24) << p.at("title");
        if (p.at("type") == "row") continue;
        // Every query goes to the data source the importer picks, not a fixed one.
        EXPECT_EQ(p.at("datasource").at("uid"), "${datasource}") << p.at("title");
        EXPECT_FALSE(p.at("targets").empty()) << p.at("title");
    }
}

// promtool (CI installs prometheus) parses each expression as a recording rule, with
// Grafana's variables replaced by what Grafana would put there.
TEST(GrafanaDashboard, PromtoolParsesEveryExpression) {
    const std::string promtool = HOMEOSTAT_PROMTOOL;
    ASSERT_EQ(::access(promtool.c_str(), X_OK), 0) << promtool << " not found: apt-get install prometheus";
    const auto file = std::filesystem::temp_directory_path() /
                      ("homeostat_dashboard_rules_" + std::to_string(::getpid()) + ".yml");
    {
        std::ofstream out(file);
        out << "groups:\n- name: dashboard\n  rules:\n";
        int n = 0;
        for (const auto& x : exprs_of(load_dashboard())) {
            std::string e = x.promql;
            for (auto [var, value] : std::map<std::string, std::string>{{"$__rate_interval", "1m"}, {"$service", ".*"}})
                for (auto pos = e.find(var); pos != std::string::npos; pos = e.find(var))
                    e.replace(pos, var.size(), value);
            out << "  - record: dashboard:expr" << n++ << "\n    expr: " << nlohmann::json(e).dump() << "\n";
        }
    }
    const auto r = run_shell(promtool + " check rules " + file.string());
    std::filesystem::remove(file);
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("SUCCESS"), std::string::npos) << r.output;
}

} // namespace
} // namespace homeostat::exporters
