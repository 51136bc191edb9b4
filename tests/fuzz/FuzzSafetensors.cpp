// libFuzzer harness: the safetensors loader (SafetensorsFile::parse, then
// every tensor it lists). Oracles: no crash or sanitizer report; each
// tensor that loads has as many values as its entry's shape says.
#include "FuzzSupport.h"

#include "soma/frontend/Safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  using namespace soma;
  auto file =
      frontend::SafetensorsFile::parse(std::string(fuzz::asText(data, size)), "fuzz.safetensors");
  if (!file) {
    fuzz::check(!file.error().empty(), "parse failed with an empty message");
    return 0;
  }
  for (const auto &[name, entry] : file->entries()) {
    bool converted = false;
    auto tensor = file->tensor(name, &converted);
    if (!tensor) {
      fuzz::check(!tensor.error().empty(), "tensor() failed with an empty message");
      continue;
    }
    int64_t count = 0;
    fuzz::check(checkedElementCount(entry.shape, count), "a loaded tensor is too large");
    fuzz::check(count == static_cast<int64_t>(tensor->values.size()),
                "tensor '" + name + "' has values that do not match its shape");
  }
  return 0;
}
