// Source buffers and line lookup for diagnostics.
#include "soma/support/SourceManager.h"
#include "soma/support/Tensor.h"

#include <cassert>

namespace soma {

uint32_t SourceManager::addBuffer(std::string name, std::string text) {
  auto buffer = std::make_unique<Buffer>(Buffer{std::move(name), std::move(text), {0}});
  const std::string &t = buffer->text;
  for (size_t nl = t.find('\n'); nl != std::string::npos; nl = t.find('\n', nl + 1))
    buffer->lineStarts.push_back(nl + 1);
  buffers.push_back(std::move(buffer));
  return static_cast<uint32_t>(buffers.size());
}

void SourceManager::addMemoryFile(std::string path, std::string bytes) {
  memoryFiles[std::move(path)] = std::make_shared<const std::string>(std::move(bytes));
}

std::shared_ptr<const std::string> SourceManager::memoryFile(const std::string &path) const {
  auto it = memoryFiles.find(path);
  return it == memoryFiles.end() ? nullptr : it->second;
}

void SourceManager::addMemoryTensors(std::string path,
                                     std::map<std::string, std::shared_ptr<Tensor>> tensors) {
  memoryTensors[std::move(path)] = std::move(tensors);
}

bool SourceManager::hasMemoryTensors(const std::string &path) const {
  return memoryTensors.count(path) != 0;
}

std::shared_ptr<Tensor> SourceManager::takeMemoryTensor(const std::string &path,
                                                        const std::string &name) const {
  auto file = memoryTensors.find(path);
  if (file == memoryTensors.end())
    return nullptr;
  auto it = file->second.find(name);
  if (it == file->second.end())
    return nullptr;
  std::shared_ptr<Tensor> t = std::move(it->second);
  file->second.erase(it);
  return t;
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
  const Buffer &buffer = *buffers[loc.file - 1];
  size_t index = loc.line == 0 ? 0 : loc.line - 1; // line 0: the first, as ever
  if (index >= buffer.lineStarts.size())
    return {};
  std::string_view text = buffer.text;
  size_t pos = buffer.lineStarts[index];
  size_t end = text.find('\n', pos);
  if (end == std::string_view::npos)
    end = text.size();
  std::string_view line = text.substr(pos, end - pos);
  if (!line.empty() && line.back() == '\r')
    line.remove_suffix(1);
  return line;
}

} // namespace soma
