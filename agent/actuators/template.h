// {{var}} templates for configured files: substitution only, no expressions, no code.
#pragma once

#include <map>
#include <string>

#include "agent/result.h"

namespace homeostat::agent::actuators {

// Replaces each {{ name }} (name: letters, digits, '_', '.', '-'; spaces around it allowed)
// with vars[name]. Errors name every missing variable, an unterminated "{{" or a bad name
// (with its line), and a value holding a control character (a newline in a value could
// add a directive the template's author never wrote).
Result<std::string> render_template(const std::string& text, const std::map<std::string, std::string>& vars);

} // namespace homeostat::agent::actuators
