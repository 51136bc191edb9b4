# Checks the JSON that `soma bench --json` printed (bench.test).
import json
import sys

with open(sys.argv[1]) as f:
    r = json.loads(f.read())
expected = {"file", "batch", "threads", "engine", "timed_engine", "seed", "compile_ms",
            "first_answer_ms", "jit_ready_ms", "runs", "timed_s", "latency_ms",
            "throughput_samples_per_s"}
if sys.argv[2:] == ["profile"]:
    # soma bench --profile --engine=vec: one entry per step, in order, each
    # within the timed runs' total.
    assert set(r) == expected | {"profile"}, sorted(set(r) ^ (expected | {"profile"}))
    steps = r.pop("profile")
    assert [(s["step"], s["family"]) for s in steps] == [("h", "vec.dense"), ("y", "vec.dense")], steps
    assert all(0 <= s["ms_per_run"] for s in steps), steps
    assert sum(s["ms_per_run"] for s in steps) * r["runs"] <= r["timed_s"] * 1e3, (steps, r)
    print("bench profile json ok")
    sys.exit(0)
assert set(r) == expected, sorted(set(r) ^ expected)
assert r["batch"] == 4 and r["seed"] == 7 and r["engine"] == "jit" and r["timed_engine"] == "jit"
assert r["jit_ready_ms"] is None
assert 0 < r["compile_ms"] <= r["first_answer_ms"], r
assert r["runs"] >= 10, r
lat = r["latency_ms"]
assert 0 < lat["p50"] <= lat["p90"] <= lat["p99"], lat
assert abs(r["throughput_samples_per_s"] - 4 * r["runs"] / r["timed_s"]) <= 1e-3 * r["throughput_samples_per_s"], r
print("bench json ok")
