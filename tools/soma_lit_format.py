# The test format of users' soma suites (soma_lit.cfg.py), in a module of
# its own so that lit can hand it to its worker processes (a class defined
# in a lit configuration file cannot be pickled).
import os

import lit.formats


class SomaTest(lit.formats.ShTest):
    """lit's shell tests, except that a .nn or .sir file without a RUN line
    is a model that tests read (it may sit next to them), not a test."""

    def getTestsForPath(self, testSuite, path_in_suite, litConfig, localConfig):
        if os.path.splitext(path_in_suite[-1])[1] in (".nn", ".sir"):
            try:
                with open(testSuite.getSourcePath(path_in_suite), errors="replace") as f:
                    if "RUN:" not in f.read():
                        return
            except OSError:
                pass  # lit reports the unreadable file
        yield from super().getTestsForPath(testSuite, path_in_suite, litConfig, localConfig)
