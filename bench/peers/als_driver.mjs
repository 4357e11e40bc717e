// Benchmark peer driver: the npm package aws-local-stepfunctions, through its JavaScript API.
//
// In: the peer's install folder (bench/.peers/node) and a job file (JSON: definition, input,
// runs, echo_states). Out: one JSON object on stdout with the per-run execution times measured
// in-process (excluding Node start and the StateMachine constructor, which validates the
// definition), the last run's status/output/error, and the package version.
// Task states named in echo_states run a local handler that returns its input at once.
// Usage: node als_driver.mjs NODE_DIR JOB.json
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

// aws-local-stepfunctions 3 calls Promise.withResolvers (Node >= 22) in Task states; give older
// Nodes the standard semantics so the peer runs as its authors intended.
Promise.withResolvers ??= function withResolvers() {
  let resolve, reject;
  const promise = new this((res, rej) => { resolve = res; reject = rej; });
  return { promise, resolve, reject };
};

const [nodeDir, jobPath] = process.argv.slice(2);
const require = createRequire(join(nodeDir, 'package.json'));
const { StateMachine } = require('aws-local-stepfunctions');
const pkg = JSON.parse(readFileSync(join(nodeDir, 'node_modules/aws-local-stepfunctions/package.json'), 'utf8'));

const job = JSON.parse(readFileSync(jobPath, 'utf8'));
const result = { engine: 'aws-local-stepfunctions', version: pkg.version, times: [] };

const echo = async (input) => input;
const handlers = Object.fromEntries((job.echo_states || []).map((name) => [name, echo]));
const options = { overrides: { taskResourceLocalHandlers: handlers } };

let machine;
const t0 = process.hrtime.bigint();
try {
  machine = new StateMachine(job.definition, { validationOptions: { checkArn: false } });
} catch (err) {
  Object.assign(result, { status: 'CREATE_FAILED', error: err.name, cause: String(err.message).slice(0, 500) });
}
result.setup = Number(process.hrtime.bigint() - t0) / 1e9;

if (machine) {
  for (let i = 0; i < (job.warmup || 0); i++) {
    try { await machine.run(job.input, options).result; } catch { break; }
  }
  const budgetEnd = performance.now() + 1000 * (job.budget ?? 1e9);
  for (let i = 0; i < job.runs; i++) {
    if (i > 0 && performance.now() > budgetEnd) break; // at least one run, more within budget
    const start = process.hrtime.bigint();
    try {
      const output = await machine.run(job.input, options).result;
      result.times.push(Number(process.hrtime.bigint() - start) / 1e9);
      Object.assign(result, { status: 'SUCCEEDED', output });
    } catch (err) {
      result.times.push(Number(process.hrtime.bigint() - start) / 1e9);
      Object.assign(result, { status: 'FAILED', error: err.name, cause: String(err.message).slice(0, 500) });
      break;
    }
  }
}
process.stdout.write(JSON.stringify(result) + '\n');
