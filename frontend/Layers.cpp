// The layer table, expanded from Layers.def, and its lookups.
#include "soma/frontend/Layers.h"

#include <array>
#include <cstdint>

namespace soma::frontend {

namespace {

// The names Layers.def rows use besides the attribute enums.
constexpr size_t Many = SIZE_MAX;
constexpr LayerAttrSet NoAttrs{};

using enum LayerAttr;

constexpr LayerInfo kLayers[] = {
#define SOMA_LAYER(Enum, keyword, noun, minOperands, maxOperands, attrs, required, semantics)      \
  {LayerKind::Enum, keyword, noun, minOperands, maxOperands, attrs, required, semantics},
#include "soma/frontend/Layers.def"
};

constexpr std::array<const char *, kNumLayerAttrs> kAttrNames = {
#define SOMA_LAYER_ATTR(Enum, name, value) name,
#include "soma/frontend/Layers.def"
};

} // namespace

std::span<const LayerInfo> layerKinds() { return kLayers; }

const LayerInfo *findLayerKind(std::string_view keyword) {
  for (const LayerInfo &info : kLayers)
    if (keyword == info.keyword)
      return &info;
  return nullptr;
}

const char *layerAttrName(LayerAttr attr) { return kAttrNames[static_cast<size_t>(attr)]; }

std::optional<LayerAttr> layerAttrFromName(std::string_view name) {
  for (size_t i = 0; i < kNumLayerAttrs; ++i)
    if (name == kAttrNames[i])
      return static_cast<LayerAttr>(i);
  return std::nullopt;
}

std::vector<std::string> layerAttrNames(LayerAttrSet set) {
  std::vector<std::string> names;
  for (size_t i = 0; i < kNumLayerAttrs; ++i)
    if (set.contains(static_cast<LayerAttr>(i)))
      names.push_back(kAttrNames[i]);
  return names;
}

} // namespace soma::frontend
