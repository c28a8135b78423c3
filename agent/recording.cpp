#include "agent/recording.h"

#include <fcntl.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cinttypes>
#include <cstring>
#include <span>

namespace homeostat::agent {
namespace {

constexpr const char* kMagic = "homeostat-record";
constexpr int kVersion = 1;
constexpr std::size_t kMaxService = 1024; // identity names are far shorter

void put_u32(unsigned char* p, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) p[i] = static_cast<unsigned char>(v >> (8 * i));
}
void put_u16(unsigned char* p, std::uint16_t v) {
    p[0] = static_cast<unsigned char>(v);
    p[1] = static_cast<unsigned char>(v >> 8);
}
std::uint32_t get_u32(const unsigned char* p) {
    return std::uint32_t{p[0]} | std::uint32_t{p[1]} << 8 | std::uint32_t{p[2]} << 16 | std::uint32_t{p[3]} << 24;
}

} // namespace

Result<std::unique_ptr<Recorder>> Recorder::open(const std::filesystem::path& path, std::uint64_t max_bytes,
                                                 std::int64_t unix_minus_monotonic_ns) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return Error{"cannot create the recording " + path.string() + ": " + std::strerror(errno), errno};
    std::FILE* f = ::fdopen(fd, "wb");
    if (!f) {
        ::close(fd);
        return Error{"cannot open the recording " + path.string() + ": " + std::strerror(errno), errno};
    }
    const int n = std::fprintf(f, "%s %d abi=%d unix_minus_monotonic_ns=%" PRId64 "\n", kMagic, kVersion,
                               HS_ABI_VERSION, unix_minus_monotonic_ns);
    if (n < 0 || std::fflush(f) != 0) {
        std::fclose(f);
        return Error{"cannot write the recording " + path.string() + ": " + std::strerror(errno), errno};
    }
    return std::unique_ptr<Recorder>(new Recorder(f, path, max_bytes, static_cast<std::uint64_t>(n)));
}

Recorder::~Recorder() {
    if (file_) std::fclose(file_);
}

void Recorder::stop(const std::string& why) {
    spdlog::error("recording to {} stopped after {} exchanges: {} (the daemon goes on)", path_.string(),
                  records_, why);
    std::fclose(file_);
    file_ = nullptr;
}

void Recorder::write(const std::string& service, const hs_http_exchange& ev) {
    if (!file_) return;
    const std::size_t name = std::min(service.size(), kMaxService);
    const std::size_t body = 2 + name + sizeof ev;
    if (written_ + 4 + body > max_bytes_) {
        stop("it reached its size limit of " + std::to_string(max_bytes_) + " bytes");
        return;
    }
    unsigned char head[6];
    put_u32(head, static_cast<std::uint32_t>(body));
    put_u16(head + 4, static_cast<std::uint16_t>(name));
    if (std::fwrite(head, 1, sizeof head, file_) != sizeof head ||
        std::fwrite(service.data(), 1, name, file_) != name ||
        std::fwrite(&ev, 1, sizeof ev, file_) != sizeof ev) {
        stop(std::strerror(errno));
        return;
    }
    written_ += 4 + body;
    ++records_;
}

void Recorder::flush() {
    if (file_ && std::fflush(file_) != 0) stop(std::strerror(errno));
}

Result<std::unique_ptr<RecordReader>> RecordReader::open(const std::filesystem::path& path) {
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (!f) return Error{"cannot read " + path.string() + ": " + std::strerror(errno), errno};
    char line[256];
    if (!std::fgets(line, sizeof line, f)) {
        std::fclose(f);
        return Error{path.string() + ": empty, not a homeostat recording"};
    }
    char magic[32] = {};
    int version = 0, abi = 0;
    long long offset = 0;
    if (std::sscanf(line, "%31s %d abi=%d unix_minus_monotonic_ns=%lld", magic, &version, &abi, &offset) != 4 ||
        std::strcmp(magic, kMagic) != 0) {
        std::fclose(f);
        return Error{path.string() + ": not a homeostat recording (record one with homeostatd --record FILE)"};
    }
    if (version != kVersion || abi != HS_ABI_VERSION) {
        std::fclose(f);
        return Error{path.string() + ": recording format " + std::to_string(version) + ", event ABI " +
                     std::to_string(abi) + "; this homeostat reads format " + std::to_string(kVersion) +
                     ", ABI " + std::to_string(HS_ABI_VERSION)};
    }
    return std::unique_ptr<RecordReader>(new RecordReader(f, path, offset, std::ftell(f)));
}

RecordReader::~RecordReader() {
    if (file_) std::fclose(file_);
}

std::optional<RecordedExchange> RecordReader::next() {
    if (!file_ || !error_.empty()) return std::nullopt;
    unsigned char head[6];
    const std::size_t got = std::fread(head, 1, sizeof head, file_);
    auto fail = [&](const std::string& what) -> std::optional<RecordedExchange> {
        error_ = path_.string() + ": byte " + std::to_string(pos_) + ": " + what;
        return std::nullopt;
    };
    if (got == 0) return std::nullopt; // a clean end
    if (got < sizeof head) return fail("the file ends inside a record (cut short?)");
    const std::uint32_t body = get_u32(head);
    const std::size_t name = std::size_t{head[4]} | std::size_t{head[5]} << 8;
    if (name > kMaxService || body != 2 + name + sizeof(hs_http_exchange))
        return fail("malformed record (size " + std::to_string(body) + ", service " + std::to_string(name) + ")");
    RecordedExchange r;
    r.service.resize(name);
    std::vector<std::byte> ev(sizeof(hs_http_exchange));
    if (std::fread(r.service.data(), 1, name, file_) != name || std::fread(ev.data(), 1, ev.size(), file_) != ev.size())
        return fail("the file ends inside a record (cut short?)");
    auto decoded = abi::decode<hs_http_exchange>(std::span<const std::byte>(ev), HS_EV_HTTP_EXCHANGE);
    if (!decoded) return fail("the event does not decode as an HTTP exchange");
    r.event = *decoded;
    pos_ += static_cast<long>(4 + body);
    return r;
}

} // namespace homeostat::agent
