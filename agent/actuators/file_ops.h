// File primitives for the actuators, with errors that name the file: whole-file reads,
// single-write updates of kernel interface files (cgroupfs), and atomic replacement of
// ordinary files (temp file in the same directory, fsync, rename, fsync the directory).
#pragma once

#include <string>

#include "agent/result.h"

namespace homeostat::agent::actuators {

// The whole file. err = ENOENT when it does not exist.
Result<std::string> read_file(const std::string& path);
// read_file without the trailing newline: one-line kernel files ("max 100000").
Result<std::string> read_value(const std::string& path);
// One write(2) of `value` to an existing file (no create): how cgroupfs
// takes a new limit. The kernel's refusal (EINVAL, EBUSY) comes back as the error.
Result<void> write_value(const std::string& path, const std::string& value);
// Replaces `path` with `content` atomically, with the mode and owner of `mode_of` (default:
// `path` itself; 0644 when that does not exist). Readers see the old or the new content,
// never a mix.
Result<void> write_atomic(const std::string& path, const std::string& content,
                          const std::string& mode_of = "");
// Removes `path` (a file that did not exist before an apply); absent is fine.
Result<void> remove_file(const std::string& path);

} // namespace homeostat::agent::actuators
