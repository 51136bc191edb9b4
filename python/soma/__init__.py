"""soma: compile a neural network and run it on NumPy arrays.

    import numpy as np
    import soma

    m = soma.compile("examples/neuron.nn")          # a .nn, .onnx or graph IR file
    m.inputs                                        # {'x': (2,)}
    m.run(x=np.array([[0.5, 0.3]], np.float32))     # {'n': array([[0.78000003]], dtype=float32)}

    b = soma.load_bundle("out/libmlp.so")           # a compiled bundle: no compiler, no source

Errors (in the network, in the options, in a run's inputs) raise soma.Error,
whose message is soma's diagnostics: `net.nn:3:12: error: ...` lines, or
`SOURCE: error: ...` for a run. See docs/deploy.md#python.
"""
import hashlib
import os
import shutil
import tempfile
import threading

from ._core import Error, Model, __version__
from . import _core

__all__ = ["Error", "Model", "compile", "load_bundle", "__version__"]


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


def _network_of(library):
    base = os.path.basename(library)
    if base.startswith("lib") and base.endswith(".so") and len(base) > 6:
        return base[3:-3]
    return ""


def load_bundle(library, *, threads=0, name=None, weights=None):
    """Loads a bundle's shared library (`soma compile net.nn --emit=bundle
    -o out/` writes out/libNET.so) into a soma.Model that runs it: the same
    inputs, outputs and run as a compiled model's, with the bundle's code
    and the runtime inside the library (no compiler, no network source).

    threads: threads one run may use (0: all cores; 1: the calling thread).
    name: the network's C name, NET of soma_NET_bundle (default: from the
        file name, libNET.so).
    weights: a bundle compiled with --weights=external: its weights file
        (default: NET.weights next to the library).

    Raises soma.Error when the file is missing or is not a bundle's
    library, or when this CPU cannot run the bundle's code (it names the
    features it lacks). The model pickles as the library's bytes (and its
    weights file's): each process that unpickles it loads it once from a
    private copy, so Dask workers need neither the file nor a compiler.
    """
    if isinstance(library, os.PathLike):
        library = os.fspath(library)
    if not isinstance(library, str):
        raise TypeError("soma.load_bundle takes a path, not %s" % type(library).__name__)
    net = name if name is not None else _network_of(library)
    if not net:
        raise Error("%s: error: cannot tell the bundle's network from the file name (a bundle's "
                    "library is libNET.so): name it with name=" % library)
    if weights is not None:
        weights = os.fspath(weights)
    try:
        with open(library, "rb") as f:
            code = f.read()
    except OSError as e:
        raise Error("%s: error: cannot open the bundle: %s" % (library, e.strerror)) from None
    weights_file = weights or os.path.join(os.path.dirname(library), net + ".weights")
    data = None
    if net and os.path.isfile(weights_file):
        with open(weights_file, "rb") as f:
            data = f.read()
    spec = ("bundle", code, data, (("name", net), ("threads", threads), ("source", library)))
    return _core.load_bundle(library, net, threads, weights or "", library, spec)


# Models unpickled in this process, by spec: a Dask worker compiles each
# model once, however many tasks bring it (soma.dask).
_rebuilt = {}
_rebuilt_lock = threading.Lock()


def _rebuild(spec):
    """Unpickles a model: the one this process compiled (or loaded) for
    `spec`, or a new one."""
    with _rebuilt_lock:
        # A bundle is known by its bytes' digest: hashing the bytes is cheap
        # once, a dict of megabyte keys is not.
        key = spec if spec[0] != "bundle" else _bundle_key(spec)
        model = _rebuilt.get(key)
        if model is None:
            if spec[0] == "bundle":
                model = _load_shipped(spec)
            else:
                kind, source, label, options = spec
                model = _compile(source, kind == "file", source if label is None else label,
                                 options, spec)
            _rebuilt[key] = model
        return model


def _bundle_key(spec):
    _, code, data, options = spec
    digest = hashlib.sha256(code)
    if data is not None:
        digest.update(data)
    return ("bundle", digest.hexdigest(), options)


def _load_shipped(spec):
    """A pickled bundle: its library (and weights file) written to a private
    directory, loaded from there, and the directory removed (the library
    stays mapped; so do its weights)."""
    _, code, data, options = spec
    opts = dict(options)
    net = opts["name"]
    directory = tempfile.mkdtemp(prefix="soma-bundle-")
    try:
        library = os.path.join(directory, "lib%s.so" % net)
        with open(library, "wb") as f:
            f.write(code)
        if data is not None:
            with open(os.path.join(directory, net + ".weights"), "wb") as f:
                f.write(data)
        return _core.load_bundle(library, net, opts["threads"], "", opts["source"], spec)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
