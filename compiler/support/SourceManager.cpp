// Source buffers and line lookup for diagnostics.
#include "soma/support/SourceManager.h"

#include <cassert>

namespace soma {

uint32_t SourceManager::addBuffer(std::string name, std::string text) {
  buffers.push_back(std::make_unique<Buffer>(Buffer{std::move(name), std::move(text)}));
  return static_cast<uint32_t>(buffers.size());
}

const std::string &SourceManager::name(uint32_t file) const {
  assert(file >= 1 && file <= buffers.size() && "unknown source buffer");
  return buffers[file - 1]->name;
}

std::string_view SourceManager::text(uint32_t file) const {
  assert(file >= 1 && file <= buffers.size() && "unknown source buffer");
  return buffers[file - 1]->text;
}

std::string_view SourceManager::lineText(SourceLoc loc) const {
  if (!loc.isValid() || loc.file > buffers.size())
    return {};
  std::string_view text = this->text(loc.file);
  size_t pos = 0;
  for (uint32_t line = 1; line < loc.line; ++line) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string_view::npos)
      return {};
    pos = nl + 1;
  }
  size_t end = text.find('\n', pos);
  if (end == std::string_view::npos)
    end = text.size();
  std::string_view line = text.substr(pos, end - pos);
  if (!line.empty() && line.back() == '\r')
    line.remove_suffix(1);
  return line;
}

} // namespace soma
