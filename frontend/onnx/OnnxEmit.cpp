// Writing an imported model: the network in soma's language, one layer per
// statement with the ONNX nodes it came from as a comment, and its tensors
// as a safetensors image. Layers no output depends on (a sigmoid a SiLU
// pattern absorbed, say) are left out, and so are their tensors.
#include "Importer.h"

#include <cstring>

namespace soma::frontend::onnximport {

namespace {
std::string quoted(const std::string &s) {
  std::string out = "\"";
  for (char ch : s) {
    if (ch == '"' || ch == '\\')
      out += '\\';
    out += ch;
  }
  return out + "\"";
}

/// The layers the outputs depend on, by index.
std::vector<bool> liveLayers(const Importer &im) {
  std::vector<bool> live(im.layers.size(), false);
  std::vector<std::string> work;
  for (const onnx::ValueInfoProto &out : im.model.graph().output())
    work.push_back(im.values.at(out.name()).layer);
  while (!work.empty()) {
    std::string name = work.back();
    work.pop_back();
    auto it = im.layerIndex.find(name);
    if (it == im.layerIndex.end() || live[it->second])
      continue;
    live[it->second] = true;
    for (const std::string &op : im.layers[it->second].operands)
      work.push_back(op);
  }
  return live;
}
} // namespace

std::string Importer::text() const {
  std::string stem = path.substr(path.find_last_of('/') + 1);
  std::string producer = model.producer_name();
  if (!model.producer_version().empty())
    producer += " " + model.producer_version();
  if (!producer.empty())
    producer += ", ";
  std::string s = "# Imported by soma from '" + stem + "' (" + producer + "ONNX opset " +
                  std::to_string(opset) + ").\n# Its weights are in '" + weightsName + "'.\n";
  if (wholeSample)
    s += "# The model has fixed shapes that do not import with axis 0 as the batch: each input is\n"
         "# one sample, whole (run it as a batch of 1).\n";
  std::string name = sanitizeName(model.graph().name().empty() ? stem.substr(0, stem.size() - 5)
                                                               : model.graph().name());
  s += "network " + name + " {\n";
  for (const auto &[input, shape] : inputs)
    s += "  input " + input + ": f32" + shapeText(shape) + "\n";
  std::vector<bool> live = liveLayers(*this);
  for (size_t i = 0; i < layers.size(); ++i) {
    if (!live[i])
      continue;
    const Layer &l = layers[i];
    s += "\n  # " + l.origin + "\n  " + l.kind + " " + l.name + "(";
    for (size_t k = 0; k < l.operands.size(); ++k)
      s += (k ? ", " : "") + l.operands[k];
    s += ")";
    if (!l.attrs.empty()) {
      s += " {\n";
      for (const LayerAttr &a : l.attrs)
        s += "    " + a.name + " = " +
             (a.tensor < 0 ? a.text
                           : "safetensors(" + quoted(weightsName) + ", " +
                                 quoted(tensors[a.tensor].name) + ")") +
             "\n";
      s += "  }";
    }
    s += "\n";
  }
  s += "\n";
  for (const onnx::ValueInfoProto &out : model.graph().output()) {
    std::string exported = sanitizeName(out.name());
    const std::string &layer = values.at(out.name()).layer;
    s += "  output " + exported + (exported == layer ? "" : " = " + layer) + "\n";
  }
  return s + "}\n";
}

namespace {
/// The tensors of the layers an output depends on, in the text's order.
std::vector<size_t> usedTensors(const Importer &importer) {
  std::vector<bool> live = liveLayers(importer);
  std::vector<size_t> used;
  for (size_t i = 0; i < importer.layers.size(); ++i)
    if (live[i])
      for (const LayerAttr &a : importer.layers[i].attrs)
        if (a.tensor >= 0)
          used.push_back(static_cast<size_t>(a.tensor));
  return used;
}
} // namespace

std::map<std::string, std::shared_ptr<Tensor>> Importer::weightTensors() {
  std::map<std::string, std::shared_ptr<Tensor>> out;
  for (size_t i : usedTensors(*this)) {
    NamedTensor &t = tensors[i];
    auto tensor = std::make_shared<Tensor>();
    tensor->dims = t.t.dims;
    tensor->values.assign(t.t.values.begin(), t.t.values.end());
    t.t.values = {}; // its memory back before the next one's
    out.emplace(t.name, std::move(tensor));
  }
  return out;
}

std::string Importer::weightsImage() const {
  std::vector<const NamedTensor *> used;
  for (size_t i : usedTensors(*this))
    used.push_back(&tensors[i]);
  std::string header = "{";
  uint64_t offset = 0;
  for (const NamedTensor *t : used) {
    uint64_t bytes = t->t.values.size() * sizeof(float);
    header += (header.size() > 1 ? "," : "") + quoted(t->name) +
              ":{\"dtype\":\"F32\",\"shape\":" + intsText(t->t.dims) + ",\"data_offsets\":[" +
              std::to_string(offset) + "," + std::to_string(offset + bytes) + "]}";
    offset += bytes;
  }
  header += "}";
  while (header.size() % 8 != 0)
    header += ' ';
  std::string image(8, '\0');
  uint64_t size = header.size();
  for (int i = 0; i < 8; ++i)
    image[i] = static_cast<char>((size >> (8 * i)) & 0xff);
  image += header;
  image.reserve(image.size() + offset);
  for (const NamedTensor *t : used)
    image.append(reinterpret_cast<const char *>(t->t.values.data()),
                 t->t.values.size() * sizeof(float));
  return image;
}

} // namespace soma::frontend::onnximport
