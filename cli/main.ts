#!/usr/bin/env node
import { Command, InvalidArgumentError } from 'commander';
import { loadConfig, splitList } from '../config.js';

/**
 * Each command's module, imported when the command runs: a command loads only the modules it uses, not
 * those of every other command (importing all of them took seconds before any command started).
 */
const commands = {
  dev: () => import('./commands/dev.js'),
  worker: () => import('./commands/worker.js'),
  apply: () => import('./commands/apply.js'),
  materialize: () => import('./commands/materialize.js'),
  export: () => import('./commands/export.js'),
  schedule: () => import('./commands/schedule.js'),
  monitor: () => import('./commands/monitor.js'),
  trainingSet: () => import('./commands/training-set.js'),
  train: () => import('./commands/train.js'),
  score: () => import('./commands/score.js'),
  models: () => import('./commands/models.js'),
  serve: () => import('./commands/serve.js'),
  keys: () => import('./commands/keys.js'),
  status: () => import('./commands/status.js'),
  erase: () => import('./commands/erase.js'),
  demo: () => import('./commands/demo.js'),
};

const positiveInt = (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
};

/** A TCP port; 0 asks the OS for a free one (the URL printed names it). */
const portNumber = (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('expected a port, 0-65535');
  return n;
};

/** Collects every use of a repeatable option. */
const repeatable = (value: string, all: string[]) => [...all, value];
const REQUEST_OPTION_HELP =
  'spine column feeding a request field of on-demand features, e.g. departure=date (repeatable)';
const config = loadConfig();
const program = new Command('kaizen')
  .description('Kaizen feature store and continuous training')
  .showHelpAfterError();

program
  .command('dev')
  .description('start embedded Postgres, the Temporal dev server and a worker')
  .action(async () => (await commands.dev()).devCommand(config));
program
  .command('worker')
  .description('run a Temporal worker')
  .option('--queues <queues>', 'comma-separated task queues', config.taskQueue)
  .action(async (o) => (await commands.worker()).workerCommand(config, splitList(String(o.queues))));
program
  .command('apply <file>')
  .description('register entities and feature views defined in a file')
  .action(async (file) => {
    await (await commands.apply()).applyCommand(config, file);
  });
program
  .command('materialize <view>')
  .description('materialize <view>[@vN] into the offline and online stores')
  .option('--start <iso>', 'range start (default: first source event)')
  .option('--end <iso>', 'range end, exclusive (default: after the last source event)')
  .option('--concurrency <n>', 'chunks in parallel', positiveInt)
  .action(async (view, o) => {
    await (await commands.materialize()).materializeCommand(config, view, o);
  });
program
  .command('export <view>')
  .description("write <view>[@vN]'s offline rows to an Arrow IPC file")
  .requiredOption('--out <file>', 'output file, e.g. flights.arrow (replaced atomically)')
  .option('--start <iso>', 'event_ts range start (default: all rows)')
  .option('--end <iso>', 'event_ts range end, exclusive (default: all rows)')
  .action(async (view, o) => {
    await (await commands.export()).exportCommand(config, view, o);
  });
const scheduleCmd = program.command('schedule').description('create Temporal Schedules');
scheduleCmd
  .command('materialize <view>')
  .description('materialize <view> incrementally on a schedule')
  .requiredOption('--every <interval>', 'interval such as 15m, 1h, 1d')
  .action(async (view, o) => {
    await (await commands.schedule()).scheduleMaterializeCommand(config, view, o.every);
  });
scheduleCmd
  .command('train <model>')
  .description(
    'retrain <model> with its registered pipeline on a schedule, each run as of its scheduled time',
  )
  .requiredOption('--every <interval>', 'interval such as 1d, 7d')
  .action(async (model, o) => {
    await (await commands.schedule()).scheduleTrainCommand(config, model, o.every);
  });
scheduleCmd
  .command('purge')
  .description(
    'retention: purge view rows and prediction log entries older than their retention, on a schedule',
  )
  .requiredOption('--every <interval>', 'interval such as 1d')
  .option(
    '--view <view=duration>',
    "keep this much of a view's history, e.g. airport_departures=180d (repeatable)",
    repeatable,
    [] as string[],
  )
  .option('--predictions <duration>', 'keep this much of the prediction log, e.g. 90d')
  .action(async (o) => {
    await (await commands.schedule()).schedulePurgeCommand(config, o);
  });
for (const action of ['pause', 'unpause', 'trigger', 'delete'] as const)
  scheduleCmd
    .command(`${action} <schedule-id>`)
    .description(
      {
        pause: 'pause a schedule',
        unpause: 'resume a paused schedule',
        trigger: 'start a run now',
        delete: 'delete a schedule',
      }[action] + ' (IDs: kaizen schedule list)',
    )
    .action(async (id) => {
      await (await commands.schedule()).scheduleControlCommand(config, action, id);
    });
scheduleCmd
  .command('list')
  .description('schedules: what they start, how often, paused or not, the next run')
  .action(async () => {
    await (await commands.schedule()).scheduleListCommand(config);
  });
scheduleCmd
  .command('monitor <model>')
  .description(
    'monitor <model> on a schedule: each run monitors the last whole window before its scheduled time',
  )
  .requiredOption('--every <interval>', 'interval such as 1h, 1d')
  .option('--window <duration>', "window length (default: the model's policy window, else --every)")
  .action(async (model, o) => {
    await (await commands.monitor()).scheduleMonitorCommand(config, model, o);
  });
const trainingSet = program.command('training-set').description('point-in-time-correct training sets');
trainingSet
  .command('build')
  .description('join features as of each spine row into an Arrow file with a manifest')
  .requiredOption('--spine <file>', 'spine (.parquet, .arrow or .csv)')
  .requiredOption(
    '--entity <column=entity>',
    'spine column(s) holding an entity key, e.g. origin=airport or origin,destination=route (repeatable)',
    repeatable,
    [] as string[],
  )
  .requiredOption('--ts <column>', 'spine timestamp column')
  .requiredOption('--features <refs>', 'comma-separated <view>[@vN]:<feature>')
  .option('--label <column>', 'label column (kept as is)')
  .requiredOption('--out <file.arrow>', 'output Arrow IPC file')
  .option('--split <spec>', 'time:<train_end>,<valid_end>')
  .option('--shards <n>', 'parallel shards', positiveInt)
  .option('--request <field=column>', REQUEST_OPTION_HELP, repeatable, [] as string[])
  .action(async (o) => {
    await (await commands.trainingSet()).trainingSetBuildCommand(config, o);
  });
trainingSet
  .command('show <id>')
  .description('print a training set manifest')
  .action(async (id) => {
    await (await commands.trainingSet()).trainingSetShowCommand(config, id);
  });
program
  .command('train <model>')
  .description(
    "continuous training: training set → train → evaluate against the champion → gates → (approval) → promote; without --spine, the model's registered pipeline",
  )
  .option('--as-of <iso>', 'the registered pipeline: data up to this time (default now)')
  .option('--spine <file>', 'spine (.parquet, .arrow or .csv): a run from a spine file instead')
  .option(
    '--entity <column=entity>',
    'spine column(s) holding an entity key, e.g. origin=airport (repeatable)',
    repeatable,
    [] as string[],
  )
  .option('--ts <column>', 'spine timestamp column')
  .option('--label <column>', 'binary label column')
  .option('--features <refs>', 'comma-separated <view>[@vN]:<feature>')
  .option('--split <spec>', 'time:<train_end>,<valid_end> (required: the test split is the holdout)')
  .option('--request <field=column>', REQUEST_OPTION_HELP, repeatable, [] as string[])
  .option('--out <file.arrow>', 'training set output file')
  .option('--trainer <name>', 'builtin (default) or torch')
  .option('--kind <kind>', 'builtin model: mlp (default) or logistic')
  .option('--params <json>', 'trainer parameters as a JSON object')
  .option('--gpu', 'run the torch trainer on the kaizen-gpu task queue')
  .option('--gates <json>', 'promotion gates, e.g. {"maxAucDrop":0.01,"minAuc":0.6}')
  .option('--slices <columns>', 'comma-separated string columns for per-slice metrics and fairness gates')
  .option('--approval-timeout <duration>', "wait this long for `kaizen models approve`, e.g. '1 day'")
  .option('--no-wait', 'print the workflow ID and return without waiting for the result')
  .action(async (model, o) => {
    await (await commands.train()).trainCommand(config, model, o);
  });
program
  .command('score <model>')
  .description(
    "batch scoring: <model>[@<version>|@champion|@challenger] on a spine's point-in-time features (champion by default)",
  )
  .requiredOption('--spine <file>', 'spine (.parquet, .arrow or .csv)')
  .requiredOption('--out <file.arrow>', 'output: the spine columns, score, decision (and prediction_id)')
  .option('--log', 'also write the scores to the prediction log as batch predictions')
  .option('--shards <n>', 'parallel shards', positiveInt)
  .option(
    '--entity <column=entity>',
    "spine column(s) of an entity key (repeatable; default: the model's training spine mapping)",
    repeatable,
    [] as string[],
  )
  .option('--ts <column>', "spine timestamp column: features as of it (default: the training spine's)")
  .option('--request <field=column>', REQUEST_OPTION_HELP, repeatable, [] as string[])
  .action(async (model, o) => {
    await (await commands.score()).scoreCommand(config, model, o);
  });
program
  .command('monitor <model>')
  .description(
    "monitor <model>'s logged predictions per window: data quality, drift, realized and estimated performance, alerts",
  )
  .option('--window <duration>', "window length, e.g. 1h, 1d (default: the model's policy window, else 1d)")
  .option(
    '--since <iso>',
    'first window: the one holding this time (default: the window of the latest prediction)',
  )
  .option(
    '--until <iso>',
    'last window: the one holding the time just before this (default: after the latest prediction)',
  )
  .option('--as-of <iso>', 'count labels known by this time (default: now)')
  .action(async (model, o) => {
    await (await commands.monitor()).monitorCommand(config, model, o);
  });
program
  .command('erase')
  .description(
    'erase an entity key everywhere (online and offline stores, training sets, prediction log, labels), audited',
  )
  .requiredOption('--entity <entity=key>', 'the key, e.g. airport=ORD (several parts: route=["ORD","LAX"])')
  .requiredOption('--reason <text>', 'why (recorded with the request)')
  .action(async (o) => {
    await (await commands.erase()).eraseCommand(config, o);
  });
const modelsCmd = program.command('models').description('the model registry: versions, aliases, audit log');
modelsCmd
  .command('list')
  .description('each model: latest version, champion, challenger')
  .action(async () => {
    await (await commands.models()).modelsListCommand(config);
  });
modelsCmd
  .command('show <model>')
  .description("a model's versions, aliases and latest audit entries")
  .action(async (model) => {
    await (await commands.models()).modelsShowCommand(config, model);
  });
modelsCmd
  .command('promote <model> <version>')
  .description('point the champion at a version (audited)')
  .option('--reason <text>', 'why (recorded in the audit log)')
  .action(async (model, version, o) => {
    await (await commands.models()).modelsPromoteCommand(config, model, version, o);
  });
modelsCmd
  .command('rollback <model>')
  .description('point the champion back at the version it replaced last (audited)')
  .option('--reason <text>', 'why (recorded in the audit log)')
  .action(async (model, o) => {
    await (await commands.models()).modelsRollbackCommand(config, model, o);
  });
modelsCmd
  .command('shadow <model> <state>')
  .description('on|off: servers also score the challenger off the request path and log both scores')
  .option('--reason <text>', 'why (recorded in the audit log)')
  .action(async (model, state, o) => {
    await (await commands.models()).modelsShadowCommand(config, model, state, o);
  });
modelsCmd
  .command('approve <workflowId>')
  .description('approve (or --reject) a training pipeline waiting for approval')
  .option('--reject', 'decline the promotion')
  .option('--reason <text>', 'why (recorded with the decision)')
  .action(async (workflowId, o) => {
    await (await commands.models()).modelsApproveCommand(config, workflowId, o);
  });
program
  .command('serve')
  .description('serve online features and predictions over tRPC (/trpc, /metrics, /healthz, /readyz)')
  .option(
    '--port <port>',
    `listen port (default ${config.serving.port}, KAIZEN_SERVE_PORT; 0: any free port)`,
    portNumber,
  )
  .option('--host <host>', `listen address (default ${config.serving.host}, KAIZEN_SERVE_HOST)`)
  .option(
    '--preload <models>',
    'comma-separated models whose champion must be loaded before /readyz is ready',
  )
  .option(
    '--tls-cert <file>',
    'serve HTTPS with this PEM certificate (chain), with --tls-key (KAIZEN_TLS_CERT)',
  )
  .option('--tls-key <file>', "the certificate's PEM private key (KAIZEN_TLS_KEY)")
  .action(async (o) => {
    await (await commands.serve()).serveCommand(config, o);
  });
const keysCmd = program.command('keys').description('API keys for serving (stored hashed)');
keysCmd
  .command('create')
  .description('create a key; prints its secret once (only a hash is stored)')
  .requiredOption('--name <name>', 'who or what uses it, e.g. checkout-service')
  .requiredOption('--scopes <scopes>', 'comma-separated: features:read, predict, admin')
  .action(async (o) => {
    await (await commands.keys()).keysCreateCommand(config, o);
  });
keysCmd
  .command('revoke <key>')
  .description('revoke a key by id (or kz_<id>), or every active key with that name')
  .action(async (key) => {
    await (await commands.keys()).keysRevokeCommand(config, key);
  });
keysCmd
  .command('list')
  .description('keys with their scopes and status (never secrets)')
  .action(async () => {
    await (await commands.keys()).keysListCommand(config);
  });
program
  .command('status')
  .description('feature views, versions, materialized rows, quarantine')
  .action(async () => {
    await (await commands.status()).statusCommand(config);
  });
program
  .command('demo')
  .description('flagship demo: apply the flights example and materialize 3M real flights')
  .option('--keep', 'keep the stack running afterwards')
  .action(async (o) => (await commands.demo()).demoCommand(config, o));

program.parseAsync().catch((error: unknown) => {
  console.error(`kaizen: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
