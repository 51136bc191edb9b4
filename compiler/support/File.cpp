// Checked whole-file reads and writes (File.h). Reads of regular files go
// through POSIX open/fstat/read: the file's kind and size are known before
// the first byte is read.
#include "soma/support/File.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <new>
#include <sstream>
#include <sys/stat.h>
#include <unistd.h>

namespace soma {

Expected<std::string> readFile(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return Error{"cannot open '" + path + "': " + std::strerror(errno)};
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad())
    return Error{"cannot read '" + path + "'"};
  return ss.str();
}

namespace {

/// Closes a file descriptor when it goes out of scope.
struct FileDescriptor {
  int fd;
  ~FileDescriptor() {
    if (fd >= 0)
      ::close(fd);
  }
};

} // namespace

namespace {

/// open + fstat with readRegularFile's checks; its size in `size`.
Expected<bool> openChecked(const std::string &path, int64_t maxBytes, FileDescriptor &file,
                           int64_t &size) {
  // O_NONBLOCK: opening a FIFO with no writer would wait for one; it is
  // refused below instead. (It changes nothing for a regular file.)
  file.fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (file.fd < 0)
    return Error{"cannot open '" + path + "': " + std::strerror(errno)};
  struct stat st;
  if (::fstat(file.fd, &st) != 0)
    return Error{"cannot read '" + path + "': " + std::strerror(errno)};
  if (S_ISDIR(st.st_mode))
    return Error{"'" + path + "' is a directory, not a file"};
  if (!S_ISREG(st.st_mode))
    return Error{"'" + path + "' is not a regular file (a device, pipe or socket)"};
  if (st.st_size > maxBytes)
    return Error{"'" + path + "' has " + std::to_string(st.st_size) +
                 " bytes, more than the limit of " + std::to_string(maxBytes)};
  size = st.st_size;
  return true;
}

} // namespace

Expected<int> openRegularFile(const std::string &path, int64_t maxBytes) {
  FileDescriptor file{-1};
  int64_t size = 0;
  if (Expected<bool> ok = openChecked(path, maxBytes, file, size); !ok)
    return Error{ok.error()};
  const int fd = file.fd;
  file.fd = -1; // the caller's now
  return fd;
}

Expected<std::string> readRegularFile(const std::string &path, int64_t maxBytes) {
  FileDescriptor file{-1};
  int64_t size = 0;
  if (Expected<bool> ok = openChecked(path, maxBytes, file, size); !ok)
    return Error{ok.error()};
  std::string bytes;
  try {
    bytes.resize(static_cast<size_t>(size));
  } catch (const std::bad_alloc &) {
    return Error{"cannot read '" + path + "': out of memory for its " + std::to_string(size) +
                 " bytes"};
  }
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::read(file.fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return Error{"cannot read '" + path + "': " + std::strerror(errno)};
    if (n == 0)
      break; // the file shrank since fstat: the parser reports it truncated
    done += static_cast<size_t>(n);
  }
  bytes.resize(done);
  return bytes;
}

Expected<bool> writeFile(const std::string &path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary);
  if (!out)
    return Error{"cannot write '" + path + "': " + std::strerror(errno)};
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  // Buffered bytes reach the file only here: a full disk fails in the
  // flush or the close.
  out.flush();
  out.close();
  if (!out)
    return Error{"cannot write '" + path + "': " + std::strerror(errno)};
  return true;
}

Expected<bool> flushChecked(std::ostream &os, const std::string &what) {
  os.flush();
  if (!os)
    return Error{"cannot write to " + what + ": " + std::strerror(errno)};
  return true;
}

} // namespace soma
