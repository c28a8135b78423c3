// A /metrics page as the daemon serves it, with every family present (rich fixtures of
// prometheus_text_test.cpp), for tests that check what others expect of it; and a way
// to ask promtool about it.
#pragma once

#include <string>

namespace homeostat::exporters {

std::string full_metrics_page();

// Runs a shell command (stderr joined to stdout); exit_code is -1 if it did not exit.
struct ShellResult {
    int exit_code = -1;
    std::string output;
};
ShellResult run_shell(const std::string& cmd);

} // namespace homeostat::exporters
