// The oneDNN anchor for convolutions: one convolution_forward primitive per
// layer (algorithm::convolution_direct, prop_kind::forward_inference), the
// bias and relu fused as its post-op, every layout format_tag::any so that
// oneDNN picks its own (nChw16c activations and blocked filters on an
// AVX-512 host); the filters are reordered once, outside the timing. The
// ResNet basic block is two primitives run one after another with oneDNN's
// own fusion: conv1 + relu, then conv2 + a sum post-op + relu, its
// destination first filled with the block's input by a reorder primitive
// (timed: one copy of the input, small next to the two convolutions); batch
// norm folded into the filters beforehand, as an inference deployment of
// oneDNN does. (A binary_add post-op reading the input instead makes oneDNN
// 2.6 fall back to its reference kernel, `ref:any`, 20 times slower.) The input is reordered into
// the layout the first primitive chose in setInput and the result back to NCHW in output, both
// outside the timing (ConvBench.h). Debian's libdnnl 2.6 is built on GNU OpenMP:
// omp_set_num_threads before creating the primitives and before each timed loop.
#include "ConvBench.h"

#include <dnnl.hpp>
#include <omp.h>

#include <algorithm>
#include <unordered_map>

namespace bench {
namespace {

using dnnl::memory;
using Tag = memory::format_tag;
constexpr memory::data_type F32 = memory::data_type::f32;

memory::dims actDims(const ConvLayer &l, int64_t batch, bool out) {
  return out ? memory::dims{batch, l.outChannels, l.outH(), l.outW()}
             : memory::dims{batch, l.inChannels, l.inH, l.inW};
}

struct Primitives {
  std::vector<dnnl::convolution_forward::primitive_desc> pds;
};

/// The primitive descriptors for the net: conv1 (relu), and for a block
/// conv2 with a sum post-op (its destination holds the block's input) and
/// relu.
Primitives describe(const ConvNet &net, int64_t batch, const dnnl::engine &eng) {
  Primitives p;
  for (size_t i = 0; i < net.layers.size(); ++i) {
    const ConvLayer &l = net.layers[i];
    memory::desc src(actDims(l, batch, false), F32, Tag::any);
    memory::desc dst(actDims(l, batch, true), F32, Tag::any);
    memory::dims wdims = l.groups == 1
                             ? memory::dims{l.outChannels, l.inChannels, l.kernel, l.kernel}
                             : memory::dims{l.groups, l.outChannels / l.groups,
                                            l.inChannels / l.groups, l.kernel, l.kernel};
    memory::desc weights(wdims, F32, Tag::any);
    memory::desc bias({l.outChannels}, F32, Tag::x);
    if (i > 0) // read the previous primitive's result in the layout it chose
      src = p.pds.back().dst_desc();
    dnnl::post_ops ops;
    if (net.block && i == 1)
      ops.append_sum(1.f);
    if (l.relu)
      ops.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
    dnnl::primitive_attr attr;
    attr.set_post_ops(ops);
    dnnl::convolution_forward::desc d(dnnl::prop_kind::forward_inference,
                                      dnnl::algorithm::convolution_direct, src, weights, bias, dst,
                                      {l.stride, l.stride}, {l.pad, l.pad}, {l.pad, l.pad});
    p.pds.emplace_back(d, attr, eng);
  }
  return p;
}

class OneDnnConvRunner final : public ConvRunner {
public:
  OneDnnConvRunner(const ConvNet &net, int64_t batch, int threads)
      : net(net), batch(batch), threads(threads), eng(dnnl::engine::kind::cpu, 0), strm(eng) {
    omp_set_num_threads(threads);
    Primitives p = describe(net, batch, eng);
    src = memory(p.pds.front().src_desc(), eng);
    memory in = src;
    for (size_t i = 0; i < net.layers.size(); ++i) {
      const ConvLayer &l = net.layers[i];
      const auto &pd = p.pds[i];
      if (pd.src_desc() != in.get_desc())
        throw dnnl::error(dnnl_invalid_arguments, "conv2 asks for another source layout");
      memory::dims wdims = pd.weights_desc().dims();
      Tag userTag = l.groups == 1 ? Tag::oihw : Tag::goihw;
      memory user({wdims, F32, userTag}, eng, const_cast<float *>(l.weights.data()));
      memory weights(pd.weights_desc(), eng);
      dnnl::reorder(user, weights).execute(strm, user, weights);
      memory bias({{l.outChannels}, F32, Tag::x}, eng);
      std::copy(l.bias.begin(), l.bias.end(), static_cast<float *>(bias.get_data_handle()));
      memory out(pd.dst_desc(), eng);
      if (net.block && i == 1) // the residual: the input copied into conv2's destination
        steps.push_back({dnnl::reorder(src, out), {{DNNL_ARG_FROM, src}, {DNNL_ARG_TO, out}}});
      std::unordered_map<int, memory> args = {{DNNL_ARG_SRC, in},
                                              {DNNL_ARG_WEIGHTS, weights},
                                              {DNNL_ARG_BIAS, bias},
                                              {DNNL_ARG_DST, out}};
      steps.push_back({dnnl::convolution_forward(pd), std::move(args)});
      in = out;
    }
    dst = in;
    strm.wait();
  }

  void useThreads() override { omp_set_num_threads(threads); }

  void setInput(const float *x) override {
    memory user({actDims(net.layers.front(), batch, false), F32, Tag::nchw}, eng,
                const_cast<float *>(x));
    dnnl::reorder(user, src).execute(strm, user, src);
    strm.wait();
  }

  void run() override {
    for (Step &s : steps)
      s.prim.execute(strm, s.args);
    strm.wait();
  }

  void output(float *y) override {
    memory user({actDims(net.layers.back(), batch, true), F32, Tag::nchw}, eng, y);
    dnnl::reorder(dst, user).execute(strm, dst, user);
    strm.wait();
  }

private:
  struct Step {
    dnnl::primitive prim;
    std::unordered_map<int, memory> args;
  };
  const ConvNet &net;
  int64_t batch;
  int threads;
  dnnl::engine eng;
  dnnl::stream strm;
  memory src, dst;
  std::vector<Step> steps;
};

} // namespace

std::unique_ptr<ConvRunner> makeOneDnnConvRunner(const ConvNet &net, int64_t batch, int threads,
                                                 std::string &error) {
  try {
    return std::make_unique<OneDnnConvRunner>(net, batch, threads);
  } catch (const dnnl::error &e) {
    error = std::string("oneDNN: ") + e.what();
    return nullptr;
  }
}

std::string oneDnnConvImpls(const ConvNet &net, int64_t batch, int threads) {
  try {
    omp_set_num_threads(threads);
    dnnl::engine eng(dnnl::engine::kind::cpu, 0);
    std::string s;
    for (const auto &pd : describe(net, batch, eng).pds)
      s += (s.empty() ? std::string() : std::string(" + ")) + pd.impl_info_str();
    return s;
  } catch (const dnnl::error &e) {
    return std::string("oneDNN: ") + e.what();
  }
}

} // namespace bench
