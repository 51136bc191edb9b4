# lit configuration for soma's FileCheck suite. Test files: .nn (network
# language), .sir (graph IR text), .test (anything else).
import os
import lit.formats

config.name = "soma"
config.test_format = lit.formats.ShTest(execute_external=False)
config.suffixes = [".nn", ".sir", ".test"]
config.excludes = ["Inputs", "lit.cfg.py", "lit.site.cfg.py.in"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = os.path.join(config.soma_build_dir, "tests", "lit")

config.environment["PATH"] = os.pathsep.join(
    [config.soma_tools_dir, config.llvm_tools_dir, config.environment.get("PATH", "/usr/bin:/bin")])

# Longest first: lit substitutes in order, and %soma is a prefix of %soma-opt.
config.substitutions.append(("%soma-opt", os.path.join(config.soma_tools_dir, "soma-opt")))
config.substitutions.append(("%soma-lit", os.path.join(config.soma_tools_dir, "soma-lit")))
config.substitutions.append(("%soma", os.path.join(config.soma_tools_dir, "soma")))
config.substitutions.append(("%python", config.python))
config.substitutions.append(("%examples", os.path.join(config.soma_source_dir, "examples")))
config.substitutions.append(("%docs", os.path.join(config.soma_source_dir, "docs")))
config.substitutions.append(("%testtools", os.path.join(config.soma_source_dir, "tests", "tools")))

# The Python module soma in the build tree (python/): `%pyenv python3 ...`
# runs python3 where `import soma` works (in a sanitized build, with the
# ASan runtime preloaded, as python3 itself is not instrumented).
if config.soma_python_dir:
    config.available_features.add("python-module")
    config.substitutions.append(("%pyenv", "env " + config.soma_python_env))

# Features for REQUIRES: lines.
try:
    with open("/proc/cpuinfo") as f:
        flags = f.read()
    if " avx512f" in flags:
        config.available_features.add("avx512")
    if " avx2" in flags:
        config.available_features.add("avx2")
    if " xop" in flags or " fma4" in flags:
        config.available_features.add("xop")
except OSError:
    pass
