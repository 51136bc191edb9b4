// The network language's layer kinds and the attributes each takes, expanded
// from Layers.def: the one table the parser, Sema and their diagnostics read.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace soma::frontend {

enum class LayerAttr : uint8_t {
#define SOMA_LAYER_ATTR(Enum, name, value) Enum,
#include "soma/frontend/Layers.def"
};

constexpr size_t kNumLayerAttrs = 0
#define SOMA_LAYER_ATTR(Enum, name, value) +1
#include "soma/frontend/Layers.def"
    ;

/// A set of attributes, one bit per LayerAttr.
class LayerAttrSet {
public:
  constexpr LayerAttrSet() = default;
  constexpr LayerAttrSet(LayerAttr attr) : bits(uint32_t{1} << static_cast<unsigned>(attr)) {}

  constexpr bool contains(LayerAttr attr) const { return (bits & LayerAttrSet(attr).bits) != 0; }
  constexpr LayerAttrSet operator|(LayerAttrSet other) const {
    LayerAttrSet set;
    set.bits = bits | other.bits;
    return set;
  }

private:
  static_assert(kNumLayerAttrs <= 32, "LayerAttrSet holds one bit per attribute");
  uint32_t bits = 0;
};

constexpr LayerAttrSet operator|(LayerAttr a, LayerAttr b) { return LayerAttrSet(a) | b; }

enum class LayerKind : uint8_t {
#define SOMA_LAYER(Enum, keyword, noun, minOperands, maxOperands, attrs, required, semantics) Enum,
#include "soma/frontend/Layers.def"
};

/// One row of Layers.def.
struct LayerInfo {
  LayerKind kind;
  const char *keyword;
  const char *noun; // names the layer in messages: "dense layer 'fc1'"
  size_t minOperands, maxOperands;
  LayerAttrSet attrs;    // the attributes it accepts
  LayerAttrSet required; // the ones it needs
  const char *semantics;
};

/// Every layer kind, in table order.
std::span<const LayerInfo> layerKinds();
/// The layer kind `keyword` introduces, or null.
const LayerInfo *findLayerKind(std::string_view keyword);

/// An attribute's name as written: "units".
const char *layerAttrName(LayerAttr attr);
/// The attribute called `name` (in any layer kind), if there is one.
std::optional<LayerAttr> layerAttrFromName(std::string_view name);
/// The names of the attributes in `set`, in table order.
std::vector<std::string> layerAttrNames(LayerAttrSet set);

} // namespace soma::frontend
