#!/usr/bin/env node
import { Command, InvalidArgumentError } from 'commander';
import { loadConfig } from '../config.js';
import { applyCommand } from './commands/apply.js';
import { demoCommand } from './commands/demo.js';
import { devCommand } from './commands/dev.js';
import { exportCommand } from './commands/export.js';
import { materializeCommand } from './commands/materialize.js';
import { scheduleMaterializeCommand } from './commands/schedule.js';
import { statusCommand } from './commands/status.js';
import { trainingSetBuildCommand, trainingSetShowCommand } from './commands/training-set.js';
import { workerCommand } from './commands/worker.js';
import { installCliLogging } from '../runtime/logging.js';

const positiveInt = (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
};

installCliLogging();
const config = loadConfig();
const program = new Command('kaizen')
  .description('Kaizen feature store and continuous training')
  .showHelpAfterError();

program
  .command('dev')
  .description('start embedded Postgres, the Temporal dev server and a worker')
  .action(() => devCommand(config));
program
  .command('worker')
  .description('run a Temporal worker')
  .option('--queues <queues>', 'comma-separated task queues', config.taskQueue)
  .action((o) =>
    workerCommand(
      config,
      String(o.queues)
        .split(',')
        .map((q) => q.trim())
        .filter(Boolean),
    ),
  );
program
  .command('apply <file>')
  .description('register entities and feature views defined in a file')
  .action(async (file) => {
    await applyCommand(config, file);
  });
program
  .command('materialize <view>')
  .description('materialize <view>[@vN] into the offline and online stores')
  .option('--start <iso>', 'range start (default: first source event)')
  .option('--end <iso>', 'range end, exclusive (default: after the last source event)')
  .option('--concurrency <n>', 'chunks in parallel', positiveInt)
  .action(async (view, o) => {
    await materializeCommand(config, view, o);
  });
program
  .command('export <view>')
  .description("write <view>[@vN]'s offline rows to an Arrow IPC file")
  .requiredOption('--out <file>', 'output file, e.g. flights.arrow (replaced atomically)')
  .option('--start <iso>', 'event_ts range start (default: all rows)')
  .option('--end <iso>', 'event_ts range end, exclusive (default: all rows)')
  .action(async (view, o) => {
    await exportCommand(config, view, o);
  });
program
  .command('schedule')
  .description('create Temporal Schedules')
  .command('materialize <view>')
  .description('materialize <view> incrementally on a schedule')
  .requiredOption('--every <interval>', 'interval such as 15m, 1h, 1d')
  .action(async (view, o) => {
    await scheduleMaterializeCommand(config, view, o.every);
  });
const trainingSet = program.command('training-set').description('point-in-time-correct training sets');
trainingSet
  .command('build')
  .description('join features as of each spine row into an Arrow file with a manifest')
  .requiredOption('--spine <file>', 'spine (.parquet, .arrow or .csv)')
  .requiredOption(
    '--entity <column=entity>',
    'spine column(s) holding an entity key, e.g. origin=airport or origin,destination=route (repeatable)',
    (v: string, all: string[]) => [...all, v],
    [] as string[],
  )
  .requiredOption('--ts <column>', 'spine timestamp column')
  .requiredOption('--features <refs>', 'comma-separated <view>[@vN]:<feature>')
  .option('--label <column>', 'label column (kept as is)')
  .requiredOption('--out <file.arrow>', 'output Arrow IPC file')
  .option('--split <spec>', 'time:<train_end>,<valid_end>')
  .option('--shards <n>', 'parallel shards', positiveInt)
  .action(async (o) => {
    await trainingSetBuildCommand(config, o);
  });
trainingSet
  .command('show <id>')
  .description('print a training set manifest')
  .action(async (id) => {
    await trainingSetShowCommand(config, id);
  });
program
  .command('status')
  .description('feature views, versions, materialized rows, quarantine')
  .action(() => statusCommand(config));
program
  .command('demo')
  .description('flagship demo: apply the flights example and materialize 3M real flights')
  .option('--keep', 'keep the stack running afterwards')
  .action((o) => demoCommand(config, o));

program.parseAsync().catch((error: unknown) => {
  console.error(`kaizen: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
