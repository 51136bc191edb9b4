"""soma.dask.predict: on a LocalCluster of two worker processes, against
the same model run in this process, compiled or loaded from a bundle
(shipped as its bytes); its checks without a cluster; and
docs/deploy.md's cluster recipe (dask-scheduler, dask-worker, the page's
script) on this machine."""
import os
import re
import shutil
import socket
import subprocess
import sys

import numpy as np
import pytest

import soma

dask = pytest.importorskip("dask")
distributed = pytest.importorskip("distributed")
import dask.array as da  # noqa: E402

import soma.dask  # noqa: E402

SPATIAL = """network spatial {
  input img: f32[2, 3]
  flatten f(img)
  dense y(f) { units = 4; weights = he(seed = 5) }
  output y
  output twice = y
}
"""


def _score_on_two_workers(model, x, chunks, kind):
    """Scores x with soma.dask.predict on a LocalCluster of two worker
    processes; checks the result against scoring chunk by chunk here, bit
    for bit, and that each worker that ran a chunk rebuilt the model once
    (soma._rebuilt's cache), from a `kind` ("file" or "bundle")."""
    expected = np.concatenate([model.run(x=x[i:i + chunks])["probs"]
                               for i in range(0, len(x), chunks)])
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        scores = soma.dask.predict(model, da.from_array(x, chunks=(chunks, x.shape[1])))
        assert scores.shape == (len(x), 3) and scores.dtype == np.float32
        got = scores.compute()
        rebuilt = client.run(lambda: [s[0] for s in __import__("soma")._rebuilt])
        pids = client.run(os.getpid)
    assert got.tobytes() == expected.tobytes()
    assert len(set(pids.values())) == 2 and os.getpid() not in pids.values()
    assert all(kinds in ([], [kind]) for kinds in rebuilt.values()), rebuilt
    assert sum(len(kinds) for kinds in rebuilt.values()) >= 1
    return expected


def test_predict_on_two_worker_processes(examples, rng):
    model = soma.compile(os.path.join(examples, "mlp.nn"), engine="jit", threads=1)
    x = rng.uniform(-3, 3, size=(4000, 4)).astype(np.float32)
    _score_on_two_workers(model, x, 500, "file")


def test_predict_ships_a_bundle_to_two_worker_processes(mlp_bundle, tmp_path, examples, rng):
    # The library is gone before the workers run: they get its bytes.
    library = tmp_path / "libmlp.so"
    shutil.copy(mlp_bundle, library)
    model = soma.load_bundle(library, threads=1)
    os.remove(library)
    x = rng.uniform(-3, 3, size=(4000, 4)).astype(np.float32)
    expected = _score_on_two_workers(model, x, 500, "bundle")
    jit = soma.compile(os.path.join(examples, "mlp.nn"), engine="jit", threads=1)
    assert expected.tobytes() == jit.run(x=x)["probs"].tobytes()


def test_predict_shapes_and_outputs_locally():
    model = soma.compile(SPATIAL, engine="vec")
    x = np.arange(7 * 6, dtype=np.float64).reshape(7, 2, 3) / 10
    got = soma.dask.predict(model, da.from_array(x, chunks=(3, 1, 3)), output="twice")
    assert got.shape == (7, 4) and got.chunks == ((3, 3, 1), (4,))
    np.testing.assert_array_equal(got.compute(scheduler="sync"), model.run(img=x)["twice"])
    np.testing.assert_array_equal(soma.dask.predict(model, x, output="y").compute(),
                                  model.run(img=x)["y"])


def test_predict_refuses_what_does_not_fit():
    model = soma.compile(SPATIAL, name="spatial.nn", engine="vec")
    x = da.zeros((5, 2, 3), chunks=2)
    with pytest.raises(soma.Error, match=r"^spatial\.nn: error: the model has 2 outputs \(y, twice\)"):
        soma.dask.predict(model, x)
    with pytest.raises(soma.Error, match=r"no output named 'z'; its outputs are 'y', 'twice'"):
        soma.dask.predict(model, x, output="z")
    with pytest.raises(soma.Error, match=r"input 'img' must have shape f32\[N, 2, 3\], got \[5, 6\]"):
        soma.dask.predict(model, da.zeros((5, 6)), output="y")
    two = soma.compile("network t { input a: f32[1]\n input b: f32[1]\n add s(a, b)\n output s }",
                       name="two.nn")
    with pytest.raises(soma.Error, match=r"^two\.nn: error: .* needs a model with one input; this one has 2"):
        soma.dask.predict(two, da.zeros((5, 1)))
    with pytest.raises(TypeError):
        soma.dask.predict("mlp.nn", x)


def deploy_script(name):
    """A script docs/deploy.md shows (a ```python block under `<!-- file: NAME -->`)."""
    page = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs", "deploy.md")
    with open(page) as f:
        match = re.search(r"<!-- file: %s -->\s*```python\n(.*?)```" % re.escape(name), f.read(), re.S)
    assert match, f"docs/deploy.md shows no {name}"
    return match.group(1)


def test_the_documented_cluster_commands(tmp_path, examples):
    # docs/deploy.md's real-cluster recipe on one machine: dask-scheduler,
    # dask-worker with two processes, and the page's script given the
    # scheduler's address.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"127.0.0.1:{port}"
    (tmp_path / "dask_score.py").write_text(deploy_script("dask_score.py"))
    os.symlink(examples, tmp_path / "examples")
    # The processes import this soma, wherever they start.
    package_dir = os.path.dirname(os.path.dirname(os.path.abspath(soma.__file__)))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [package_dir] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    quiet = dict(cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    scheduler = subprocess.Popen(["dask-scheduler", "--host", "127.0.0.1", "--port", str(port),
                                  "--no-dashboard"], **quiet)
    worker = None
    try:
        worker = subprocess.Popen(["dask-worker", f"tcp://{address}", "--nworkers", "2",
                                   "--nthreads", "1", "--no-dashboard"], **quiet)
        with distributed.Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=60)
        p = subprocess.run([sys.executable, "dask_score.py", address], cwd=tmp_path, env=env,
                           timeout=120,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    finally:
        for process in (worker, scheduler):
            if process:
                process.terminate()
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
    assert p.returncode == 0, p.stdout
    assert p.stdout.splitlines()[-2:] == ["scored 100000 samples in 10 tasks on 2 workers",
                                          "same as a local run: True"], p.stdout
