/**
 * `npm run chaos`: the chaos harness at full size — the worker killed with SIGKILL `--kills` times
 * (default 20) and Postgres killed and restarted `--postgres-outages` times (default 2) while the
 * flights pipeline runs and a server answers beside it — then one JSON line: kills, outages, the
 * server's answers by status, both runs' seconds, the checksums compared and any mismatch (exit 1
 * when there is one, or the server answered anything but 200 or 503, or did not recover).
 */
import { parseArgs } from 'node:util';
import { runChaos } from './harness.js';

const { values } = parseArgs({
  options: {
    kills: { type: 'string', default: '20' },
    'postgres-outages': { type: 'string', default: '2' },
    seed: { type: 'string', default: '7' },
    origins: { type: 'string', default: 'SFO,OAK,SJC,LAX,ORD' },
    until: { type: 'string', default: '2001-02-15' },
  },
});

const report = await runChaos({
  kills: Number(values.kills),
  postgresOutages: Number(values['postgres-outages']),
  seed: Number(values.seed),
  origins: values.origins.split(','),
  untilMs: Date.parse(values.until),
  log: (line) => process.stderr.write(`${line}\n`),
});
console.log(
  JSON.stringify({
    chaos: true,
    kills: report.kills,
    postgres_outages: report.postgresOutages,
    serving: report.serving,
    seconds: report.seconds,
    compared: Object.keys(report.clean).length,
    equal: report.mismatches.length === 0,
    serving_only_200_or_503: Object.keys(report.serving.statuses).every((s) => s === '200' || s === '503'),
    mismatches: report.mismatches.map((key) => ({ key, clean: report.clean[key], chaos: report.chaos[key] })),
  }),
);
const servedWell =
  report.serving.recovered && Object.keys(report.serving.statuses).every((s) => s === '200' || s === '503');
process.exit(report.mismatches.length === 0 && servedWell ? 0 : 1);
