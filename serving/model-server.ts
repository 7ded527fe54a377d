/**
 * The models a server scores with: per model, its champion (and its challenger while shadow scoring
 * is on), loaded lazily on first use or at start-up (`preload`), sha256 verified. Alias changes
 * arrive by LISTEN/NOTIFY; the new version is loaded in the background and swapped in at once.
 * Requests hold the version they started with until they finish; a replaced version's session is
 * released when its last request is done. A failed load never fails requests: the old version stays.
 */
import type pg from 'pg';
import type { Db } from '../db/client.js';
import { pinnedFeatureColumns, type Column } from '../feature-store/index.js';
import {
  loadModelArtifact,
  readAliasedVersions,
  MODEL_ALIAS_CHANNEL,
  MODEL_ALIASES,
  type ModelAlias,
  type ModelVersion,
} from '../models/registry.js';
import { createOnnxScorer, type OnnxScorer } from '../models/onnx-scorer.js';
import type { ServingMetrics } from './metrics.js';
import { listenForNotifications } from './notifications.js';

/** One loaded model version, as requests see it: never changes while they use it. */
export interface ServedModel {
  readonly name: string;
  readonly version: number;
  /** Pinned features in model input order: `view@vN:feature`, or a spine (request) column's name. */
  readonly features: readonly string[];
  /** The input column of each pinned feature (`<view>__<feature>`), same order. */
  readonly inputColumns: readonly string[];
  /** Input columns the model reads as strings; the others are numeric. */
  readonly stringInputs: ReadonlySet<string>;
  score(columns: Record<string, Column>, rows: number): Promise<Float64Array>;
}

export interface LoadedAlias {
  model: string;
  alias: ModelAlias;
  version: number;
}

export interface ModelServer {
  /** Runs `use` on the model's champion, loading it on first use. */
  withChampion<T>(model: string, use: (served: ServedModel) => Promise<T>): Promise<T>;
  /** Runs `use` on the challenger when the model is loaded and shadow scoring is on; else null. */
  withShadowChallenger<T>(model: string, use: (served: ServedModel) => Promise<T>): Promise<T | null>;
  /** Listening for alias changes, and every preloaded model's champion is loaded. */
  ready(): boolean;
  /** The versions being served (also kept in metrics.loadedModel). */
  loaded(): LoadedAlias[];
  /** Stops listening and releases every session once its requests are done. */
  close(): Promise<void>;
}

export interface ModelServerOptions {
  db: Db;
  /** Connection settings of the alias listener, a dedicated connection outside the pool. */
  pool: pg.Pool;
  metrics: ServingMetrics;
  /** Models whose champion is loaded at start-up; ready() waits for them. */
  preload?: readonly string[];
  log?: (line: string) => void;
}

/** Why a model cannot score: `unknown` (no such model, or no champion) or `refused` (failed to load). */
export class ModelUnavailableError extends Error {
  constructor(
    readonly reason: 'unknown' | 'refused',
    message: string,
  ) {
    super(message);
    this.name = 'ModelUnavailableError';
  }
}

/** A model whose champion failed to load is retried on demand at most this often. */
const RETRY_FAILED_LOAD_MS = 1000;

/** A loaded version and the requests using it; its session is released once retired and idle. */
class LoadedVersion {
  private inFlight = 0;
  private retired = false;
  private releasing = false;
  private markReleased!: () => void;
  /** Settles once the session is released. */
  readonly released: Promise<void>;

  constructor(
    readonly served: ServedModel,
    private readonly scorer: OnnxScorer,
    private readonly log: (line: string) => void,
  ) {
    this.released = new Promise((resolve) => (this.markReleased = resolve));
  }

  /** Counted synchronously on entry, so a swap between lookup and use cannot release it early. */
  async run<T>(use: (served: ServedModel) => Promise<T>): Promise<T> {
    this.inFlight++;
    try {
      return await use(this.served);
    } finally {
      this.inFlight--;
      this.releaseIfIdle();
    }
  }

  retire(): Promise<void> {
    this.retired = true;
    this.releaseIfIdle();
    return this.released;
  }

  private releaseIfIdle() {
    if (!this.retired || this.inFlight > 0 || this.releasing) return;
    this.releasing = true;
    const { name, version } = this.served;
    void this.scorer
      .release()
      .then(
        () => this.log(`model server: released ${name}@v${version}`),
        (error: unknown) => this.log(`model server: releasing ${name}@v${version} failed: ${String(error)}`),
      )
      .then(this.markReleased);
  }
}

interface ModelState {
  name: string;
  slots: Record<ModelAlias, LoadedVersion | null>;
  /** Why the champion is not loaded (when it is not), and since when. */
  failure: { error: ModelUnavailableError; at: number } | null;
  /** Registry reads run one after another; at most one waits behind the running one. */
  queued: Promise<void> | null;
  chain: Promise<void>;
}

export function createModelServer(options: ModelServerOptions): ModelServer {
  const { db, metrics, log = (line: string) => console.error(line) } = options;
  const preload = new Set(options.preload ?? []);
  const states = new Map<string, ModelState>();
  let closed = false;

  function stateOf(name: string): ModelState {
    let state = states.get(name);
    if (!state) {
      state = {
        name,
        slots: { champion: null, challenger: null },
        failure: null,
        queued: null,
        chain: Promise.resolve(),
      };
      states.set(name, state);
    }
    return state;
  }

  /** Re-reads the model's aliases and loads what changed; never rejects. */
  function refresh(state: ModelState): Promise<void> {
    if (state.queued) return state.queued;
    const run = state.chain.then(() => {
      state.queued = null;
      return sync(state);
    });
    state.queued = run;
    state.chain = run;
    return run;
  }

  async function sync(state: ModelState): Promise<void> {
    if (closed) return;
    let wanted: Record<ModelAlias, ModelVersion | null>;
    try {
      wanted = await readAliases(state.name);
    } catch (error) {
      if (error instanceof ModelUnavailableError) {
        swap(state, 'champion', null);
        swap(state, 'challenger', null);
        state.failure = { error, at: Date.now() };
      } else {
        failChampion(state, `could not read the registry: ${message(error)}`);
      }
      return;
    }
    for (const alias of MODEL_ALIASES) {
      const row = wanted[alias];
      if (state.slots[alias]?.served.version === (row?.version ?? null)) continue;
      if (row === null) {
        swap(state, alias, null);
        continue;
      }
      try {
        const loaded = await load(row);
        if (closed) await loaded.retire();
        else swap(state, alias, loaded);
      } catch (error) {
        log(`model server: not serving ${state.name}@v${row.version} as ${alias}: ${message(error)}`);
        if (alias === 'champion') failChampion(state, message(error));
      }
    }
    if (wanted.champion === null)
      state.failure = {
        error: new ModelUnavailableError('unknown', `model "${state.name}" has no champion`),
        at: Date.now(),
      };
    else if (state.slots.champion) state.failure = null;
  }

  /** Only matters while no champion is loaded: requests then fail with this. */
  function failChampion(state: ModelState, why: string) {
    if (state.slots.champion) return;
    const error = new ModelUnavailableError('refused', `model "${state.name}" cannot be served: ${why}`);
    state.failure = { error, at: Date.now() };
  }

  /**
   * The versions to serve, in one query (a swap waits on it): the champion, and the challenger only
   * while shadow scoring is on.
   */
  async function readAliases(name: string): Promise<Record<ModelAlias, ModelVersion | null>> {
    const aliased = await readAliasedVersions(db, name);
    if (!aliased) throw new ModelUnavailableError('unknown', `unknown model "${name}"`);
    const champion = aliased.versions.champion ?? null;
    // Nothing to shadow without a champion (and a model without one holds no session at all).
    const challenger = aliased.shadowChallenger && champion ? (aliased.versions.challenger ?? null) : null;
    return { champion, challenger };
  }

  async function load(row: ModelVersion): Promise<LoadedVersion> {
    const { modelName: name, version } = row;
    const scorer = await createOnnxScorer(await loadModelArtifact(row), { threads: 1 });
    const features = row.features as string[];
    const inputColumns = pinnedFeatureColumns(features);
    // The graph must read exactly the pinned features: no input that serving would not supply.
    const pinned = new Set(inputColumns);
    if (scorer.inputNames.length !== pinned.size || scorer.inputNames.some((n) => !pinned.has(n))) {
      await scorer.release();
      throw new Error(
        `${name}@v${version}: ONNX inputs [${scorer.inputNames.join(', ')}] differ from its pinned features [${inputColumns.join(', ')}]`,
      );
    }
    const served: ServedModel = {
      name,
      version,
      features,
      inputColumns,
      stringInputs: scorer.stringInputs,
      score: (columns, rows) => scorer.score(columns, rows),
    };
    return new LoadedVersion(served, scorer, log);
  }

  /** Points an alias at another loaded version (or none); the replaced one drains, then is released. */
  function swap(state: ModelState, alias: ModelAlias, next: LoadedVersion | null) {
    const previous = state.slots[alias];
    if (previous === next) return;
    state.slots[alias] = next;
    if (next) {
      metrics.loadedModel.set({ model: state.name, alias }, next.served.version);
      log(`model server: ${state.name} ${alias} is v${next.served.version}`);
    } else {
      metrics.loadedModel.remove({ model: state.name, alias });
    }
    void previous?.retire();
  }

  function onAliasChange(payload: string | undefined) {
    let model: unknown;
    try {
      model = (JSON.parse(payload ?? '') as { model?: unknown }).model;
    } catch {
      return log(`model server: ignoring malformed alias notification ${JSON.stringify(payload)}`);
    }
    // Models never asked for are loaded when first used, from the registry as it is then.
    const state = typeof model === 'string' ? states.get(model) : undefined;
    if (state) void refresh(state);
  }

  const listener = listenForNotifications({
    pool: options.pool,
    channel: MODEL_ALIAS_CHANNEL,
    name: 'kaizen-model-server',
    onNotification: onAliasChange,
    // Changes made while not listening were missed: re-read every model served.
    onListening: () => {
      for (const state of states.values()) void refresh(state);
    },
    onLost: () => undefined,
    log,
  });
  for (const name of preload) void refresh(stateOf(name));

  return {
    async withChampion(name, use) {
      const state = stateOf(name);
      const recentFailure = state.failure && Date.now() - state.failure.at < RETRY_FAILED_LOAD_MS;
      if (!state.slots.champion && !recentFailure) await refresh(state);
      const champion = state.slots.champion;
      if (champion) return champion.run(use);
      const error =
        state.failure?.error ?? new ModelUnavailableError('unknown', `model "${name}" is not loaded`);
      // Bounded memory: unknown names asked for by clients are not remembered.
      if (error.reason === 'unknown' && !preload.has(name)) states.delete(name);
      throw error;
    },

    async withShadowChallenger(name, use) {
      const challenger = states.get(name)?.slots.challenger;
      return challenger ? challenger.run(use) : null;
    },

    ready() {
      return listener.listening() && [...preload].every((name) => states.get(name)?.slots.champion != null);
    },

    loaded() {
      return [...states.values()].flatMap((state) =>
        MODEL_ALIASES.flatMap((alias) => {
          const slot = state.slots[alias];
          return slot ? [{ model: state.name, alias, version: slot.served.version }] : [];
        }),
      );
    },

    async close() {
      closed = true;
      await listener.close();
      await Promise.all([...states.values()].map((state) => state.chain));
      const retiring = [...states.values()].flatMap((state) =>
        MODEL_ALIASES.map((alias) => {
          const slot = state.slots[alias];
          swap(state, alias, null);
          return slot?.released;
        }),
      );
      await Promise.all(retiring);
    },
  };
}

const message = (error: unknown) => (error instanceof Error ? error.message : String(error));
