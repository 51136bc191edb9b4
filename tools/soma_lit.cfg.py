# lit configuration for users' soma test suites, loaded by soma-lit (which
# writes a lit.site.cfg.py naming the tests' directory and this
# installation's tools, then loads this file). Test files: .nn (network
# language), .sir (graph IR text), .test (anything else), with RUN: lines.
import os
import lit.formats

config.name = "soma-user:" + os.path.basename(config.soma_test_root.rstrip(os.sep))
config.test_format = lit.formats.ShTest(execute_external=False)
config.suffixes = [".nn", ".sir", ".test"]
# Inputs/ holds files that tests read (lit's convention), not tests.
config.excludes = ["Inputs"]
config.test_source_root = config.soma_test_root
config.test_exec_root = config.soma_exec_root

config.environment["PATH"] = os.pathsep.join(
    [config.soma_bin_dir, config.llvm_tools_dir, config.environment.get("PATH", "/usr/bin:/bin")])

# Longest first: lit substitutes in order, and %soma is a prefix of %soma-opt.
config.substitutions.append(("%soma-opt", os.path.join(config.soma_bin_dir, "soma-opt")))
config.substitutions.append(("%soma", os.path.join(config.soma_bin_dir, "soma")))
config.substitutions.append(("%python", config.python))

# Features for REQUIRES: lines.
try:
    with open("/proc/cpuinfo") as f:
        flags = f.read()
    if " avx512f" in flags:
        config.available_features.add("avx512")
    if " avx2" in flags:
        config.available_features.add("avx2")
except OSError:
    pass
