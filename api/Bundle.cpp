// `soma compile --emit=bundle`: the network built with the JIT as a program
// would run it, the program serialized (runtime/BundleFormat.h), the
// kernels compiled into one object with it (jit/BundleEmitter.cpp), and
// the object packaged: a static library (ar), a shared library that holds
// the LLVM-free runtime too (cc), and a C header.
#include "Internal.h"

#include "soma/Version.h"
#include "soma/jit/JitEngine.h"
#include "soma/runtime/BundleFormat.h"
#include "soma/runtime/Kernels.h"
#include "soma/runtime/VecConv.h"
#include "soma/support/File.h"

#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <unordered_map>

extern char **environ;

namespace soma::api {

namespace {

/// The network's name as a C identifier: letters, digits and '_' kept,
/// anything else '_'.
std::string cIdentifier(const std::string &name) {
  std::string id;
  for (char c : name)
    id += std::isalnum(static_cast<unsigned char>(c)) || c == '_' ? c : '_';
  return id.empty() ? "net" : id;
}

std::string upper(std::string s) {
  for (char &c : s)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

/// C string literal contents of `s` (an ONNX model's names may hold any
/// byte): quotes and backslashes escaped, bytes that are not printable
/// ASCII as octal escapes, and "*/" split, so it can sit in a comment too.
std::string cEscaped(const std::string &s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    char octal[8];
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c >= 0x7f || (c == '/' && i > 0 && s[i - 1] == '*')) {
      std::snprintf(octal, sizeof octal, "\\%03o", c);
      out += octal;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

/// Whether `id` is a keyword of C or C++ (or a name they reserve), which
/// cannot name a parameter.
bool reserved(const std::string &id) {
  static const char *const words[] = {
      "auto",     "bool",     "break",   "case",      "catch",  "char",     "class",
      "const",    "continue", "default", "delete",    "do",     "double",   "else",
      "enum",     "explicit", "extern",  "false",     "float",  "for",      "friend",
      "goto",     "if",       "inline",  "int",       "long",   "mutable",  "namespace",
      "new",      "operator", "private", "protected", "public", "register", "restrict",
      "return",   "short",    "signed",  "sizeof",    "static", "struct",   "switch",
      "template", "this",     "throw",   "true",      "try",    "typedef",  "typename",
      "union",    "unsigned", "using",   "virtual",   "void",   "volatile", "while"};
  for (const char *w : words)
    if (id == w)
      return true;
  return id[0] == '_'; // _X and __x are the implementation's
}

/// The parameter names of NET_run: the tensors' names made identifiers,
/// unique (and not the two first parameters').
std::vector<std::string> parameterNames(const runtime::BundleIO &io) {
  std::vector<std::string> names;
  std::unordered_map<std::string, int> seen = {{"loaded", 1}, {"batch", 1}};
  for (const auto *list : {&io.inputs, &io.outputs})
    for (const runtime::BundleTensor &t : *list) {
      std::string id = cIdentifier(t.name);
      if (std::isdigit(static_cast<unsigned char>(id[0])) || reserved(id))
        id = "t_" + id;
      if (seen[id]++)
        id += "_" + std::to_string(names.size());
      names.push_back(id);
    }
  return names;
}

void describeTensors(std::string &h, const std::string &macro, const char *what,
                     const std::vector<runtime::BundleTensor> &list) {
  for (size_t i = 0; i < list.size(); ++i) {
    const runtime::BundleTensor &t = list[i];
    const std::string m = macro + "_" + what + std::to_string(i);
    int64_t size = 1;
    std::string dims;
    for (int64_t d : t.dims) {
      size *= d;
      dims += (dims.empty() ? "" : ", ") + std::to_string(d);
    }
    h += "/* " + std::string(what == std::string("INPUT") ? "input " : "output ") +
         std::to_string(i) + ": '" + cEscaped(t.name) + "', f32 [batch" +
         (dims.empty() ? "" : ", ") + dims + "] */\n";
    h += "#define " + m + "_NAME \"" + cEscaped(t.name) + "\"\n";
    h += "#define " + m + "_RANK " + std::to_string(t.dims.size()) + "\n";
    h += "#define " + m + "_DIMS {" + (dims.empty() ? "1" : dims) + "}\n";
    h += "#define " + m + "_SIZE " + std::to_string(size) + " /* floats per sample */\n";
  }
}

std::string headerText(const std::string &id, const std::string &network,
                       const runtime::BundleIO &io) {
  const std::string macro = "SOMA_" + upper(id), prefix = "soma_" + id;
  std::string h = "/* The soma bundle of network '" + cEscaped(network) + "', written by soma " +
                  SOMA_VERSION_STRING +
                  " (soma compile --emit=bundle).\n"
                  " * Link lib" +
                  id + ".so, or lib" + id +
                  ".a with soma's runtime (pkg-config soma-runtime).\n"
                  " * docs/deploy.md shows how. */\n";
  h += "#ifndef " + macro + "_BUNDLE_H\n#define " + macro + "_BUNDLE_H\n\n";
  h += "#include <soma/bundle.h>\n#include <stdint.h>\n\n";
  h += "#define " + macro + "_INPUT_COUNT " + std::to_string(io.inputs.size()) + "\n";
  h += "#define " + macro + "_OUTPUT_COUNT " + std::to_string(io.outputs.size()) + "\n";
  describeTensors(h, macro, "INPUT", io.inputs);
  describeTensors(h, macro, "OUTPUT", io.outputs);
  h += "\n#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n";
  h += "/* The compiled network: pass it to soma_bundle_load, or call " + prefix + "_load. */\n";
  h += "extern const soma_bundle_descriptor " + prefix + "_bundle;\n\n";
  h +=
      "/* Loads the network with `options` (NULL: all cores) into *out; free it with\n"
      " * soma_bundle_free. Returns SOMA_BUNDLE_OK or an error code (soma_bundle_last_error). */\n";
  h += "int " + prefix + "_load(const soma_bundle_options *options, soma_bundle **out);\n\n";
  h += "/* Runs `batch` samples, each buffer holding batch x its _SIZE floats, row-major.\n"
       " * Many threads may run one loaded network at once. */\n";
  h += "int " + prefix + "_run(soma_bundle *loaded, int64_t batch";
  const std::vector<std::string> params = parameterNames(io);
  for (size_t i = 0; i < params.size(); ++i)
    h += std::string(i < io.inputs.size() ? ", const float *" : ", float *") + params[i];
  h += ");\n\n#ifdef __cplusplus\n}\n#endif\n\n#endif\n";
  return h;
}

/// Runs `argv` and waits; an error naming the command when it cannot be
/// started or fails.
Expected<bool> runTool(const std::vector<std::string> &argv, const std::string &purpose) {
  std::vector<char *> args;
  for (const std::string &a : argv)
    args.push_back(const_cast<char *>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid;
  if (int err = posix_spawnp(&pid, args[0], nullptr, nullptr, args.data(), environ); err != 0)
    return Error{"cannot run '" + argv[0] + "' to " + purpose + ": " + std::strerror(err) +
                 (err == ENOENT ? " (install binutils and a C compiler, or set AR and CC; for "
                                  "aarch64, binutils-aarch64-linux-gnu)"
                                : "")};
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return Error{"'" + argv[0] + "' failed to " + purpose +
                 (WIFEXITED(status) ? " (exit status " + std::to_string(WEXITSTATUS(status)) + ")"
                                    : " (killed by a signal)")};
  return true;
}

/// How the runtime is linked into a bundle's shared library: soma's
/// static libraries (the default build: the runtime goes inside), or its
/// shared ones (SOMA_SHARED_LIBS: the bundle depends on them), from lib/
/// beside the bin/ of this executable (an install, or the build tree,
/// which is laid out the same).
Expected<std::vector<std::string>> runtimeLinkArgs() {
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec)
    return Error{"cannot find soma's executable: " + ec.message()};
  const auto dir = exe.parent_path().parent_path() / "lib";
  const std::vector<std::string> libs = {"soma_runtime", "soma_ir", "soma_support"};
  std::vector<std::string> args;
  if (std::filesystem::exists(dir / "libsoma_runtime.a")) {
    for (const std::string &lib : libs)
      args.push_back((dir / ("lib" + lib + ".a")).string());
  } else if (std::filesystem::exists(dir / "libsoma_runtime.so")) {
    args = {"-L" + dir.string(), "-Wl,-rpath," + dir.string()};
    for (const std::string &lib : libs)
      args.push_back("-l" + lib);
  } else {
    return Error{"cannot find soma's runtime library: no libsoma_runtime.a or .so in " +
                 dir.string()};
  }
  return args;
}

std::string env(const char *name, const char *otherwise) {
  const char *v = std::getenv(name);
  return v && *v ? v : otherwise;
}

/// ar and cc: the static and the shared library from `object`. For
/// another machine (`crossPrefix`, "aarch64-linux-gnu-"), the static
/// library alone, with that machine's archiver: its shared library would
/// hold the runtime built for it, which this soma does not have.
Expected<bool> package(const std::string &dir, const std::string &id, const std::string &object,
                       const std::string &crossPrefix, std::vector<std::string> &written) {
  const std::string archive = dir + "/lib" + id + ".a", shared = dir + "/lib" + id + ".so";
  std::filesystem::remove(archive);
  std::filesystem::remove(shared); // not left over from a bundle for another machine
  const std::string ar = env("AR", crossPrefix.empty() ? "ar" : (crossPrefix + "ar").c_str());
  if (auto ok = runTool({ar, "rcs", archive, object}, "write " + archive); !ok)
    return ok;
  written.push_back(archive);
  if (!crossPrefix.empty())
    return true;
  auto runtime = runtimeLinkArgs();
  if (!runtime)
    return Error{runtime.error()};
  // Only the C functions are exported: two bundles' copies of the runtime
  // stay private to each library.
  const std::string script = dir + "/." + id + ".exports";
  if (auto ok = writeFile(script, "{ global: soma_*; local: *; };\n"); !ok)
    return ok;
  std::vector<std::string> command = {env("CC", "cc"), "-shared", "-o", shared, object};
  command.insert(command.end(), runtime->begin(), runtime->end());
  for (const char *arg : {"-ltbb", "-lstdc++", "-lm", "-Wl,-z,noexecstack"})
    command.push_back(arg);
  command.push_back("-Wl,--version-script=" + script);
  auto linked = runTool(command, "link " + shared);
  std::filesystem::remove(script);
  if (!linked)
    return linked;
  written.push_back(shared);
  return true;
}

/// spec's arch, cpu and features: what the target's code needs of a CPU,
/// and, for the runtime's own convolutions (whose filters are packed for
/// this machine's kernels), the features of the instruction set they run
/// on here.
void cpuNeeds(const jit::TargetInfo &target, const runtime::Program &program,
              jit::BundleSpec &spec) {
  spec.arch = target.arch == jit::TargetArch::AArch64 ? "aarch64" : "x86_64";
  spec.cpu = target.cpu;
  spec.features = target.requiredFeatures;
  const bool convs =
      std::any_of(program.steps.begin(), program.steps.end(),
                  [](const runtime::Step &s) { return s.contextFn == runtime::runConv; });
  if (!convs || !target.native)
    return;
  std::string isa = runtime::kernels::isaFeatures(runtime::kernels::activeIsa());
  for (size_t start = 0; start < isa.size();) {
    const size_t comma = std::min(isa.find(',', start), isa.size());
    const std::string name = isa.substr(start, comma - start);
    if (("," + spec.features + ",").find("," + name + ",") == std::string::npos)
      spec.features += (spec.features.empty() ? "" : ",") + name;
    start = comma + 1;
  }
}

} // namespace

Expected<std::vector<std::string>> emitBundle(std::unique_ptr<ir::Graph> graph,
                                              const CompileOptions &options,
                                              const BundleOptions &bundle, Timings *timings) {
  auto t0 = std::chrono::steady_clock::now();
  const std::string id = cIdentifier(graph->name), prefix = "soma_" + id;
  runtime::BundleIO io;
  for (ir::Op *in : graph->inputs())
    io.inputs.push_back({in->name, in->type.dims});
  for (const ir::GraphOutput &out : graph->outputs)
    io.outputs.push_back({out.name, out.value->type.dims});

  jit::JitOptions jo;
  jo.target = {options.cpu, options.features, /*runsHere=*/false, options.triple};
  jo.optLevel = options.optLevel;
  jo.sparsity = sparsityMode(options);
  auto engine = jit::JitEngine::create(jo);
  if (!engine)
    return Error{engine.error()};
  runtime::ProgramBuilder builder(*graph);
  auto program = builder.build(builderTarget((*engine)->target(), options));
  if (!program)
    return Error{program.error()};

  // The kernel table: the JIT's kernels in the order the steps first use
  // them, a shared kernel its owner op's. The builder made one step per op
  // with a family, in op order.
  jit::BundleSpec spec;
  std::vector<int> kernelOfStep;
  std::unordered_map<size_t, int> tableIndex;
  for (size_t i = 0; i < builder.choices().size(); ++i) {
    const runtime::KernelFamily *family = builder.choices()[i].family;
    if (!family)
      continue;
    if (family->tier() != runtime::Tier::Jit) {
      kernelOfStep.push_back(-1);
      continue;
    }
    const size_t owner = (*engine)->kernelOwnerOf(i);
    auto [entry, fresh] = tableIndex.emplace(owner, static_cast<int>(spec.kernelOps.size()));
    if (fresh)
      spec.kernelOps.push_back(owner);
    kernelOfStep.push_back(entry->second);
  }
  if (kernelOfStep.size() != program->steps.size())
    return Error{"bundle: the program's steps do not match its ops"};
  std::string weights;
  auto plan = runtime::serializePlan(*program, io, kernelOfStep, weights);
  if (!plan)
    return Error{plan.error()};
  spec.prefix = prefix;
  spec.networkName = graph->name;
  spec.plan = std::move(*plan);
  spec.weightsSize = weights.size();
  spec.weightsId =
      runtime::bundleHash(reinterpret_cast<const unsigned char *>(weights.data()), weights.size());
  spec.inputs = io.inputs.size();
  spec.outputs = io.outputs.size();
  cpuNeeds((*engine)->targetInfo(), *program, spec);
  if (bundle.externalWeights)
    spec.weightsFile = id + ".weights";
  else
    spec.weights = weights;
  auto object = (*engine)->emitBundle(builder, spec);
  if (!object)
    return Error{object.error()};

  std::error_code ec;
  std::filesystem::create_directories(bundle.outDir, ec);
  if (ec)
    return Error{"cannot create directory '" + bundle.outDir + "': " + ec.message()};
  std::vector<std::string> written;
  auto write = [&](const std::string &name, std::string_view bytes) -> Expected<bool> {
    const std::string path = bundle.outDir + "/" + name;
    if (auto ok = writeFile(path, bytes); !ok)
      return ok;
    written.push_back(path);
    return true;
  };
  const std::string objectPath = bundle.outDir + "/" + id + ".o";
  if (auto ok = write(id + ".o", *object); !ok)
    return Error{ok.error()};
  if (auto ok = write(id + ".h", headerText(id, graph->name, io)); !ok)
    return Error{ok.error()};
  if (bundle.externalWeights) {
    std::string file(runtime::kWeightsFileHeader, '\0');
    const uint64_t header[2] = {runtime::kWeightsFileMagic, spec.weightsId};
    std::memcpy(file.data(), header, sizeof header);
    if (auto ok = write(spec.weightsFile, file + weights); !ok)
      return Error{ok.error()};
  }
  // Debian's (GNU's) name for another machine's tools: aarch64-linux-gnu-ar.
  const jit::TargetInfo &target = (*engine)->targetInfo();
  const std::string crossPrefix =
      target.native ? ""
                    : (target.arch == jit::TargetArch::AArch64 ? "aarch64" : "x86_64") +
                          std::string("-linux-gnu-");
  if (auto ok = package(bundle.outDir, id, objectPath, crossPrefix, written); !ok)
    return Error{ok.error()};
  if (timings)
    timings->push_back(
        {"bundle: build, emit, package",
         std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count()});
  return written;
}

} // namespace soma::api
