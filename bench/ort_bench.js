// ONNX Runtime's side of `bench/run models` (bench/models.py), run by node
// with the onnxruntime-node package bench/run installs (its CPU execution
// provider). Same protocol as bench/model_bench.cpp:
//
//   node ort_bench.js MODEL.onnx THREADS INPUT.f32 OUT_PREFIX MIN_SECONDS SAMPLE_SHAPE BATCH...
//
// SAMPLE_SHAPE is the input's per-sample shape, comma-separated. The session
// has every graph optimisation on ('all'), THREADS intra-op threads, one
// inter-op thread, sequential execution. For each BATCH: one run whose
// output goes to OUT_PREFIX-b<BATCH>.f32, then timed runs (at least 3 and
// at least MIN_SECONDS), one JSON line to stdout.
'use strict';
const fs = require('fs');
const path = require('path');
const ort = require(path.join(process.env.SOMA_ORT_DIR || path.join(__dirname, '.ort'),
                              'node_modules', 'onnxruntime-node'));

async function main() {
  const [model, threadsArg, input, prefix, minArg, shapeArg, ...batchArgs] = process.argv.slice(2);
  if (batchArgs.length === 0) {
    console.error('usage: node ort_bench.js MODEL.onnx THREADS INPUT.f32 OUT_PREFIX MIN_SECONDS ' +
                  'SAMPLE_SHAPE BATCH...');
    process.exit(2);
  }
  const threads = Number(threadsArg), minSeconds = Number(minArg);
  const sample = shapeArg.split(',').map(Number);
  const raw = fs.readFileSync(input);
  const x = new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
  const t0 = process.hrtime.bigint();
  const session = await ort.InferenceSession.create(model, {
    graphOptimizationLevel: 'all',
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
  });
  const create = Number(process.hrtime.bigint() - t0) / 1e9;
  const perSample = sample.reduce((a, b) => a * b, 1);
  for (const b of batchArgs.map(Number)) {
    const feeds = {};
    feeds[session.inputNames[0]] =
        new ort.Tensor('float32', x.subarray(0, b * perSample), [b, ...sample]);
    let out = await session.run(feeds);
    const y = out[session.outputNames[0]].data;
    const outPath = `${prefix}-b${b}.f32`;
    fs.writeFileSync(outPath, Buffer.from(y.buffer, y.byteOffset, y.byteLength));
    const times = [];
    const start = process.hrtime.bigint();
    while (times.length < 3 || Number(process.hrtime.bigint() - start) / 1e9 < minSeconds) {
      const s = process.hrtime.bigint();
      out = await session.run(feeds);
      times.push(Number(process.hrtime.bigint() - s) / 1e9);
    }
    console.log(JSON.stringify({impl: 'ort', engine: `onnxruntime ${ort.env.versions.common} CPU`,
                                threads, compile_s: create, ready_s: create, batch: b, output: outPath,
                                times}));
  }
}

main().catch((e) => {
  console.error(`ort_bench.js: ${e.message || e}`);
  process.exit(1);
});
