// Runs a TF.js graph model (export.py --include tfjs) on one float32 NHWC image in Node.js, for tests/test_tfjs.py:
//   node tests/tfjs_run.js MODEL_DIR INPUT.bin HEIGHT WIDTH OUTPUT.bin
// needs @tensorflow/tfjs on NODE_PATH (npm install --prefix .ci/node @tensorflow/tfjs@4); prints the output's shape.
const tf = require('@tensorflow/tfjs');
const fs = require('fs');
const path = require('path');

async function main() {
  const [dir, input, height, width, output] = process.argv.slice(2);
  const json = JSON.parse(fs.readFileSync(path.join(dir, 'model.json')));
  const shards = json.weightsManifest.flatMap(g => g.paths.map(p => fs.readFileSync(path.join(dir, p))));
  const weights = Buffer.concat(shards);
  const model = await tf.loadGraphModel({
    load: async () => ({
      modelTopology: json.modelTopology,
      format: json.format,
      weightSpecs: json.weightsManifest.flatMap(g => g.weights),
      weightData: weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength),
      userDefinedMetadata: json.userDefinedMetadata,
    }),
  });
  const raw = fs.readFileSync(input);
  const x = tf.tensor(new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4), [1, +height, +width, 3]);
  const y = model.execute(x);
  fs.writeFileSync(output, Buffer.from((await y.data()).buffer));
  console.log(JSON.stringify(y.shape));
}

main().catch(e => { console.error(e.message); process.exit(1); });
