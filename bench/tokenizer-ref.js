// Times the reference (npm @anush008/tokenizers: a Node binding of the Rust
// `tokenizers` crate) on the corpus the C bench wrote, one document at a
// time on one thread, and prints the same columns.
//   node tokenizer-ref.js SHARED_DIR CORPUS_JSONL
'use strict';
const fs = require('fs');
const { Tokenizer } = require('@anush008/tokenizers');
const [shared, corpusPath] = process.argv.slice(2);
const names = ['gpt2', 'phi-2', 'falcon', 'smollm-135m', 'llama', 'phi-3-mini',
  'bert-base-uncased'];
const docs = fs.readFileSync(corpusPath, 'utf8').split('\n').filter((l) => l)
  .map((l) => JSON.parse(l));
const bytes = docs.reduce((a, d) => a + Buffer.byteLength(d), 0);
(async () => {
  for (const name of names) {
    const file = `${shared}/data/tokenizers/${name}/tokenizer.json`;
    let bestLoad = Infinity; let t;
    for (let r = 0; r < 3; r++) {
      const t0 = process.hrtime.bigint();
      t = Tokenizer.fromFile(file);
      const dt = Number(process.hrtime.bigint() - t0);
      if (dt < bestLoad) bestLoad = dt;
    }
    let bestEnc = Infinity; let tokens = 0;
    for (let r = 0; r < 3; r++) {
      tokens = 0;
      const t0 = process.hrtime.bigint();
      for (const d of docs) {
        const e = await t.encode(d, null, { addSpecialTokens: false });
        tokens += e.getLength();
      }
      const dt = Number(process.hrtime.bigint() - t0);
      if (dt < bestEnc) bestEnc = dt;
    }
    console.log(`${name.padEnd(18)} ${(bestLoad / 1e6).toFixed(1).padStart(8)} ` +
      `${(bytes / 1048576 / (bestEnc / 1e9)).toFixed(1).padStart(9)} ` +
      `${(tokens / 1e6 / (bestEnc / 1e9)).toFixed(2).padStart(10)}M ${String(tokens).padStart(10)}`);
  }
})();
