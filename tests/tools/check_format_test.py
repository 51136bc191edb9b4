#!/usr/bin/env python3
"""Tests of check_format.py on a scratch git repository holding the
repository's own .clang-format: a formatted file passes, a file clang-format
would change is listed (and only tracked .cpp and .h files are looked at),
and a clang-format of another major version, or none, is an error rather
than a pass.
"""
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPT = os.path.join(HERE, "check_format.py")
CONFIG = os.path.join(os.path.dirname(os.path.dirname(HERE)), ".clang-format")
# The clang-format CTest found (tests/CMakeLists.txt), else Debian's.
CLANG_FORMAT = os.environ.get("SOMA_CLANG_FORMAT", "/usr/bin/clang-format")

FORMATTED = """\
#include <vector>

int sum(const std::vector<int> &v) {
  int s = 0;
  for (int x : v)
    s += x;
  return s;
}
"""
# Four lines clang-format changes: the brace (two), the spacing, the long line.
UNFORMATTED = """\
int f(int x)
{
  return x+1;
}
int g(int aaaaaaaaaaaaaaaaaaaa, int bbbbbbbbbbbbbbbbbbbbbbbbb, int cccccccccccccccccccccccc, int dddddddd);
"""


class CheckFormat(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp()
        shutil.copy(CONFIG, os.path.join(self.dir, ".clang-format"))
        subprocess.run(["git", "init", "-q", self.dir], check=True)

    def tearDown(self):
        shutil.rmtree(self.dir)

    def write(self, name, text, track=True):
        path = os.path.join(self.dir, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
        if track:
            subprocess.run(["git", "-C", self.dir, "add", name], check=True)

    def run_script(self, *args):
        """check_format.py on the scratch repository; a later --clang-format
        in `args` wins."""
        return subprocess.run(
            [sys.executable, SCRIPT, "--root", self.dir, "--clang-format", CLANG_FORMAT, *args],
            capture_output=True, text=True)

    def test_formatted_files_pass(self):
        self.write("src/a.cpp", FORMATTED)
        self.write("src/a.h", "#pragma once\n\nint sum(int a, int b);\n")
        result = self.run_script()
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertIn("2 files, all clang-formatted", result.stdout)

    def test_unformatted_files_are_listed(self):
        self.write("src/a.cpp", FORMATTED)
        self.write("src/bad.cpp", UNFORMATTED)
        self.write("src/bad.h", "int  h();\n")
        self.write("untracked.cpp", UNFORMATTED, track=False)  # git does not know it
        self.write("script.py", "x  =  1\n")  # not C++
        result = self.run_script()
        self.assertEqual(result.returncode, 1, result.stdout + result.stderr)
        self.assertEqual(result.stdout.splitlines(), [
            "src/bad.cpp: 4 lines differ from clang-format (first at line 1)",
            "src/bad.h: 1 line differs from clang-format (first at line 1)",
            "check_format: 2 of 3 files are not clang-formatted (fix with: clang-format -i FILE)",
        ])
        # Named files are checked whether or not git tracks them.
        result = self.run_script(os.path.join(self.dir, "untracked.cpp"))
        self.assertEqual(result.returncode, 1)
        self.assertIn("untracked.cpp: 4 lines differ", result.stdout)

    def fake_clang_format(self, version_line):
        path = os.path.join(self.dir, "fake-clang-format")
        with open(path, "w") as f:
            f.write(f"#!/bin/sh\necho '{version_line}'\n")
        os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR)
        return path

    def test_another_version_is_an_error(self):
        self.write("src/a.cpp", FORMATTED)
        fake = self.fake_clang_format("Debian clang-format version 19.1.7")
        result = self.run_script("--clang-format", fake)
        self.assertEqual(result.returncode, 2)
        self.assertIn("is clang-format 19", result.stderr)

    def test_missing_clang_format_is_an_error(self):
        self.write("src/a.cpp", FORMATTED)
        result = self.run_script("--clang-format", os.path.join(self.dir, "no-such-program"))
        self.assertEqual(result.returncode, 2)
        self.assertIn("cannot run", result.stderr)


if __name__ == "__main__":
    unittest.main()
