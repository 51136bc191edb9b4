#!/usr/bin/env python3
"""docs/deploy.md's C API example: the program (examples/capi/neuron.c,
built by CMake) runs from the source tree and prints what the page shows,
and the page shows its source verbatim.

  doc_check.py EXAMPLE_BINARY SOURCE_DIR
"""
import subprocess
import sys

exe, source = sys.argv[1], sys.argv[2]
p = subprocess.run([exe, "examples/neuron.nn"], cwd=source, stdout=subprocess.PIPE,
                   stderr=subprocess.STDOUT, text=True)
if p.returncode != 0:
    sys.exit("FAIL: %s exited %d:\n%s" % (exe, p.returncode, p.stdout))
page = open(source + "/docs/deploy.md").read()
code = open(source + "/examples/capi/neuron.c").read()
if "```c\n%s```\n" % code not in page:
    sys.exit("FAIL: docs/deploy.md must show examples/capi/neuron.c verbatim in a ```c block")
session = "```console\n$ ./neuron examples/neuron.nn\n%s```\n" % p.stdout
if session not in page:
    sys.exit("FAIL: docs/deploy.md must show the session\n%s" % session)
print("PASS")
