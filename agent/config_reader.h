#pragma once
// Reading one mapping of the config (as JSON, agent/yaml_json) key by key: each problem
// becomes one "healing.x.key: what" error and the value keeps its default, so one run of
// `config check` shows every problem. agent/config.cpp maps the dotted key back to the
// file's line and column.

#include <cmath>
#include <functional>
#include <initializer_list>
#include <limits>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/policy/rules.h"

namespace homeostat::agent {

struct ConfigReader {
    const nlohmann::json& j;
    std::string where;
    std::vector<std::string>& errors;

    void add(const std::string& key, const std::string& what) const {
        errors.push_back(where + (key.empty() ? "" : "." + key) + ": " + what);
    }
    bool has(const char* key) const { return j.contains(key); }
    std::string at(const char* key) const { return where + "." + key; }

    void known(std::initializer_list<const char*> keys) const {
        for (const auto& [k, v] : j.items()) {
            bool ok = false;
            for (const char* x : keys) ok |= k == x;
            if (ok) continue;
            std::string list;
            for (const char* x : keys) list += (list.empty() ? "" : ", ") + std::string(x);
            add(k, "unknown key (expected " + list + ")");
        }
    }
    // A number inside [lo, hi] (open ends where said), with `range` describing it.
    void number(const char* key, double& out, double lo, double hi, bool lo_open, bool hi_open,
                const std::string& range) const {
        if (!has(key)) return;
        const nlohmann::json& v = j[key];
        const double x = v.is_number() ? v.get<double>() : std::numeric_limits<double>::quiet_NaN();
        const bool ok = std::isfinite(x) && (lo_open ? x > lo : x >= lo) && (hi_open ? x < hi : x <= hi);
        if (!ok) return add(key, "expected a number " + range + ", got " + v.dump());
        out = x;
    }
    void whole(const char* key, double& out, double lo, double hi) const {
        if (!has(key)) return;
        const nlohmann::json& v = j[key];
        if (!v.is_number_integer() || v.get<double>() < lo || v.get<double>() > hi)
            return add(key, "expected a whole number from " + nlohmann::json(lo).dump() + " to " +
                                nlohmann::json(hi).dump() + ", got " + v.dump());
        out = v.get<double>();
    }
    void boolean(const char* key, bool& out) const {
        if (!has(key)) return;
        if (!j[key].is_boolean()) return add(key, "expected true or false, got " + j[key].dump());
        out = j[key].get<bool>();
    }
    void seconds(const char* key, double& out, bool positive) const {
        if (!has(key)) return;
        auto s = engine::policy::parse_seconds(j[key], at(key));
        if (!s) return errors.push_back(s.error().message);
        if (positive && !(s.value() > 0)) return add(key, "must be > 0");
        out = s.value();
    }
    void size(const char* key, double& out) const {
        if (!has(key)) return;
        auto s = engine::policy::parse_size(j[key], at(key));
        if (!s) return errors.push_back(s.error().message);
        out = s.value();
    }
    void globs(const char* key, std::vector<std::string>& out) const {
        if (!has(key)) return;
        const nlohmann::json& v = j[key];
        if (v.is_string()) {
            out = {v.get<std::string>()};
            return;
        }
        if (!v.is_array() || v.empty()) return add(key, "expected a service name, a glob or a non-empty list of them");
        std::vector<std::string> list;
        for (std::size_t i = 0; i < v.size(); ++i) {
            if (!v[i].is_string() || v[i].get<std::string>().empty())
                add(std::string(key) + "[" + std::to_string(i) + "]", "expected a service name or glob");
            else list.push_back(v[i].get<std::string>());
        }
        out = std::move(list);
    }
    // One of `choices` (by name).
    void choice(const char* key, const std::vector<std::string>& choices, const std::function<void(std::size_t)>& set) const {
        if (!has(key)) return;
        const nlohmann::json& v = j[key];
        for (std::size_t i = 0; i < choices.size(); ++i)
            if (v.is_string() && v.get<std::string>() == choices[i]) return set(i);
        std::string list;
        for (const auto& c : choices) list += (list.empty() ? "" : ", ") + c;
        add(key, "expected one of " + list + ", got " + v.dump());
    }
};


} // namespace homeostat::agent
