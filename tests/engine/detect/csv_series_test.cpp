#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/detect/csv_series.h"
#include "tests/engine/detect/series.h"

namespace homeostat::engine::detect {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

constexpr std::int64_t kNs = 1'000'000'000;
// 2014-04-01T00:00:00Z
constexpr std::int64_t kApril = 1396310400;

TEST(ParseTimestamp, AcceptedFormats) {
    EXPECT_EQ(parse_timestamp("2014-04-01 00:00:00"), kApril * kNs);
    EXPECT_EQ(parse_timestamp("2014-04-01T00:00:00Z"), kApril * kNs);
    EXPECT_EQ(parse_timestamp("2014-04-01t00:00:00z"), kApril * kNs);
    EXPECT_EQ(parse_timestamp("2014-04-01T02:00:00+02:00"), kApril * kNs);
    EXPECT_EQ(parse_timestamp("2014-03-31T23:30:00-00:30"), kApril * kNs);
    EXPECT_EQ(parse_timestamp("2014-04-01 00:00:01.25"), kApril * kNs + 1'250'000'000);
    EXPECT_EQ(parse_timestamp("2014-04-01T00:00:00.123456789123Z"), kApril * kNs + 123'456'789);
    EXPECT_EQ(parse_timestamp("1396310400"), kApril * kNs);
    EXPECT_EQ(parse_timestamp(" 1396310400.5 "), kApril * kNs + 500'000'000);
    EXPECT_EQ(parse_timestamp("-1.5"), -1'500'000'000);
    EXPECT_EQ(parse_timestamp("1970-01-01 00:00:00"), 0);
    EXPECT_EQ(parse_timestamp("2016-02-29 12:00:00"), (1456747200) * kNs); // leap day
}

TEST(ParseTimestamp, RejectedFormats) {
    for (const char* bad : {"", "abc", "2014-02-30 00:00:00", "2014-04-01 24:00:00", "2014-04-01 00:60:00",
                            "2014-04-01", "2014-04-01 00:00", "2014/04/01 00:00:00", "2014-04-01X00:00:00",
                            "2014-04-01T00:00:00+0200", "2014-04-01T00:00:00Zjunk", "2014-04-01 00:00:00.",
                            "1396310400.", "1e9", "99999999999999999999", "12:00"})
        EXPECT_FALSE(parse_timestamp(bad).has_value()) << bad;
}

TEST(ParseCsv, HeaderOptionalCrlfBlankLinesQuotes) {
    const auto with =
        parse_csv("timestamp,value\r\n2014-04-01 00:00:00,1.5\r\n\r\n\"2014-04-01 00:05:00\", -2\r\n");
    ASSERT_EQ(with.size(), 2u);
    EXPECT_EQ(with[0].timestamp, "2014-04-01 00:00:00");
    EXPECT_EQ(with[0].t_ns, kApril * kNs);
    EXPECT_EQ(with[0].value, 1.5);
    EXPECT_EQ(with[0].line, 2u);
    EXPECT_EQ(with[1].t_ns, (kApril + 300) * kNs);
    EXPECT_EQ(with[1].value, -2);
    EXPECT_EQ(with[1].line, 4u);

    const auto without = parse_csv("1396310400,3\n1396310460,4");
    ASSERT_EQ(without.size(), 2u);
    EXPECT_EQ(without[1].value, 4);
    EXPECT_EQ(without[1].line, 2u);
    EXPECT_TRUE(parse_csv("").empty());
    EXPECT_TRUE(parse_csv("timestamp,value\n").empty());
}

std::size_t error_line(const std::string& text) {
    try {
        parse_csv(text);
    } catch (const CsvError& e) {
        EXPECT_THAT(e.what(), HasSubstr("line " + std::to_string(e.line()) + ":"));
        return e.line();
    }
    ADD_FAILURE() << "no error for: " << text;
    return 0;
}

TEST(ParseCsv, ErrorsNameTheLine) {
    EXPECT_EQ(error_line("timestamp,value\n1396310400,1\n1396310460,abc\n"), 3u);
    EXPECT_EQ(error_line("1396310400,1\n\nnot a time,2\n"), 3u);
    EXPECT_EQ(error_line("1396310400,1\n1396310460\n"), 2u);
    EXPECT_EQ(error_line("1396310400,1\n1396310460,1,2\n"), 2u);
    EXPECT_EQ(error_line("1396310400,1\n1396310460,nan\n"), 2u);
    EXPECT_EQ(error_line("1396310400,1\n1396310460,\n"), 2u);
    try {
        parse_csv("1396310400,1\n2014-13-01 00:00:00,2\n");
        FAIL();
    } catch (const CsvError& e) {
        EXPECT_THAT(e.what(), HasSubstr("2014-13-01 00:00:00"));
    }
}

TEST(ScoreSeries, OneScorePerRowAndTheSpikeStandsOut) {
    auto values = testing::noise(400, 10, 1, 4);
    values[300] += 15;
    std::string csv = "timestamp,value\n";
    for (std::size_t i = 0; i < values.size(); ++i)
        csv += std::to_string(kApril + 60 * static_cast<std::int64_t>(i)) + "," + std::to_string(values[i]) +
               "\n";
    const auto rows = parse_csv(csv);
    ASSERT_EQ(rows.size(), values.size());
    for (const char* name : {"ensemble", "ses", "holt", "ewz", "mad", "cusum", "poisson", "rollz"}) {
        const auto scores = score_series(rows, name);
        ASSERT_EQ(scores.size(), rows.size()) << name;
        for (double s : scores) {
            ASSERT_GE(s, 0) << name;
            ASSERT_LE(s, 1) << name;
        }
    }
    const auto scores = score_series(rows);
    std::vector<std::size_t> high;
    for (std::size_t i = 0; i < scores.size(); ++i)
        if (scores[i] >= 0.8) high.push_back(i);
    EXPECT_THAT(high, ElementsAre(300u));
    EXPECT_THROW(score_series(rows, "nope"), std::invalid_argument);
}

TEST(FormatScores, RoundTripsThroughTheParser) {
    const auto rows = parse_csv("2014-04-01 00:00:00,1\n2014-04-01T00:05:00Z,2\n1396311000,3\n");
    const std::vector<double> scores = {0, 0.25, 1};
    const auto out = format_scores(rows, scores);
    EXPECT_EQ(out, "timestamp,anomaly_score\n"
                   "2014-04-01 00:00:00,0.000000\n"
                   "2014-04-01T00:05:00Z,0.250000\n"
                   "1396311000,1.000000\n");
    const auto back = parse_csv(out);
    ASSERT_EQ(back.size(), 3u);
    for (std::size_t i = 0; i < 3; ++i) {
        EXPECT_EQ(back[i].t_ns, rows[i].t_ns);
        EXPECT_EQ(back[i].value, scores[i]);
    }
    EXPECT_THROW(format_scores(rows, {1.0}), std::invalid_argument);
}

} // namespace
} // namespace homeostat::engine::detect
