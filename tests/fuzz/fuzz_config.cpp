// The config loader on arbitrary YAML text: it must return a Config or an Error, never
// throw or crash, and a Config it returns must pass validate() (load_config checks it).
#include <cstdlib>
#include <string>

#include "agent/config.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    auto c = homeostat::agent::load_config_text(text, "fuzz.yaml");
    if (c) {
        if (!homeostat::agent::validate(c.value())) std::abort();
    } else if (c.error().message.empty()) {
        std::abort(); // an error must say what is wrong
    }
    return 0;
}
