// Walking /proc, shared by identity and process health.
#pragma once

#include <dirent.h>

#include <cstdint>
#include <cstdlib>
#include <string>

namespace homeostat::agent {

// Visits every numeric entry of /proc (every process, threads not included).
template <typename F>
void for_each_pid(const std::string& proc, F&& f) {
    DIR* d = ::opendir(proc.c_str());
    if (!d) return;
    while (dirent* e = ::readdir(d)) {
        char* end = nullptr;
        unsigned long pid = std::strtoul(e->d_name, &end, 10);
        if (end && *end == '\0' && pid > 0) f(static_cast<std::uint32_t>(pid));
    }
    ::closedir(d);
}

} // namespace homeostat::agent
