#!/usr/bin/env python3
"""Fails when a source file or a function is too long to read in one sitting.

Usage: check_sizes.py [--root DIR] [FILE...]

Without FILEs it checks every git-tracked C++ file (.cpp .h .def .inc) and
Python file (.py) under DIR (default: the repository this script is in).
Limits: 800 lines per file, 150 lines per function. Each offender is one
line, then a count:

    path:line: function 'name' is N lines (limit 150)
    path: N lines (limit 800)

A C++ function runs from the first line of its declaration (template
header included) to its closing brace. Functions are found by brace
matching on the text with comments, string and character literals (raw
strings too) and preprocessor lines taken out: at namespace, class,
struct, union, enum and extern "C" level (the containers) a brace that
follows a parameter list `(...)` and only qualifiers (const, noexcept,
override, a trailing return type, a constructor's initialiser list) opens
a function; a lambda introducer `[...]` before the brace opens one too
(a lambda at namespace scope). Everything inside a function, its lambdas
and local classes included, counts towards that function. Braces that
open nothing else (initialisers) are skipped. A file whose braces do not
balance is reported, so that the heuristic cannot pass a file it did not
understand. Python functions (methods and nested functions too) run from
their `def` line to ast's end_lineno.

Exit status: 0 when nothing is over a limit, 1 otherwise, 2 on a usage or
environment error.
"""
import argparse
import ast
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tracked_files import tracked_files  # noqa: E402

FILE_LIMIT = 800
FUNCTION_LIMIT = 150
CPP_SUFFIXES = (".cpp", ".h", ".def", ".inc")
PY_SUFFIXES = (".py",)

# ---------------------------------------------------------------------------
# C++: a tokenizer that drops comments, literals and preprocessor lines.

PUNCT3 = ("<<=", ">>=", "...", "->*")
PUNCT2 = ("::", "->", "==", "!=", "<=", ">=", "&&", "||", "+=", "-=", "*=", "/=",
          "%=", "&=", "|=", "^=", "++", "--", ".*")
# u8"x" and L'x' need nothing: the prefix is a word, the literal follows.
RAW_PREFIXES = ("R", "u8R", "uR", "UR", "LR")


class Token:
    __slots__ = ("text", "line")

    def __init__(self, text, line):
        self.text = text
        self.line = line

    def __repr__(self):
        return f"{self.text}@{self.line}"


def _skip_quoted(src, i, quote, line):
    """From just past an opening quote: the index past the closing one, and
    the line it is on. An unterminated literal ends at the end of its line."""
    n = len(src)
    while i < n:
        c = src[i]
        if c == "\\" and i + 1 < n:
            if src[i + 1] == "\n":
                line += 1
            i += 2
            continue
        if c == quote:
            return i + 1, line
        if c == "\n":
            return i, line
        i += 1
    return i, line


def tokenize(src):
    """The tokens of a C++ source that matter for brace matching; literals
    become the stand-in tokens '""' and "''"."""
    tokens = []
    i, n, line = 0, len(src), 1
    at_line_start = True  # only whitespace since the last newline
    in_pp = False  # inside a preprocessor directive: tokens are dropped

    def emit(text, tline):
        if not in_pp:
            tokens.append(Token(text, tline))

    while i < n:
        c = src[i]
        if c == "\n":
            line += 1
            i += 1
            at_line_start = True
            in_pp = False
            continue
        if c == "\\" and i + 1 < n and src[i + 1] == "\n":  # line splice
            line += 1
            i += 2
            continue
        if c in " \t\r\f\v":
            i += 1
            continue
        if src.startswith("//", i):
            while i < n and src[i] != "\n":
                if src[i] == "\\" and i + 1 < n and src[i + 1] == "\n":
                    line += 1
                    i += 1
                i += 1
            continue
        if src.startswith("/*", i):
            end = src.find("*/", i + 2)
            end = n if end < 0 else end + 2
            line += src.count("\n", i, end)
            i = end
            continue
        if c == "#" and at_line_start:
            in_pp = True
            at_line_start = False
            i += 1
            continue
        at_line_start = False
        start_line = line
        if c.isalpha() or c == "_":
            j = i + 1
            while j < n and (src[j].isalnum() or src[j] == "_"):
                j += 1
            word = src[i:j]
            if j < n and src[j] == '"' and word in RAW_PREFIXES:
                open_paren = src.find("(", j + 1)
                delim = src[j + 1:open_paren] if open_paren >= 0 else ""
                end = src.find(")" + delim + '"', open_paren + 1) if open_paren >= 0 else -1
                end = n if end < 0 else end + len(delim) + 2
                line += src.count("\n", i, end)
                i = end
                emit('""', start_line)
                continue
            emit(word, start_line)
            i = j
            continue
        if c.isdigit() or (c == "." and i + 1 < n and src[i + 1].isdigit()):
            # A pp-number: digit separators (1'000) are not char literals.
            j = i + 1
            while j < n:
                d = src[j]
                if d.isalnum() or d in "_.":
                    j += 1
                elif d == "'" and j + 1 < n and src[j + 1].isalnum():
                    j += 2
                elif d in "+-" and src[j - 1] in "eEpP":
                    j += 1
                else:
                    break
            emit("0", start_line)
            i = j
            continue
        if c in "\"'":
            i, line = _skip_quoted(src, i + 1, c, line)
            emit('""' if c == '"' else "''", start_line)
            continue
        for p in PUNCT3 + PUNCT2:
            if src.startswith(p, i):
                emit(p, start_line)
                i += len(p)
                break
        else:
            emit(c, start_line)
            i += 1
    return tokens


# ---------------------------------------------------------------------------
# C++: finding function bodies.

OPENERS = {"(": ")", "[": "]", "{": "}"}
CONTAINER_KEYS = {"class", "struct", "union", "enum"}
# May follow a function's parameter list before its body.
QUALIFIERS = {"const", "volatile", "&", "&&", "override", "final", "mutable", "constexpr",
              "consteval", "try", "noexcept", "throw"}
# Words whose parenthesised operand is not a parameter list.
NOT_A_NAME = {"decltype", "alignas", "__attribute__", "__declspec", "noexcept", "throw",
              "sizeof", "alignof", "requires", "static_assert", "if", "for", "while",
              "switch", "return", "catch"}
ACCESS = {"public", "private", "protected"}


def _skip_group(toks, k):
    """toks[k] opens (, [ or {: the index of its partner (or len(toks)).
    Only brackets of its own kind count, so a stray ')' in a function body
    cannot end it early."""
    opener = toks[k].text
    closer = OPENERS[opener]
    depth = 0
    while k < len(toks):
        t = toks[k].text
        if t == opener:
            depth += 1
        elif t == closer:
            depth -= 1
            if depth == 0:
                return k
        k += 1
    return k


def _skip_angles(toks, k):
    """toks[k] is '<' (a template parameter list): the index of its '>'."""
    depth = 0
    while k < len(toks):
        t = toks[k].text
        if t in ("(", "["):
            k = _skip_group(toks, k)
        elif t == "<":
            depth += 1
        elif t == ">":
            depth -= 1
            if depth == 0:
                return k
        elif t == ">>":
            depth -= 2
            if depth <= 0:
                return k
        k += 1
    return k


def _strip_head(head):
    """The head without access labels, template headers and attributes."""
    # `public:` (with nothing after it but the declaration) resets the head.
    for k in range(len(head) - 1, 0, -1):
        if head[k].text == ":" and head[k - 1].text in ACCESS:
            head = head[k + 1:]
            break
    out = []
    k = 0
    while k < len(head):
        t = head[k].text
        if t == "template" and k + 1 < len(head) and head[k + 1].text == "<":
            k = _skip_angles(head, k + 1) + 1
            continue
        if t == "[" and k + 1 < len(head) and head[k + 1].text == "[":
            k = _skip_group(head, k) + 1
            continue
        if t in ("__attribute__", "__declspec", "alignas") and k + 1 < len(head) \
                and head[k + 1].text == "(":
            k = _skip_group(head, k + 1) + 1
            continue
        out.append(head[k])
        k += 1
    return out


def _after_params_ok(rest):
    """Whether the tokens between a parameter list and '{' are qualifiers, a
    trailing return type, a requires-clause or a constructor initialiser
    list. Returns 'body', 'init' (inside an initialiser list: the brace is a
    member's) or None (not a function)."""
    k = 0
    while k < len(rest):
        t = rest[k].text
        if t in ("noexcept", "throw") and k + 1 < len(rest) and rest[k + 1].text == "(":
            k = _skip_group(rest, k + 1) + 1
            continue
        if t in QUALIFIERS:
            k += 1
            continue
        if t in ("->", "requires"):
            return "body"  # a trailing return type or constraint: anything goes
        if t == ":":
            # An initialiser list: `: a(x), b{y}`. The body's brace follows a
            # ')' or '}'; a '{' after a name is a member's initialiser.
            last = rest[-1].text
            return "body" if last in (")", "}") and len(rest) > k + 1 else "init"
        return None
    return "body"


def _is_word(text):
    return text[:1].isalpha() or text[:1] == "_"


def _operator_name(head, k):
    """When the '(' at head[k] follows an operator's name (operator==,
    operator bool, operator const char *): that name, else None."""
    for j in range(k - 1, max(-1, k - 6), -1):
        if head[j].text == "operator":
            spelled = ""
            for t in head[j + 1:k]:
                spelled += (" " if _is_word(t.text) else "") + t.text
            return _qualified_name(head, j, "operator" + spelled)
        if head[j].text in ("(", ")", "{", "}", ",", ";", "::"):
            return None
    return None


def _function_name(head):
    """(name, index of the parameter list's '(') of a function head, or None."""
    k = 0
    while k < len(head):
        t = head[k].text
        if t == "(" and k > 0:
            # operator(): the first () is the name, the parameters follow.
            if head[k - 1].text == "operator" and k + 2 < len(head) \
                    and head[k + 1].text == ")" and head[k + 2].text == "(":
                return _qualified_name(head, k - 1, "operator()"), k + 2
            name = _operator_name(head, k)
            if name is not None:
                return name, k
            prev = head[k - 1].text
            if _is_word(prev) and prev not in NOT_A_NAME:
                return _qualified_name(head, k - 1, prev), k
            if prev == ">":
                # f<T>(...): the name is before the template arguments.
                j, angle = k - 1, 0
                while j > 0:
                    angle += {">": 1, ">>": 2, "<": -1}.get(head[j].text, 0)
                    if angle == 0:
                        break
                    j -= 1
                if j > 0 and _is_word(head[j - 1].text):
                    return _qualified_name(head, j - 1, head[j - 1].text), k
        if t in OPENERS:
            k = _skip_group(head, k) + 1
            continue
        k += 1
    return None


def _qualified_name(head, k, name):
    """`name`, spelled from head[k] on, with the A::B:: and ~ before it."""
    j = k - 1
    if j >= 0 and head[j].text == "~":
        name = "~" + name
        j -= 1
    while j >= 1 and head[j].text == "::" and _is_word(head[j - 1].text):
        name = head[j - 1].text + "::" + name
        j -= 2
    return name


def _lambda_name(head):
    """A name when the head ends in a lambda's introducer and declarator
    (`auto f = [&](int x) mutable -> int`), else None."""
    # The last top-level [...] in a place where an expression starts.
    j = 0
    last_intro = None
    while j < len(head):
        t = head[j].text
        if t == "[":
            end = _skip_group(head, j)
            prev = head[j - 1].text if j > 0 else "="
            if prev in ("=", "(", ",", "{", "return") or j == 0:
                last_intro = (j, end)
            j = end + 1
            continue
        if t in ("(", "{"):
            j = _skip_group(head, j) + 1
            continue
        j += 1
    if last_intro is None:
        return None
    j = last_intro[1] + 1
    if j < len(head) and head[j].text == "<":
        j = _skip_angles(head, j) + 1
    if j < len(head) and head[j].text == "(":
        j = _skip_group(head, j) + 1
    while j < len(head):
        t = head[j].text
        if t in ("mutable", "constexpr", "consteval", "static"):
            j += 1
        elif t in ("noexcept", "throw"):
            j += 1
            if j < len(head) and head[j].text == "(":
                j = _skip_group(head, j) + 1
        elif t == "->":
            break  # a trailing return type: the rest
        else:
            return None
    i = last_intro[0]
    if i >= 2 and head[i - 1].text == "=":
        name = head[i - 2].text
        if _is_word(name):
            return name
    return "<lambda>"


def _unclosed_tail(head):
    """The tokens after the last opener of `head` that is not closed in it
    (a brace inside a call's parentheses), or head when all are closed."""
    stack = []
    for k, t in enumerate(head):
        if t.text in OPENERS:
            stack.append(k)
        elif stack and t.text == OPENERS[head[stack[-1]].text]:
            stack.pop()
    if not stack:
        return head, False
    tail = head[stack[-1] + 1:]
    for k in range(len(tail) - 1, -1, -1):  # from the last argument
        if tail[k].text == ",":
            return tail[k + 1:], True
    return tail, True


def classify(head):
    """What a '{' at container level opens, from the tokens before it since
    the last ';', '{' or '}': ('container', None), ('function', name) or
    ('init', None). 'member-init' is an initialiser inside a constructor's
    initialiser list (the head goes on past it)."""
    head, nested = _unclosed_tail(head)
    stripped = _strip_head(head)
    if not stripped:
        return ("init", None) if nested else ("container", None)  # a bare block
    words = [t.text for t in stripped]
    lam = _lambda_name(stripped)
    if lam is not None:
        return "function", lam
    if nested:
        return "init", None
    if words[0] == "namespace" or words[:2] == ["inline", "namespace"]:
        return "container", None
    if words[0] == "extern" and len(words) == 2 and words[1] == '""':
        return "container", None
    found = _function_name(stripped)
    kind = None
    if found is not None:
        name, paren = found
        close = _skip_group(stripped, paren)
        kind = _after_params_ok(stripped[close + 1:])
    if kind is None:
        # Not a function: a class (struct X : Base<decltype(f())> too) or an
        # initialiser (int table[] = {...}, Foo x{1}).
        container = any(w in CONTAINER_KEYS for w in words)
        return ("container" if container else "init"), None
    if kind == "init":
        return "member-init", None
    if name.isupper():
        # A macro that defines a function (TEST(Suite, Name)): keep its arguments.
        args = " ".join(t.text for t in stripped[paren + 1:close])
        name = f"{name}({args.replace(' , ', ', ')})"
    return "function", name


def cpp_functions(src):
    """[(name, first line, last line)] of the functions in a C++ source, and
    an error string when the braces do not balance."""
    toks = tokenize(src)
    functions = []
    # Container scopes on a stack; each keeps the head being accumulated.
    stack = [[]]  # heads
    k = 0
    while k < len(toks):
        t = toks[k]
        head = stack[-1]
        if t.text == "{":
            kind, name = classify(head)
            if kind == "container":
                stack.append([])
                k += 1
                continue
            end = _skip_group(toks, k)
            if end >= len(toks):
                return functions, f"line {t.line}: unbalanced '{{'"
            if kind == "function":
                functions.append((name, _first_line(head), toks[end].line))
            if kind == "function" and not _unclosed_tail(head)[1]:
                head.clear()  # the declaration is done
            else:
                # An initialiser, or a lambda among a call's arguments: the
                # declaration goes on, with the braces as one group.
                head.append(Token("{", t.line))
                head.append(Token("}", toks[end].line))
            k = end + 1
            continue
        if t.text == "}":
            if len(stack) == 1:
                return functions, f"line {t.line}: unbalanced '}}'"
            stack.pop()
            stack[-1].clear()
            k += 1
            continue
        if t.text == ";":
            _, nested = _unclosed_tail(head)
            if not nested:
                head.clear()
                k += 1
                continue
        head.append(t)
        k += 1
    if len(stack) != 1:
        return functions, "unbalanced '{' at the end of the file"
    return functions, None


def _first_line(head):
    """The line a declaration starts on: its first token after any access
    label (a template header and attributes included)."""
    head, _ = _unclosed_tail(head)
    for k in range(len(head) - 1, 0, -1):
        if head[k].text == ":" and head[k - 1].text in ACCESS:
            head = head[k + 1:]
            break
    return head[0].line if head else 0


# ---------------------------------------------------------------------------
# Python and the report.

def py_functions(src, path):
    tree = ast.parse(src, filename=path)
    result = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            result.append((node.name, node.lineno, node.end_lineno))
    return result


def line_count(src):
    return src.count("\n") + (0 if src.endswith("\n") or not src else 1)


def check_file(path, display):
    """The offender lines for one file."""
    with open(path, encoding="utf-8", errors="replace") as f:
        src = f.read()
    problems = []
    lines = line_count(src)
    if lines > FILE_LIMIT:
        problems.append((0, f"{display}: {lines} lines (limit {FILE_LIMIT})"))
    if path.endswith(PY_SUFFIXES):
        try:
            functions = py_functions(src, display)
        except SyntaxError as e:
            return problems + [(e.lineno or 0, f"{display}:{e.lineno}: cannot parse: {e.msg}")]
        error = None
    else:
        functions, error = cpp_functions(src)
    if error:
        problems.append((0, f"{display}: cannot find its functions: {error}"))
    for name, first, last in functions:
        length = last - first + 1
        if length > FUNCTION_LIMIT:
            problems.append((first, f"{display}:{first}: function '{name}' is {length} lines "
                                    f"(limit {FUNCTION_LIMIT})"))
    problems.sort(key=lambda p: p[0])
    return [p[1] for p in problems]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default=os.path.dirname(os.path.dirname(
        os.path.dirname(os.path.abspath(__file__)))))
    parser.add_argument("files", nargs="*")
    args = parser.parse_args(argv)
    if args.files:
        files = [(f, f) for f in args.files]
    else:
        tracked = tracked_files(args.root, CPP_SUFFIXES + PY_SUFFIXES, "check_sizes")
        if tracked is None:
            return 2
        if not tracked:
            print(f"check_sizes: no C++ or Python files tracked in {args.root}", file=sys.stderr)
            return 2
        files = [(os.path.join(args.root, p), p) for p in sorted(tracked)]
    offenders = []
    for path, display in files:
        if not os.path.isfile(path):  # deleted but not yet committed
            continue
        offenders += check_file(path, display)
    for line in offenders:
        print(line)
    if offenders:
        print(f"check_sizes: {len(offenders)} over the limits "
              f"({FILE_LIMIT} lines per file, {FUNCTION_LIMIT} per function) "
              f"in {len(files)} files")
        return 1
    print(f"check_sizes: {len(files)} files, none over {FILE_LIMIT} lines or with a function "
          f"over {FUNCTION_LIMIT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
