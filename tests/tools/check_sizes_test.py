#!/usr/bin/env python3
"""Tests of check_sizes.py on snippets written to a temporary directory:
the limits are exact (150 lines pass, 151 fail; 800 and 801 for files),
braces in comments, literals and preprocessor lines do not move a
function's end, lambdas and local classes count towards their function,
and namespace and class bodies are containers, not functions. The
snippets are generated here, not committed, so the size check of the tree
never sees them.
"""
import os
import subprocess
import sys
import tempfile
import textwrap
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import check_sizes  # noqa: E402

SCRIPT = os.path.join(HERE, "check_sizes.py")


def body(n, indent="  "):
    """n statement lines."""
    return "".join(f"{indent}x += {i};\n" for i in range(n))


def cpp_function(lines, name="f", tricky=""):
    """A function of exactly `lines` lines: signature, `tricky`, statements, '}'."""
    filler = lines - 2 - tricky.count("\n")
    assert filler >= 0
    return f"int {name}(int x) {{\n{tricky}{body(filler)}}}\n"


class Functions(unittest.TestCase):
    def functions(self, src):
        found, error = check_sizes.cpp_functions(src)
        self.assertIsNone(error)
        return {name: last - first + 1 for name, first, last in found}

    def offenders(self, src, suffix=".cpp"):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "snippet" + suffix)
            with open(path, "w") as f:
                f.write(src)
            return check_sizes.check_file(path, "snippet" + suffix)

    def test_150_lines_pass_151_fail(self):
        self.assertEqual(self.offenders(cpp_function(150)), [])
        self.assertEqual(self.offenders(cpp_function(151)),
                         ["snippet.cpp:1: function 'f' is 151 lines (limit 150)"])

    def test_line_of_a_later_function(self):
        src = "// a file\n" + cpp_function(3, "g") + "\n" + cpp_function(151, "h")
        self.assertEqual(self.offenders(src),
                         ["snippet.cpp:6: function 'h' is 151 lines (limit 150)"])

    def test_braces_in_comments_and_literals(self):
        tricky = textwrap.dedent("""\
          // a comment with { and } and {{
          /* a block comment } } }
             over two lines { */
          const char *s = "}}} \\" }";
          char c = '}', d = '{', e = '\\'';
          const char *r = R"delim(}}} )" { )delim";
          const char *u = u8"}" LR"(})";
          int big = 1'000 + '}' + 0x1'00;
        #define CLOSE }
        #define OPEN \
          {
          const char *multi = "}\\
        }";
        """)
        found = self.functions(cpp_function(40, "f", tricky) + cpp_function(5, "g"))
        self.assertEqual(found, {"f": 40, "g": 5})
        src = cpp_function(151, "f", tricky) + cpp_function(5, "g")
        self.assertEqual(self.offenders(src),
                         ["snippet.cpp:1: function 'f' is 151 lines (limit 150)"])

    def test_lambdas_and_local_classes_count_in_their_function(self):
        inner = "  auto l = [&](int y) {\n" + body(100, "    ") + "  };\n" \
                "  struct Local {\n    int m() { return 1; }\n  };\n"
        found = self.functions(cpp_function(151, "outer", inner))
        self.assertEqual(found, {"outer": 151})

    def test_containers_are_not_functions(self):
        members = "".join(cpp_function(3, f"m{i}") for i in range(60))
        src = ("namespace a::b {\nnamespace {\n"
               f"class C : public Base<decltype(g())> {{\npublic:\n{members}}};\n"
               f"struct S final {{\n  {cpp_function(4, 'inClass')}}};\n"
               "enum class E : int { A, B };\n"
               f"extern \"C\" {{\n{cpp_function(3, 'c_api')}}}\n"
               "} // namespace\n} // namespace a::b\n")
        found = self.functions(src)
        self.assertEqual(len(found), 62)
        self.assertEqual(found["inClass"], 4)
        self.assertEqual(self.offenders(src), [])

    def test_signatures(self):
        src = textwrap.dedent("""\
            template <typename T, int N = (3 > 2)>
            [[nodiscard]] static inline std::vector<T> Foo::bar(const T &x) const noexcept {
              return {x};
            }
            Foo::Foo(int a, int b)
                : a(a), b{b}, c{} {
              run();
            }
            Foo::~Foo() {}
            bool operator==(const Foo &a, const Foo &b) { return a.x == b.x; }
            explicit operator bool() const { return ok; }
            auto call = [](int x) mutable -> int {
              return x;
            };
            int table[] = {1, 2, 3};
            std::vector<int> v{1, 2};
            auto trailing(int x) -> decltype(x) {
              return x;
            }
            TEST_P(Suite, Name) {
              check();
            }
            """)
        self.assertEqual(self.functions(src), {
            "Foo::bar": 4, "Foo::Foo": 4, "Foo::~Foo": 1, "operator==": 1,
            "operator bool": 1, "call": 3, "trailing": 3, "TEST_P(Suite, Name)": 3})

    def test_functions_in_initialisers_at_namespace_scope(self):
        src = ("INSTANTIATE(Suite, Values(1, 2), [](const Info &info) {\n" + body(151) +
               "});\n" + cpp_function(3, "after"))
        found = self.functions(src)
        self.assertEqual(found, {"<lambda>": 153, "after": 3})

    def test_unbalanced_braces_are_reported(self):
        problems = self.offenders("int f() {\n  if (x) {\n}\n")
        self.assertEqual(len(problems), 1)
        self.assertIn("cannot find its functions", problems[0])
        self.assertIn("unbalanced", self.offenders("}\n")[0])

    def test_file_length(self):
        self.assertEqual(self.offenders("// line\n" * 800), [])
        self.assertEqual(self.offenders("// line\n" * 801),
                         ["snippet.cpp: 801 lines (limit 800)"])
        self.assertEqual(self.offenders("x = 1\n" * 800, ".py"), [])
        self.assertEqual(self.offenders("x = 1\n" * 800 + "x = 2", ".py"),
                         ["snippet.py: 801 lines (limit 800)"])

    def test_python_functions(self):
        def py(lines, name):
            return f"def {name}():\n" + "    x = 1\n" * (lines - 1)
        self.assertEqual(self.offenders(py(150, "ok") + "\n\n" + py(151, "long"), ".py"),
                         ["snippet.py:153: function 'long' is 151 lines (limit 150)"])
        method = "class C:\n    def m(self):\n" + "        x = 1\n" * 150
        self.assertEqual(self.offenders(method, ".py"),
                         ["snippet.py:2: function 'm' is 151 lines (limit 150)"])


class CommandLine(unittest.TestCase):
    def run_script(self, *args):
        return subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True)

    def test_tracked_files_of_a_repository(self):
        with tempfile.TemporaryDirectory() as d:
            def write(name, text):
                os.makedirs(os.path.dirname(os.path.join(d, name)), exist_ok=True)
                with open(os.path.join(d, name), "w") as f:
                    f.write(text)
            write("src/long.cpp", cpp_function(151, "tooLong"))
            write("src/ok.h", cpp_function(150, "fine"))
            write("tools/big.py", "x = 1\n" * 801)
            write("notes.txt", "x\n" * 900)  # not a source file
            write("untracked.cpp", cpp_function(200))  # git does not know it
            subprocess.run(["git", "init", "-q", d], check=True)
            subprocess.run(["git", "-C", d, "add", "src", "tools", "notes.txt"], check=True)
            result = self.run_script("--root", d)
        self.assertEqual(result.returncode, 1, result.stdout + result.stderr)
        self.assertEqual(result.stdout.splitlines(), [
            "src/long.cpp:1: function 'tooLong' is 151 lines (limit 150)",
            "tools/big.py: 801 lines (limit 800)",
            "check_sizes: 2 over the limits (800 lines per file, 150 per function) in 3 files",
        ])

    def test_clean_files_pass(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "ok.cpp")
            with open(path, "w") as f:
                f.write(cpp_function(150))
            result = self.run_script(path)
        self.assertEqual(result.returncode, 0, result.stdout)
        self.assertIn("none over", result.stdout)

    def test_not_a_repository_is_an_error(self):
        with tempfile.TemporaryDirectory() as d:
            result = self.run_script("--root", d)
        self.assertEqual(result.returncode, 2)


if __name__ == "__main__":
    unittest.main()
