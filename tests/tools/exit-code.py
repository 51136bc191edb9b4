#!/usr/bin/env python3
"""Runs a command and prints `exit code: N` after its output, so a lit test
can check the exact exit status (`not` only tells zero from non-zero). A
crash prints `killed by signal N`; a command still running after the
timeout (default 60 s) is killed and prints `timed out`. Always exits 0:
FileCheck decides.

  exit-code.py [--timeout SECONDS] COMMAND [ARGS...]
"""
import subprocess
import sys


def main():
    args = sys.argv[1:]
    timeout = 60.0
    if len(args) >= 2 and args[0] == "--timeout":
        timeout = float(args[1])
        args = args[2:]
    if not args:
        sys.exit(__doc__)
    try:
        code = subprocess.run(args, timeout=timeout).returncode
    except subprocess.TimeoutExpired:
        print(f"timed out after {timeout:g} s", flush=True)
        return
    if code < 0:
        print(f"killed by signal {-code}", flush=True)
    else:
        print(f"exit code: {code}", flush=True)


if __name__ == "__main__":
    main()
