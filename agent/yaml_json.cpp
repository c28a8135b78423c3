#include "agent/yaml_json.h"

#include <yaml-cpp/yaml.h>

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <optional>

namespace homeostat::agent {

nlohmann::json yaml_to_json(const YAML::Node& n) {
    switch (n.Type()) {
    case YAML::NodeType::Map: {
        nlohmann::json j = nlohmann::json::object();
        for (const auto& kv : n) j[kv.first.Scalar()] = yaml_to_json(kv.second);
        return j;
    }
    case YAML::NodeType::Sequence: {
        nlohmann::json j = nlohmann::json::array();
        for (const auto& item : n) j.push_back(yaml_to_json(item));
        return j;
    }
    case YAML::NodeType::Scalar: {
        const std::string& s = n.Scalar();
        if (n.Tag() == "!") return s; // quoted: a string, whatever it looks like
        if (s == "~" || s == "null" || s.empty()) return nullptr;
        if (s == "true" || s == "yes" || s == "on") return true;
        if (s == "false" || s == "no" || s == "off") return false;
        std::int64_t i = 0;
        if (auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), i);
            ec == std::errc() && end == s.data() + s.size())
            return i;
        double d = 0;
        if (auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), d);
            ec == std::errc() && end == s.data() + s.size() && std::isfinite(d))
            return d;
        return s;
    }
    default:
        return nullptr;
    }
}

YAML::Node find_node(const YAML::Node& root, const std::string& key) {
    // yaml-cpp's Node::operator= writes through to the node referred to; reset() rebinds.
    YAML::Node n;
    n.reset(root);
    std::size_t pos = 0;
    while (pos < key.size()) {
        const auto dot = key.find('.', pos);
        std::string part = key.substr(pos, dot == std::string::npos ? std::string::npos : dot - pos);
        std::optional<std::size_t> index;
        if (auto br = part.find('['); br != std::string::npos) {
            index = std::strtoul(part.c_str() + br + 1, nullptr, 10);
            part = part.substr(0, br);
        }
        if (!n.IsMap()) return YAML::Node(YAML::NodeType::Undefined);
        YAML::Node next(YAML::NodeType::Undefined);
        for (const auto& kv : n)
            if (kv.first.Scalar() == part) next.reset(kv.second);
        if (!next.IsDefined()) return next;
        if (index) {
            if (!next.IsSequence() || *index >= next.size()) return YAML::Node(YAML::NodeType::Undefined);
            const YAML::Node item = next[*index];
            next.reset(item);
        }
        n.reset(next);
        if (dot == std::string::npos) break;
        pos = dot + 1;
    }
    return n;
}

std::string where(const std::string& path, const YAML::Node& n) {
    return path + ":" + std::to_string(n.Mark().line + 1) + ":" + std::to_string(n.Mark().column + 1);
}

std::string locate(const std::string& path, const YAML::Node& root, const std::string& message) {
    const auto colon = message.find(": ");
    std::string key = message.substr(0, colon == std::string::npos ? 0 : colon);
    // The deepest part of the key the file sets: "rules[0].cooldwn" of an unknown key
    // is not in the file as a path, but "rules[0]" is.
    while (!key.empty()) {
        const YAML::Node n = find_node(root, key);
        if (n.IsDefined()) return where(path, n) + ": " + message;
        const auto cut = key.find_last_of(".[");
        if (cut == std::string::npos) break;
        key.resize(cut);
    }
    return path + ": " + message;
}

} // namespace homeostat::agent
