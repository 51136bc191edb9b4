# lit configuration for users' soma test suites, loaded by soma-lit (which
# writes a lit.site.cfg.py naming the tests' directory and this
# installation's tools, then loads this file). Test files: .nn (network
# language), .sir (graph IR text), .test (anything else), with RUN: lines;
# a .nn or .sir file without one is a model the tests use, not a test.
import os
import sys

config.name = "soma-user:" + os.path.basename(config.soma_test_root.rstrip(os.sep))

# The format: lit's shell tests, but a model without RUN lines is not a
# test (soma_lit_format.py, beside this file).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from soma_lit_format import SomaTest  # noqa: E402

config.test_format = SomaTest(execute_external=False)
config.suffixes = [".nn", ".sir", ".test"]
# Inputs/ holds files that tests read (lit's convention), not tests.
config.excludes = ["Inputs"]
config.test_source_root = config.soma_test_root
config.test_exec_root = config.soma_exec_root

config.environment["PATH"] = os.pathsep.join(
    [config.soma_bin_dir, config.llvm_tools_dir, config.environment.get("PATH", "/usr/bin:/bin")])

# The engines a test runs on. `soma run` with --expect and no --engine
# computes the outputs on every engine (vec, the JIT, the interpreter) and
# checks each, so a suite covers the code that serves in production: that
# is the default here ("all"). `soma-lit -D engine=NAME` (auto, jit, vec or
# interp) runs every `%soma run` on engine NAME alone instead, unless the
# test names an engine of its own (the last --engine wins).
engine = lit_config.params.get("engine", "all")
if engine not in ("all", "auto", "jit", "vec", "interp"):
    lit_config.fatal("unknown engine %r (-D engine=...): use all, auto, jit, vec or interp" % engine)
soma = os.path.join(config.soma_bin_dir, "soma")
config.name += " (engine: %s)" % engine

# Longest first: lit substitutes in order, and %soma is a prefix of %soma-opt.
config.substitutions.append(("%soma-opt", os.path.join(config.soma_bin_dir, "soma-opt")))
if engine != "all":
    config.substitutions.append(("%soma run", soma + " run --engine=" + engine))
config.substitutions.append(("%soma", soma))
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
