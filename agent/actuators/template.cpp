#include "agent/actuators/template.h"

#include <algorithm>
#include <cctype>
#include <set>

namespace homeostat::agent::actuators {

Result<std::string> render_template(const std::string& text, const std::map<std::string, std::string>& vars) {
    std::string out;
    std::set<std::string> missing;
    std::size_t pos = 0;
    auto line_of = [&](std::size_t at) {
        return std::to_string(1 + std::count(text.begin(), text.begin() + at, '\n'));
    };
    for (;;) {
        std::size_t open = text.find("{{", pos);
        if (open == std::string::npos) break;
        std::size_t close = text.find("}}", open + 2);
        if (close == std::string::npos)
            return Error{"template line " + line_of(open) + ": \"{{\" without \"}}\""};
        std::string name = text.substr(open + 2, close - open - 2);
        name.erase(0, name.find_first_not_of(' '));
        name.erase(name.find_last_not_of(' ') + 1);
        bool valid = !name.empty() && std::all_of(name.begin(), name.end(), [](unsigned char c) {
            return std::isalnum(c) || c == '_' || c == '.' || c == '-';
        });
        if (!valid) return Error{"template line " + line_of(open) + ": bad variable name \"" + name + "\""};
        out.append(text, pos, open - pos);
        if (auto it = vars.find(name); it == vars.end()) {
            missing.insert(name);
        } else {
            bool control = std::any_of(it->second.begin(), it->second.end(),
                                       [](unsigned char c) { return std::iscntrl(c) && c != '\t'; });
            if (control)
                return Error{"template variable " + name +
                             " has a control character (newline?) in its value"};
            out += it->second;
        }
        pos = close + 2;
    }
    if (!missing.empty()) {
        std::string names;
        for (const auto& m : missing)
            names += (names.empty() ? "" : ", ") + m;
        return Error{"template variable" + std::string(missing.size() > 1 ? "s " : " ") + names +
                     " not set (give it in the action's vars or the file's vars)"};
    }
    out.append(text, pos, std::string::npos);
    return out;
}

} // namespace homeostat::agent::actuators
