// Owns the text of every file soma reads and maps source locations back to
// file names, lines and columns for diagnostics.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace soma {

struct Tensor;

/// A position in a source buffer: 1-based line and column; file 0 means
/// "no location" (for example a tensor built by a pass).
struct SourceLoc {
  uint32_t file = 0;
  uint32_t line = 0;
  uint32_t col = 0;

  bool isValid() const { return file != 0; }
};

/// Holds source buffers. Buffers are never removed, so string_views into
/// them stay valid for the manager's lifetime.
class SourceManager {
public:
  /// Adds a buffer and returns its id (>= 1).
  uint32_t addBuffer(std::string name, std::string text);

  const std::string &name(uint32_t file) const;
  std::string_view text(uint32_t file) const;
  /// The text of the line holding `loc`, without its newline.
  std::string_view lineText(SourceLoc loc) const;

  /// Holds a file's bytes in memory under `path` (an imported model's
  /// weights): a reader of that path takes these bytes, not the disk's.
  void addMemoryFile(std::string path, std::string bytes);
  /// The bytes held for `path` (shared, not copied), or null.
  std::shared_ptr<const std::string> memoryFile(const std::string &path) const;

  /// Holds an imported model's tensors, decoded, under the path of the
  /// weight file its text names: a reader of tensor `name` in that file
  /// takes this one, with no file or image in between.
  void addMemoryTensors(std::string path, std::map<std::string, std::shared_ptr<Tensor>> tensors);
  /// Whether tensors are held for `path`.
  bool hasMemoryTensors(const std::string &path) const;
  /// Hands over tensor `name` of `path`, once (a second call gets null):
  /// the tensor becomes the caller's, to change or keep, and no copy of it
  /// stays here.
  std::shared_ptr<Tensor> takeMemoryTensor(const std::string &path, const std::string &name) const;

private:
  struct Buffer {
    std::string name;
    std::string text;
    /// Where each line starts: lineText is O(1), not a scan from the top.
    std::vector<size_t> lineStarts;
  };
  std::vector<std::unique_ptr<Buffer>> buffers;
  std::map<std::string, std::shared_ptr<const std::string>> memoryFiles;
  /// Mutable: taking a tensor hands it over, which changes no text or
  /// location the manager answers for.
  mutable std::map<std::string, std::map<std::string, std::shared_ptr<Tensor>>> memoryTensors;
};

} // namespace soma
