// YAML from the configuration file as JSON, for sections whose parser takes JSON (the
// healing policy: engine/policy knows no YAML), and the way back from a dotted key in an
// error ("healing.rules[2].action.max: ...") to the line and column that set it.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace YAML {
class Node;
}

namespace homeostat::agent {

// Scalars: quoted ones stay strings; plain ones become null (~, null, empty), booleans
// (true/false/yes/no/on/off), integers, finite numbers, else strings. Maps keep their
// keys as strings; sequences become arrays.
nlohmann::json yaml_to_json(const YAML::Node& n);

// The node a dotted key names ("alerting.receivers[1].url"), or an undefined node when
// the file does not set it.
YAML::Node find_node(const YAML::Node& root, const std::string& key);

// "FILE:LINE:COLUMN" of a node.
std::string where(const std::string& path, const YAML::Node& n);

// An error that starts with a dotted key ("healing.rules[2].action.max: must be > min")
// as "FILE:LINE:COLUMN: healing.rules[2].action.max: must be > min", pointing at the
// deepest part of the key the file sets; "FILE: ..." when none.
std::string locate(const std::string& path, const YAML::Node& root, const std::string& message);

} // namespace homeostat::agent
