#include "agent/actuators/file_ops.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "agent/fd.h"

namespace homeostat::agent::actuators {
namespace {

Result<void> write_all(int fd, const std::string& content, const std::string& what) {
    std::size_t off = 0;
    while (off < content.size()) {
        ssize_t n = ::write(fd, content.data() + off, content.size() - off);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return Error{"cannot write " + what, errno};
        off += static_cast<std::size_t>(n);
    }
    return {};
}

Result<void> fsync_dir(const std::string& dir) {
    Fd d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!d.valid()) return Error{"cannot open directory " + dir + " to sync it", errno};
    if (::fsync(d.get()) != 0) return Error{"cannot sync directory " + dir, errno};
    return {};
}

} // namespace

Result<std::string> read_file(const std::string& path) {
    Fd f(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!f.valid()) return Error{"cannot read " + path, errno};
    std::string out;
    char buf[8192];
    for (;;) {
        ssize_t n = ::read(f.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return Error{"cannot read " + path, errno};
        if (n == 0) return out;
        out.append(buf, static_cast<std::size_t>(n));
    }
}

Result<std::string> read_value(const std::string& path) {
    auto s = read_file(path);
    if (!s) return s;
    while (!s->empty() && (s->back() == '\n' || s->back() == ' '))
        s->pop_back();
    return s;
}

Result<void> write_value(const std::string& path, const std::string& value) {
    Fd f(::open(path.c_str(),
                O_WRONLY | O_TRUNC | O_CLOEXEC)); // O_TRUNC: as `echo v > f`; cgroupfs ignores it
    if (!f.valid()) return Error{"cannot open " + path + " for writing", errno};
    ssize_t n = ::write(f.get(), value.data(), value.size());
    if (n < 0) return Error{"the kernel refused " + value + " for " + path, errno};
    if (static_cast<std::size_t>(n) != value.size()) return Error{"short write of " + value + " to " + path};
    return {};
}

Result<void> write_atomic(const std::string& path, const std::string& content, const std::string& mode_of) {
    namespace fs = std::filesystem;
    fs::path p(path);
    std::string dir = p.parent_path().empty() ? "." : p.parent_path().string();
    std::string tmpl = dir + "/." + p.filename().string() + ".homeostat.XXXXXX";
    Fd f(::mkostemp(tmpl.data(), O_CLOEXEC));
    if (!f.valid()) return Error{"cannot create a temporary file in " + dir + " to replace " + path, errno};
    auto fail = [&](Error e) -> Result<void> {
        ::unlink(tmpl.c_str());
        return e;
    };
    struct stat st;
    if (::stat((mode_of.empty() ? path : mode_of).c_str(), &st) == 0) {
        ::fchmod(f.get(), st.st_mode & 07777);
        if (::fchown(f.get(), st.st_uid, st.st_gid) != 0 && errno != EPERM)
            return fail(Error{"cannot chown " + tmpl, errno});
    } else {
        ::fchmod(f.get(), 0644);
    }
    if (auto w = write_all(f.get(), content, tmpl); !w) return fail(w.error());
    if (::fsync(f.get()) != 0) return fail(Error{"cannot sync " + tmpl, errno});
    f.reset();
    if (::rename(tmpl.c_str(), path.c_str()) != 0)
        return fail(Error{"cannot rename " + tmpl + " to " + path, errno});
    return fsync_dir(dir);
}

Result<void> remove_file(const std::string& path) {
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) return Error{"cannot remove " + path, errno};
    auto dir = std::filesystem::path(path).parent_path().string();
    return fsync_dir(dir.empty() ? "." : dir);
}

} // namespace homeostat::agent::actuators
