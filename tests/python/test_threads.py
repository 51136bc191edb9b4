"""Python threads sharing one model: every result bit-identical to the same
call made alone, and the GIL released while soma runs."""
import threading
import time

import numpy as np
import pytest

import soma

NET = """network deep {
  input x: f32[64]
  dense h1(x) { units = 256; weights = he(seed = 1); bias = 0.1; activation = relu }
  dense h2(h1) { units = 256; weights = he(seed = 2); activation = gelu }
  dense y(h2) { units = 10; weights = glorot(seed = 3); activation = softmax }
  output y
}
"""


@pytest.mark.parametrize("engine", ["jit", "vec", "interp"])
def test_concurrent_runs_match_serial_bit_for_bit(rng, engine):
    m = soma.compile(NET, engine=engine, threads=2)
    calls = [rng.uniform(-3, 3, size=(int(rng.integers(0, 40)), 64)).astype(np.float32)
             for _ in range(8 * 12)]
    serial = [m.run(x=x)["y"] for x in calls]
    results = [None] * len(calls)
    errors = []
    start = threading.Barrier(8)

    def worker(t):
        try:
            start.wait()
            for i in range(t, len(calls), 8):
                results[i] = m.run(x=calls[i])["y"]
        except Exception as e:  # reported below: a thread's exception is otherwise lost
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for i, (got, want) in enumerate(zip(results, serial)):
        assert got.tobytes() == want.tobytes(), f"call {i} (batch {len(calls[i])})"


def test_the_gil_is_released_during_run(rng):
    # The interpreter on a large batch: one run takes a good fraction of a
    # second. While it runs in a thread, the main thread must keep running
    # Python code; were the GIL held, it would stall for the whole run.
    m = soma.compile(NET, engine="interp")
    x = rng.uniform(-1, 1, size=(2000, 64)).astype(np.float32)
    t0 = time.perf_counter()
    m.run(x=x)
    alone = time.perf_counter() - t0
    done = threading.Event()
    worker = threading.Thread(target=lambda: (m.run(x=x), done.set()))
    ticks = []
    worker.start()
    while not done.is_set():
        ticks.append(time.perf_counter())
        time.sleep(0.001)
    worker.join()
    gaps = np.diff(ticks)
    assert len(ticks) > 10, f"the main thread ran {len(ticks)} times in a {alone:.3f} s run"
    assert gaps.max() < max(alone / 2, 0.05), f"the main thread stalled {gaps.max():.3f} s"
