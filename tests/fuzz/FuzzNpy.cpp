// libFuzzer harness: the .npy loader (parseNpy, the bytes of a file).
// Oracles: no crash or sanitizer report; an array that loads has as many
// values as its shape says.
#include "FuzzSupport.h"

#include "soma/support/Npy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  using namespace soma;
  auto array = parseNpy(std::string(fuzz::asText(data, size)), "fuzz.npy");
  if (!array) {
    fuzz::check(!array.error().empty(), "parseNpy failed with an empty message");
    return 0;
  }
  int64_t count = 0;
  fuzz::check(checkedElementCount(array->tensor.dims, count), "a loaded array is too large");
  fuzz::check(count == static_cast<int64_t>(array->tensor.values.size()),
              "a loaded array's values do not match its shape");
  return 0;
}
