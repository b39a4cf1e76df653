// bench/sentiment_vader.mjs - the reference for bench_sentiment: the npm
// package vader-sentiment (installed in lexicon/ by scripts/install-deps.sh)
// scoring the same labelled sentences.
//
//   node bench/sentiment_vader.mjs [--reps N] FILE.tsv...
//
// Each FILE has lines `label<TAB>text` (1 positive, 0 negative); lines whose
// label is not 0 or 1 (a header, an unlabelled row) are skipped, as
// bench_sentiment skips them. The binary rule is the one
// bench_sentiment applies to its own scores: compound >= 0 is positive.
// Prints one line per file, `file=... n=... accuracy=...`, then
// `vader_accuracy=... vader_msgs_per_s=... n=...`: accuracy pooled over all
// files, speed the median over N timed passes over all sentences (after one
// warm-up pass).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, '..', 'lexicon', 'package.json'));
let vader;
try {
  vader = require('vader-sentiment');
} catch (e) {
  console.error('sentiment_vader: vader-sentiment is not installed in lexicon/ ' +
    '(run scripts/install-deps.sh): ' + e.message);
  process.exit(2);
}
const score = (t) => vader.SentimentIntensityAnalyzer.polarity_scores(t).compound;

let reps = 5;
const files = [];
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--reps') reps = Math.max(1, parseInt(args[++i], 10) || 1);
  else files.push(args[i]);
}
if (!files.length) {
  console.error('usage: node bench/sentiment_vader.mjs [--reps N] FILE.tsv...');
  process.exit(2);
}

const all = [];
let right = 0;
for (const f of files) {
  let text;
  try {
    text = readFileSync(f, 'utf8');
  } catch (e) {
    console.error(`sentiment_vader: ${f}: ${e.message}`);
    process.exit(2);
  }
  let n = 0, ok = 0;
  for (const line of text.split('\n')) {
    const tab = line.indexOf('\t');
    if (tab < 0) continue;
    const label = line.slice(0, tab).trim();
    if (label !== '0' && label !== '1') continue; // header, or an unlabelled row
    const s = line.slice(tab + 1).replace(/\r$/, '');
    all.push(s);
    n++;
    if ((score(s) >= 0 ? 1 : 0) === Number(label)) ok++;
  }
  right += ok;
  console.log(`file=${f} n=${n} accuracy=${(n ? ok / n : 0).toFixed(4)}`);
}

let sink = 0;
for (const s of all) sink += score(s); // warm-up
const rates = [];
for (let r = 0; r < reps; r++) {
  const t0 = process.hrtime.bigint();
  for (const s of all) sink += score(s);
  const ns = Number(process.hrtime.bigint() - t0);
  rates.push(all.length / (ns / 1e9));
}
rates.sort((a, b) => a - b);
const median = rates[Math.floor(rates.length / 2)];
console.log(`vader_accuracy=${(all.length ? right / all.length : 0).toFixed(4)} ` +
  `vader_msgs_per_s=${Math.round(median)} n=${all.length} checksum=${sink.toFixed(2)}`);
