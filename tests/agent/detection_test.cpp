// agent::Detection with a real Aggregator fed generated events: which windows it
// observes and when, and how its state file behaves (atomic, 0600, a corrupt file set
// aside, an unwritable place reported without stopping detection).
#include "agent/detection.h"

#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "engine/testing/event_generator.h"

namespace homeostat::agent {
namespace {

using namespace std::chrono_literals;
using engine::testing::EventGenerator;

class DetectionTest : public ::testing::Test {
protected:
    void SetUp() override {
        dir_ = std::filesystem::temp_directory_path() /
               ("homeostat-detection-" + std::to_string(::getpid()) + "-" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        std::filesystem::remove_all(dir_);
        engine::AggregatorConfig ac;
        ac.window = 1s;
        ac.windows_kept = 3;
        agg_ = std::make_unique<engine::Aggregator>(ac);
        opts_.live.warmup = 5;
        opts_.grace = 200ms;
        auto db = Store::open(dir_ / "state" / "homeostat.db");
        ASSERT_TRUE(db.ok()) << db.error().message;
        store_ = std::move(db.value());
        opts_.store = store_.get();
    }
    void TearDown() override {
        store_.reset();
        std::filesystem::remove_all(dir_);
    }

    // 20 requests of `latency` in window w (on the monotonic axis, 1 s windows).
    void traffic(std::int64_t w, std::chrono::nanoseconds latency, engine::Aggregator* agg = nullptr) {
        if (!agg) agg = agg_.get();
        for (int i = 0; i < 20; ++i)
            agg->record("api", gen_.exchange(HS_M_GET, "/work", 200, latency),
                         std::chrono::seconds(w) + std::chrono::milliseconds(10 + 40 * i));
    }

    std::filesystem::path dir_;
    std::unique_ptr<Store> store_;
    std::unique_ptr<engine::Aggregator> agg_;
    DetectionOptions opts_;
    EventGenerator gen_;
};

TEST_F(DetectionTest, ObservesEachClosedWindowOnceAfterTheGrace) {
    Detection d(opts_, *agg_, 100500ms); // started mid-window 100: that one is skipped
    traffic(100, 5ms);
    traffic(101, 5ms);
    d.tick(101900ms, 1e9);
    EXPECT_EQ(d.monitor().last_window(), INT64_MIN); // 101 not closed yet
    EXPECT_EQ(d.next_due(101900ms), 300ms);          // 102 s + 200 ms grace
    d.tick(102100ms, 1e9);
    EXPECT_EQ(d.monitor().last_window(), INT64_MIN); // closed, but within the grace
    d.tick(102200ms, 1e9);
    EXPECT_EQ(d.monitor().last_window(), 101);
    EXPECT_EQ(d.monitor().series_count(), 2u); // the endpoint and its service
    const auto saved = d.monitor().save().dump();
    d.tick(102900ms, 1e9); // nothing new closed
    EXPECT_EQ(d.monitor().save().dump(), saved);
}

TEST_F(DetectionTest, LatencySpikeThroughTheRealAggregator) {
    Detection d(opts_, *agg_, 0s);
    std::int64_t w = 1;
    for (; w <= 12; ++w) {
        traffic(w, std::chrono::microseconds(5000 + 100 * (w % 3)));
        d.tick(std::chrono::seconds(w + 1) + 250ms, 1e9 + static_cast<double>(w));
    }
    EXPECT_TRUE(d.monitor().anomalies().empty());
    for (int i = 0; i < 2; ++i, ++w) {
        traffic(w, 200ms);
        d.tick(std::chrono::seconds(w + 1) + 250ms, 1e9 + static_cast<double>(w));
    }
    auto list = d.monitor().anomalies();
    ASSERT_EQ(list.size(), 1u);
    EXPECT_EQ(list[0].type, "latency_spike");
    EXPECT_EQ(list[0].endpoint, "GET /work");
    auto j = d.to_json();
    EXPECT_EQ(j["open"], 1);
    EXPECT_EQ(j["anomalies"][0]["type"], "latency_spike");
    EXPECT_EQ(j["window_seconds"], 1.0);
}

TEST_F(DetectionTest, WindowsThatLeftTheRingAreSkipped) {
    Detection d(opts_, *agg_, 0s);
    traffic(1, 5ms);
    traffic(10, 5ms); // the daemon was stalled: windows 1..7 are out of the 3-window ring
    d.tick(10s + 500ms, 1e9);
    EXPECT_EQ(d.monitor().last_window(), 9);
}

TEST_F(DetectionTest, StateRoundTripThroughTheStore) {
    Detection d(opts_, *agg_, 0s);
    for (std::int64_t w = 1; w <= 8; ++w) {
        traffic(w, 5ms);
        d.tick(std::chrono::seconds(w + 1) + 250ms, 1e9);
    }
    ASSERT_TRUE(d.save_state(1e9));
    engine::Aggregator agg2(agg_->config());
    Detection restored(opts_, agg2, 9s + 100ms);
    restored.load_state();
    EXPECT_EQ(restored.monitor().save().dump(), d.monitor().save().dump());
    // A second daemon process would open the same file: the state is in the database.
    auto other = Store::open(dir_ / "state" / "homeostat.db");
    ASSERT_TRUE(other.ok());
    EXPECT_EQ(other.value()->get_document(Detection::kStateDocument).value(), d.monitor().save().dump());
}

TEST_F(DetectionTest, CorruptStateIsSetAsideNotFatal) {
    ASSERT_TRUE(store_->put_document(Detection::kStateDocument, "{\"format\": 1, \"endpoints\": [tru", 1).ok());
    Detection d(opts_, *agg_, 0s);
    d.load_state();
    EXPECT_EQ(d.monitor().series_count(), 0u);
    EXPECT_EQ(store_->get_document(std::string(Detection::kStateDocument) + ".bad").value(),
              "{\"format\": 1, \"endpoints\": [tru");
    EXPECT_TRUE(d.save_state(2)); // the next save replaces it
}

TEST_F(DetectionTest, RebootedClockKeepsBaselines) {
    Detection d(opts_, *agg_, 0s);
    for (std::int64_t w = 1; w <= 8; ++w) {
        traffic(w, 5ms);
        d.tick(std::chrono::seconds(w + 1) + 250ms, 1e9);
    }
    ASSERT_TRUE(d.save_state(1e9));
    // After a reboot the monotonic clock starts near 0 again.
    engine::Aggregator agg2(agg_->config());
    Detection after(opts_, agg2, 0s);
    after.load_state();
    EXPECT_EQ(after.monitor().series_count(), 2u);
    EXPECT_EQ(after.monitor().last_window(), 0); // the partial start window, as always
    for (std::int64_t w = 1; w <= 2; ++w) {
        traffic(w, 300ms, &agg2);
        after.tick(std::chrono::seconds(w + 1) + 250ms, 2e9);
    }
    // No new warm-up: the spike on the learned baseline opens at once.
    ASSERT_EQ(after.monitor().anomalies().size(), 1u);
    EXPECT_EQ(after.monitor().anomalies()[0].type, "latency_spike");
}

TEST_F(DetectionTest, ResourceTotalsBecomeWindowsAndAnomalies) {
    Detection d(opts_, *agg_, 0s);
    ServiceTotals t;
    t.service = "batch.service";
    t.cpu_limit_cores = 2;
    t.memory_bytes = 100e6;
    t.memory_limit_bytes = 1e9;
    std::vector<ServiceTotals> totals = {t};
    std::vector<engine::detect::Anomaly> seen;
    for (std::int64_t w = 1; w <= 8; ++w) {
        totals[0].cpu_seconds += w <= 4 ? 0.5 : 1.96; // 0.5 cores, then 1.96 of the 2 allowed
        if (w == 6) totals[0].oom_kills += 1;
        auto c = d.tick(std::chrono::seconds(w + 1) + 250ms, 1e9, &totals);
        seen.insert(seen.end(), c.begin(), c.end());
    }
    auto has = [&](const std::string& type) {
        for (const auto& a : seen) if (a.type == type && a.open && a.service == "batch.service") return true;
        return false;
    };
    EXPECT_TRUE(has("cpu_saturation"));
    EXPECT_TRUE(has("oom_kill"));
    EXPECT_FALSE(has("restart_loop"));
    bool cpu_score = false;
    for (const auto& sc : d.monitor().scores())
        cpu_score |= sc.service == "batch.service" && sc.signal == "cpu" && sc.score >= 0.8;
    EXPECT_TRUE(cpu_score);
}

TEST_F(DetectionTest, EverySinkSeesEachWindowWithTheResourcesOnTheNewest) {
    Detection d(opts_, *agg_, 0s);
    ServiceTotals t;
    t.service = "api";
    t.memory_bytes = 5e6;
    std::vector<ServiceTotals> totals = {t};
    d.tick(1s + 250ms, 1e9, &totals); // window 0 is the partial start: not observed
    struct Seen {
        double start;
        std::uint64_t requests;
        bool services;
    };
    std::vector<Seen> first, second;
    auto sink = [](std::vector<Seen>& out) {
        return [&out](const Detection::ObservedWindow& w) {
            std::uint64_t n = 0;
            for (const auto& e : w.endpoints) n += e.count;
            out.push_back({w.start_unix, n, w.services != nullptr});
            if (w.services) {
                EXPECT_EQ(w.services->size(), 1u);
                EXPECT_EQ((*w.services)[0].memory_bytes, 5e6);
            }
        };
    };
    d.add_window_sink(sink(first));
    d.add_window_sink(sink(second));
    traffic(1, 5ms);
    traffic(2, 5ms);
    totals[0].cpu_seconds = 1;
    d.tick(3s + 250ms, 1000.25, &totals); // windows 1 and 2 in one tick
    ASSERT_EQ(first.size(), 2u);
    EXPECT_EQ(first[0].requests, 20u);
    EXPECT_DOUBLE_EQ(first[0].start, 998.0);  // unix 1000.25 is 3.25 s on this clock
    EXPECT_DOUBLE_EQ(first[1].start, 999.0);
    EXPECT_FALSE(first[0].services);           // the resources belong to the newest only
    EXPECT_TRUE(first[1].services);
    ASSERT_EQ(second.size(), 2u);
    EXPECT_EQ(second[1].requests, 20u);
}

TEST_F(DetectionTest, NoStoreMeansNothingPersists) {
    opts_.store = nullptr;
    Detection d(opts_, *agg_, 0s);
    d.load_state();
    EXPECT_TRUE(d.save_state(1));
    EXPECT_EQ(store_->get_document(Detection::kStateDocument).value(), "");
}

} // namespace
} // namespace homeostat::agent
