"""The files git tracks in a repository, for the tree-wide checks
(check_sizes.py, check_format.py)."""
import os
import subprocess
import sys


def tracked_files(root, suffixes, who):
    """The tracked paths under `root` (relative to it) ending in one of
    `suffixes` that exist in the work tree, or None (with a message naming
    `who`) when git cannot list them."""
    try:
        out = subprocess.run(["git", "-C", root, "ls-files", "-z"], capture_output=True,
                             text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        print(f"{who}: cannot list the files git tracks in {root}: {e}", file=sys.stderr)
        return None
    return [p for p in out.split("\0")
            if p.endswith(suffixes) and os.path.isfile(os.path.join(root, p))]
