#include "engine/detect/detector.h"

#include <stdexcept>
#include <string>

namespace homeostat::engine::detect {

void check_type(const nlohmann::json& j, std::string_view name) {
    const auto& type = j.at("type").get_ref<const std::string&>();
    if (type != name)
        throw std::invalid_argument("detector state is for '" + type + "', not '" + std::string(name) + "'");
}

} // namespace homeostat::engine::detect
