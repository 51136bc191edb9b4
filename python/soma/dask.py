"""Batch scoring with soma on a Dask cluster (docs/deploy.md#dask).

    import dask.array as da
    import soma, soma.dask
    from dask.distributed import Client

    client = Client("scheduler:8786")
    model = soma.compile("mlp.nn", threads=1)     # or soma.load_bundle("out/libmlp.so", threads=1)
    x = da.from_zarr(...)                          # [samples, features...]
    scores = soma.dask.predict(model, x)           # a lazy dask array
    scores.to_zarr(...)                            # or .compute()

A compiled model travels to the workers as its source and options: a path
(which must name the same file on every worker, as on a shared file
system) or the network's text. Each worker process compiles it once, the
first time a task brings it, and keeps it for every later task
(soma._rebuild). A bundle's model (soma.load_bundle) travels as the
bundle's bytes instead, once per worker process (the model is one task of
the graph that every chunk's task depends on): each worker process writes
it to a private file, loads it once and keeps it, so the workers need no
source file and no compiler. Partitions are scored where they are, one
task per chunk of samples.
"""
import dask
import dask.array as da
import numpy as np

import soma

__all__ = ["predict"]


def _score(block, model, input_name, output_name):
    # `model` was unpickled by this worker process (compiled there once).
    # An auto model scores with the JIT's code: every chunk gets the same
    # engine's bits, wherever and whenever it runs. (Should the background
    # JIT compile fail, the model stays on the vec engine, as run would.)
    if model.engine == "auto":
        try:
            model.wait_for_jit()
        except soma.Error:
            pass
    return model.run({input_name: block})[output_name]


def predict(model, array, output=None):
    """Scores `array` (a dask array of shape [samples, per-sample dims...])
    with `model`, chunk by chunk, and returns the lazy dask array of
    `output` (name; default: the model's only output), of shape
    [samples, output's per-sample dims...], f32.

    The model must have one input. Chunks along the sample axis become the
    tasks; the other axes are merged into one chunk each first. Input
    values are converted to f32 by each task, as Model.run converts them.
    Raises soma.Error at once when the shapes or the output do not fit.
    """
    if not isinstance(model, soma.Model):
        raise TypeError("soma.dask.predict takes a soma.Model, not %s" % type(model).__name__)
    if not isinstance(array, da.Array):
        array = da.asarray(array)
    inputs, outputs = model.inputs, model.outputs
    if len(inputs) != 1:
        raise soma.Error("%s: error: soma.dask.predict needs a model with one input; "
                         "this one has %d (%s)" % (model.source, len(inputs), ", ".join(inputs)))
    (input_name, sample_shape), = inputs.items()
    if output is None:
        if len(outputs) != 1:
            raise soma.Error("%s: error: the model has %d outputs (%s); choose one with output="
                             % (model.source, len(outputs), ", ".join(outputs)))
        output = next(iter(outputs))
    if output not in outputs:
        raise soma.Error("%s: error: the model has no output named '%s'; its outputs are %s"
                         % (model.source, output, ", ".join("'%s'" % o for o in outputs)))
    expected = ("N",) + tuple(sample_shape)
    if array.ndim != len(expected) or tuple(array.shape[1:]) != tuple(sample_shape):
        raise soma.Error("%s: error: input '%s' must have shape f32[%s], got [%s]"
                         % (model.source, input_name, ", ".join(map(str, expected)),
                            ", ".join(map(str, array.shape))))
    # One task per chunk of samples: each holds whole samples.
    array = array.rechunk({axis: -1 for axis in range(1, array.ndim)})
    out_shape = tuple(outputs[output])
    chunks = (array.chunks[0],) + tuple((d,) for d in out_shape)
    # A bundle's bytes (megabytes) go to each worker once, as a task every
    # chunk's task depends on, rather than with every chunk's task.
    shipped = dask.delayed(model) if model.bundle else model
    # The sample axis stays; the input's other axes go, the output's come.
    return da.map_blocks(
        _score, array, shipped, input_name, output, dtype=np.float32, chunks=chunks,
        drop_axis=list(range(1, array.ndim)), new_axis=list(range(1, len(out_shape) + 1)),
        meta=np.empty((0,) * (len(out_shape) + 1), np.float32))
