/**
 * `npm run chaos`: the chaos harness at full size — the worker killed with SIGKILL `--kills` times
 * (default 20) while the flights pipeline runs — then one JSON line: kills, both runs' seconds, the
 * checksums compared and any mismatch (exit 1 when there is one).
 */
import { parseArgs } from 'node:util';
import { runChaos } from './harness.js';

const { values } = parseArgs({
  options: {
    kills: { type: 'string', default: '20' },
    seed: { type: 'string', default: '7' },
    origins: { type: 'string', default: 'SFO,OAK,SJC,LAX,ORD' },
    until: { type: 'string', default: '2001-02-15' },
  },
});

const report = await runChaos({
  kills: Number(values.kills),
  seed: Number(values.seed),
  origins: values.origins.split(','),
  untilMs: Date.parse(values.until),
  log: (line) => process.stderr.write(`${line}\n`),
});
console.log(
  JSON.stringify({
    chaos: true,
    kills: report.kills,
    seconds: report.seconds,
    compared: Object.keys(report.clean).length,
    equal: report.mismatches.length === 0,
    mismatches: report.mismatches.map((key) => ({ key, clean: report.clean[key], chaos: report.chaos[key] })),
  }),
);
process.exit(report.mismatches.length === 0 ? 0 : 1);
