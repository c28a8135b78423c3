// The daemon's event stream on disk, for `homeostat replay`: every HTTP exchange as the
// kernel sent it, with the service the daemon attributed it to, so a replay runs exactly
// the live engine and detection code over exactly what the daemon saw.
//
// File format (version 1), little-endian:
//   a text line: "homeostat-record 1 abi=<HS_ABI_VERSION> unix_minus_monotonic_ns=<N>\n"
//   then records: u32 size of what follows, u16 service length, the service name,
//   sizeof(hs_http_exchange) bytes of the event.
// A file cut short (the daemon was killed mid-write, the disk filled) reads up to its last
// whole record and says so.
#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "agent/result.h"
#include "events.hpp"

namespace homeostat::agent {

class Recorder {
public:
    // Creates (truncates) `path` with mode 0600. Stops recording, with one error in the
    // log, once `max_bytes` are written or a write fails (a full disk): the daemon goes on.
    static Result<std::unique_ptr<Recorder>> open(const std::filesystem::path& path, std::uint64_t max_bytes,
                                                  std::int64_t unix_minus_monotonic_ns);
    ~Recorder();

    void write(const std::string& service, const hs_http_exchange& ev);
    void flush();
    std::uint64_t records() const { return records_; }
    bool active() const { return file_ != nullptr; }

private:
    Recorder(std::FILE* f, std::filesystem::path path, std::uint64_t max_bytes, std::uint64_t written)
        : file_(f), path_(std::move(path)), max_bytes_(max_bytes), written_(written) {}
    void stop(const std::string& why);

    std::FILE* file_;
    std::filesystem::path path_;
    std::uint64_t max_bytes_;
    std::uint64_t written_;
    std::uint64_t records_ = 0;
};

struct RecordedExchange {
    std::string service;
    hs_http_exchange event{};
};

class RecordReader {
public:
    // Reads and checks the header; errors name the file and what is wrong.
    static Result<std::unique_ptr<RecordReader>> open(const std::filesystem::path& path);
    ~RecordReader();

    // The next record; std::nullopt at the end. A malformed or truncated record ends the
    // stream with error() set (naming the byte offset).
    std::optional<RecordedExchange> next();
    const std::string& error() const { return error_; }
    std::int64_t unix_minus_monotonic_ns() const { return offset_ns_; }

private:
    RecordReader(std::FILE* f, std::filesystem::path path, std::int64_t offset_ns, long pos)
        : file_(f), path_(std::move(path)), offset_ns_(offset_ns), pos_(pos) {}
    std::FILE* file_;
    std::filesystem::path path_;
    std::int64_t offset_ns_;
    long pos_;
    std::string error_;
};

} // namespace homeostat::agent
