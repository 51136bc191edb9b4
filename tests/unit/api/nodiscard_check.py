#!/usr/bin/env python3
"""Ignoring a soma::Status or soma::Result is a compiler warning: compiled
with -Werror, a program that drops the Status of Model::run, or the Result
of Model::compileFile, must fail to compile, naming nodiscard; the same
program using both must compile (so the check cannot pass for another
reason).

Usage: nodiscard_check.py CXX INCLUDE_DIR...
"""
import os
import subprocess
import sys
import tempfile

HEAD = "#include <soma/soma.h>\nint main() {\n"
USES = HEAD + """  soma::Result<soma::Model> m = soma::Model::compileFile("n.nn");
  if (!m) return 1;
  soma::Status s = m->run({}, {});
  return s ? 0 : 1;
}
"""
DROPS_STATUS = HEAD + """  soma::Result<soma::Model> m = soma::Model::compileFile("n.nn");
  if (!m) return 1;
  m->run({}, {});
  return 0;
}
"""
DROPS_RESULT = HEAD + """  soma::Model::compileFile("n.nn");
  return 0;
}
"""


def compiles(cxx, includes, source):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "t.cpp")
        with open(path, "w") as f:
            f.write(source)
        flags = [f for d in includes for f in ("-I", d)]
        out = subprocess.run([cxx, "-std=c++17", "-Werror", "-fsyntax-only"] + flags + [path],
                             capture_output=True, text=True)
        return out.returncode == 0, out.stderr


def main():
    cxx, include = sys.argv[1], sys.argv[2:]
    ok, err = compiles(cxx, include, USES)
    if not ok:
        sys.exit("the program that uses the Status and Result does not compile:\n" + err)
    for what, source in (("the Status of run", DROPS_STATUS),
                         ("the Result of compileFile", DROPS_RESULT)):
        ok, err = compiles(cxx, include, source)
        if ok:
            sys.exit("dropping %s compiled without a warning under -Werror" % what)
        if "nodiscard" not in err:
            sys.exit("dropping %s failed, but not for nodiscard:\n%s" % (what, err))
        print("dropping %s: refused (nodiscard)" % what)


if __name__ == "__main__":
    main()
