// Reading and writing whole files, checked: a read of a weight file knows
// its size before it reads a byte (a device or a FIFO would read forever or
// block), and a write is checked after its flush and close (a full disk,
// or /dev/full, fails there and nowhere earlier).
#pragma once

#include "soma/support/Expected.h"

#include <cstdint>
#include <iosfwd>
#include <string>
#include <string_view>

namespace soma {

/// The largest weight file (.npy, safetensors) soma reads: 4 GiB. (The
/// largest tensor, 2^28 f64 values, takes 2 GiB.)
inline constexpr int64_t kMaxWeightFileBytes = int64_t(4) << 30;

/// Reads a whole file; an error for a missing or unreadable one.
Expected<std::string> readFile(const std::string &path);

/// Reads a whole regular file of at most `maxBytes` bytes: an error, before
/// any byte is read, for a directory, a device, a FIFO or a socket, and for
/// a larger file.
Expected<std::string> readRegularFile(const std::string &path, int64_t maxBytes);

/// Opens a regular file of at most `maxBytes` bytes for reading, with
/// readRegularFile's checks, for a reader that streams it: the descriptor,
/// which the caller closes.
Expected<int> openRegularFile(const std::string &path, int64_t maxBytes);

/// Writes `bytes` to `path` (created or truncated), checked after the flush
/// and the close.
Expected<bool> writeFile(const std::string &path, std::string_view bytes);

/// Flushes `os` (standard output, say) and reports a write that failed;
/// `what` names the destination in the error.
Expected<bool> flushChecked(std::ostream &os, const std::string &what);

} // namespace soma
