// The daemon's io_context for the healing tests: Healing posts its worker's results here
// (post()), drain() runs them on the test's thread until no job is in flight; bounded.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "agent/healing.h"

namespace homeostat::agent::testing {

// The first line of a (cgroup or config) file the test wrote or healing rewrote.
inline std::string first_line(const std::filesystem::path& p) {
    std::ifstream f(p);
    std::string s;
    std::getline(f, s);
    return s;
}

class PostedQueue {
public:
    Healing::Post post() {
        return [this](std::function<void()> f) {
            std::lock_guard lock(mu_);
            posted_.push_back(std::move(f));
        };
    }
    void drain(Healing& h) {
        for (int i = 0; i < 500 && (h.jobs_in_flight() > 0 || pending()); ++i) {
            std::vector<std::function<void()>> fs;
            {
                std::lock_guard lock(mu_);
                fs.swap(posted_);
            }
            for (auto& f : fs) f();
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        ASSERT_EQ(h.jobs_in_flight(), 0u);
    }

private:
    bool pending() {
        std::lock_guard lock(mu_);
        return !posted_.empty();
    }
    std::mutex mu_;
    std::vector<std::function<void()>> posted_;
};

} // namespace homeostat::agent::testing
