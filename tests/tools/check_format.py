#!/usr/bin/env python3
"""Fails when a tracked C++ file is not formatted as .clang-format says.

Usage: check_format.py [--root DIR] [--clang-format PATH] [FILE...]

Without FILEs it checks every git-tracked .cpp and .h file under DIR
(default: the repository this script is in). It runs
`clang-format --dry-run --Werror` with the repository's .clang-format on
each and lists the files that differ, one line each, then a count:

    path: N lines differ from clang-format (first at line L)

clang-format's output depends on its version, and .clang-format was tuned
with clang-format 14 (Debian 12's): another major version is an error, not
a pass. Exit status: 0 when every file is formatted, 1 when some are not,
2 when clang-format cannot run or is another version.
"""
import argparse
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tracked_files import tracked_files  # noqa: E402

CLANG_FORMAT_MAJOR = 14
SUFFIXES = (".cpp", ".h")
BATCH = 32  # files per clang-format run
# clang-format --dry-run --Werror: "path:line:col: error: code should be clang-formatted [-Wclang-format-violations]"
VIOLATION = re.compile(r"^(.*?):(\d+):\d+: (?:error|warning): code should be clang-formatted")


def clang_format_version(exe):
    """The major version of `exe`, or None when it does not run."""
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True).stdout
    except OSError:
        return None
    m = re.search(r"version (\d+)\.", out)
    return int(m.group(1)) if m else None


def violations(exe, root, files):
    """{path: [lines]} of the lines clang-format would change, or None when
    clang-format failed for another reason."""
    found = {}
    for start in range(0, len(files), BATCH):
        batch = files[start:start + BATCH]
        result = subprocess.run([exe, "--dry-run", "--Werror", "--style=file", *batch],
                                cwd=root, capture_output=True, text=True)
        for line in result.stderr.splitlines():
            m = VIOLATION.match(line)
            if m:
                found.setdefault(m.group(1), []).append(int(m.group(2)))
        if result.returncode != 0 and not any(f in found for f in batch):
            sys.stderr.write(result.stderr)
            return None
    return found


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", default=os.path.dirname(os.path.dirname(
        os.path.dirname(os.path.abspath(__file__)))))
    parser.add_argument("--clang-format", default="/usr/bin/clang-format")
    parser.add_argument("files", nargs="*")
    args = parser.parse_args(argv)

    version = clang_format_version(args.clang_format)
    if version is None:
        print(f"check_format: cannot run '{args.clang_format}' (tools/setup installs clang-format)",
              file=sys.stderr)
        return 2
    if version != CLANG_FORMAT_MAJOR:
        print(f"check_format: '{args.clang_format}' is clang-format {version}; .clang-format is "
              f"checked with clang-format {CLANG_FORMAT_MAJOR}, whose output differs",
              file=sys.stderr)
        return 2
    if not os.path.isfile(os.path.join(args.root, ".clang-format")):
        print(f"check_format: no .clang-format in {args.root}", file=sys.stderr)
        return 2

    if args.files:
        files = [os.path.relpath(os.path.abspath(f), args.root) for f in args.files]
    else:
        files = tracked_files(args.root, SUFFIXES, "check_format")
        if files is None:
            return 2
    if not files:
        print(f"check_format: no .cpp or .h files to check in {args.root}", file=sys.stderr)
        return 2

    found = violations(args.clang_format, args.root, files)
    if found is None:
        print("check_format: clang-format failed", file=sys.stderr)
        return 2
    for path in sorted(found):
        lines = found[path]
        lines = sorted(set(lines))
        counted = f"{len(lines)} line" + ("s differ" if len(lines) > 1 else " differs")
        print(f"{path}: {counted} from clang-format (first at line {lines[0]})")
    if found:
        print(f"check_format: {len(found)} of {len(files)} files are not clang-formatted "
              f"(fix with: clang-format -i FILE)")
        return 1
    print(f"check_format: {len(files)} files, all clang-formatted")
    return 0


if __name__ == "__main__":
    sys.exit(main())
