// The oneDNN anchor: one matmul primitive per layer with the bias and a relu
// post-op fused, weights reordered once into the layout the primitive asks
// for (format_tag::any), a softmax primitive after the MLP's last layer.
// Primitives are created outside the timing, for the batch and thread count
// measured. Debian's libdnnl 2.6 is built on GNU OpenMP (libgomp), so its
// thread count is OpenMP's: omp_set_num_threads before creating the
// primitives (they pick their blocking for it) and before every timed loop.
#include "DenseBench.h"

#include <dnnl.hpp>
#include <omp.h>

#include <unordered_map>

namespace bench {
namespace {

using dnnl::memory;
using Tag = memory::format_tag;
constexpr memory::data_type F32 = memory::data_type::f32;

class OneDnnRunner final : public Runner {
public:
  OneDnnRunner(const Net &net, int64_t batch, int threads)
      : threads(threads), eng(dnnl::engine::kind::cpu, 0), strm(eng) {
    omp_set_num_threads(threads);
    memory::desc prevDst;
    for (size_t i = 0; i < net.layers.size(); ++i) {
      const Layer &l = net.layers[i];
      memory::desc srcMd({batch, l.inputs}, F32, Tag::ab);
      memory::desc anyWeights({l.inputs, l.outputs}, F32, Tag::any);
      memory::desc biasMd({1, l.outputs}, F32, Tag::ab);
      memory::desc dstMd({batch, l.outputs}, F32, Tag::ab);
      dnnl::primitive_attr attr;
      if (l.act == Act::Relu) {
        dnnl::post_ops ops;
        ops.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
        attr.set_post_ops(ops);
      }
      dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(srcMd, anyWeights, biasMd, dstMd), attr,
                                      eng);

      // W is [outputs, inputs] row-major: as the [inputs, outputs] matrix
      // the matmul multiplies by, that is format `ba`.
      memory userWeights({{l.inputs, l.outputs}, F32, Tag::ba}, eng,
                         const_cast<float *>(l.weights.data()));
      memory weights(pd.weights_desc(), eng);
      dnnl::reorder(userWeights, weights).execute(strm, userWeights, weights);
      memory bias(biasMd, eng);
      std::copy(l.bias.begin(), l.bias.end(), static_cast<float *>(bias.get_data_handle()));

      // The first source and the last destination are the caller's buffers
      // (handles set per run); the ones between are owned here.
      memory src = i == 0 ? memory(srcMd, eng, DNNL_MEMORY_NONE) : steps.back().dst;
      memory dst =
          i + 1 == net.layers.size() ? memory(dstMd, eng, DNNL_MEMORY_NONE) : memory(dstMd, eng);
      Step step{dnnl::matmul(pd), {}, dst, {}, {}};
      step.args = {{DNNL_ARG_SRC, src},
                   {DNNL_ARG_WEIGHTS, weights},
                   {DNNL_ARG_BIAS, bias},
                   {DNNL_ARG_DST, dst}};
      if (l.act == Act::Softmax) {
        dnnl::softmax_forward::primitive_desc spd(
            dnnl::softmax_forward::desc(dnnl::prop_kind::forward_inference, dstMd, 1), eng);
        step.softmax = dnnl::softmax_forward(spd);
        step.softmaxArgs = {{DNNL_ARG_SRC, dst}, {DNNL_ARG_DST, dst}};
      }
      if (i == 0)
        input = src;
      steps.push_back(std::move(step));
    }
    strm.wait();
  }

  void useThreads() override { omp_set_num_threads(threads); }

  void run(const float *x, float *y) override {
    input.set_data_handle(const_cast<float *>(x));
    steps.back().dst.set_data_handle(y);
    for (Step &s : steps) {
      s.matmul.execute(strm, s.args);
      if (s.softmax)
        s.softmax.execute(strm, s.softmaxArgs);
    }
    strm.wait();
  }

private:
  struct Step {
    dnnl::primitive matmul;
    std::unordered_map<int, memory> args;
    memory dst;
    dnnl::primitive softmax;
    std::unordered_map<int, memory> softmaxArgs;
  };
  int threads;
  dnnl::engine eng;
  dnnl::stream strm;
  memory input;
  std::vector<Step> steps;
};

} // namespace

std::unique_ptr<Runner> makeOneDnnRunner(const Net &net, int64_t batch, int threads,
                                         std::string &error) {
  try {
    return std::make_unique<OneDnnRunner>(net, batch, threads);
  } catch (const dnnl::error &e) {
    error = std::string("oneDNN: ") + e.what();
    return nullptr;
  }
}

std::unique_ptr<Runner> makeOneDnnNeuron(const float weights[2], float bias, int threads,
                                         std::string &error) {
  Net net;
  net.layers.push_back(Layer{2, 1, {weights[0], weights[1]}, {bias}, Act::Relu});
  return makeOneDnnRunner(net, 1, threads, error);
}

std::string oneDnnVersion() {
  const dnnl_version_t *v = dnnl_version();
  std::string runtime = v->cpu_runtime == DNNL_RUNTIME_OMP   ? "OpenMP"
                        : v->cpu_runtime == DNNL_RUNTIME_TBB ? "TBB"
                                                             : "other";
  return std::to_string(v->major) + "." + std::to_string(v->minor) + "." +
         std::to_string(v->patch) + " (" + runtime + ")";
}

} // namespace bench
