"""soma: compile a neural network and run it on NumPy arrays.

    import numpy as np
    import soma

    m = soma.compile("examples/neuron.nn")          # a .nn, .onnx or graph IR file
    m.inputs                                        # {'x': (2,)}
    m.run(x=np.array([[0.5, 0.3]], np.float32))     # {'n': array([[0.78000003]], dtype=float32)}

Errors (in the network, in the options, in a run's inputs) raise soma.Error,
whose message is soma's diagnostics: `net.nn:3:12: error: ...` lines, or
`SOURCE: error: ...` for a run. See docs/deploy.md#python.
"""
import os
import threading

from ._core import Error, Model, __version__
from . import _core

__all__ = ["Error", "Model", "compile", "__version__"]


def compile(source, *, engine="auto", threads=0, opt_level=2, cpu="", features="",
            sparsity="auto", prune=0.0, name=None):
    """Compiles a network into a soma.Model.

    source: a path (str or os.PathLike) to a network file (.nn), graph IR
        text or an ONNX model (.onnx); or the network's text itself. A str
        holding '{' or a newline is text, any other str a path.
    engine: 'auto' (the vec engine at once, the JIT once compiled in the
        background), 'jit', 'vec' or 'interp' (the reference interpreter).
    threads: threads one run may use (0: all cores; 1: the calling thread).
    opt_level: 0..3. cpu, features: the JIT's target ('' : this machine).
    sparsity: 'auto', 'dense' or 'sparse'. prune: a fraction in [0, 1) of
        each layer's weights set to zero (changes the results).
    name: what diagnostics call text (default '<string>'); for a file, its path.

    Raises soma.Error with the diagnostics when the network or an option is
    wrong. The model can be pickled: it is sent as its source and options
    and compiled again, once per process, where it is unpickled.
    """
    if isinstance(source, os.PathLike):
        source = os.fspath(source)
    if not isinstance(source, str):
        raise TypeError("soma.compile takes a path or network text, not %s"
                        % type(source).__name__)
    is_file = "{" not in source and "\n" not in source
    options = (("engine", engine), ("threads", threads), ("opt_level", opt_level),
               ("cpu", cpu), ("features", features), ("sparsity", sparsity),
               ("prune", float(prune)))
    if is_file:
        # Unpickled elsewhere, the path must not depend on this process's cwd.
        spec = ("file", os.path.abspath(source), None, options)
        label = source
    else:
        label = "<string>" if name is None else name
        spec = ("text", source, label, options)
    return _compile(source, is_file, label, options, spec)


def _compile(source, is_file, label, options, spec):
    return _core.compile(source, is_file, label, spec=spec, **dict(options))


# Models unpickled in this process, by spec: a Dask worker compiles each
# model once, however many tasks bring it (soma.dask).
_rebuilt = {}
_rebuilt_lock = threading.Lock()


def _rebuild(spec):
    """Unpickles a model: the one this process compiled for `spec`, or a new one."""
    with _rebuilt_lock:
        model = _rebuilt.get(spec)
        if model is None:
            kind, source, label, options = spec
            model = _compile(source, kind == "file", source if label is None else label,
                             options, spec)
            _rebuilt[spec] = model
        return model
