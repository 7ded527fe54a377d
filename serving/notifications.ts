/**
 * A Postgres LISTEN that stays up: its own connection (LISTEN must stay on one session, so not a pool
 * client), checked by a heartbeat and reconnected with exponential backoff when lost. Callers learn
 * when notifications may have been missed (`onLost`) and when they arrive again (`onListening`):
 * whatever they derived from notifications must be treated as stale in between.
 */
import pg from 'pg';

export interface ListenerOptions {
  /** Connection settings come from the pool's. */
  pool: pg.Pool;
  channel: string;
  /** Shown in pg_stat_activity.application_name and in log lines. */
  name: string;
  onNotification(payload: string | undefined): void;
  /** LISTEN is in effect; notifications sent before this may have been missed. */
  onListening(): void;
  /** The connection is gone: notifications are missed until the next onListening. */
  onLost(): void;
  log: (line: string) => void;
  /**
   * A `SELECT 1` on the listening connection this often; no answer within twice that counts as a
   * lost connection. This bounds how long a connection that died silently (no FIN, no error) goes
   * unnoticed, and with it how long callers may serve state derived from missed notifications.
   */
  heartbeatMs?: number;
}

export interface Listener {
  listening(): boolean;
  close(): Promise<void>;
}

const BACKOFF_MS = { first: 100, max: 5000 };
const DEFAULT_HEARTBEAT_MS = 1000;

export function listenForNotifications(options: ListenerOptions): Listener {
  const { channel, name, log } = options;
  let client: pg.Client | null = null;
  let listening = false;
  let attempts = 0;
  let reconnectTimer: NodeJS.Timeout | null = null;
  let heartbeatTimer: NodeJS.Timeout | null = null;
  let closed = false;
  const heartbeatMs = options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;

  /** One heartbeat in flight at a time; a reply later than 2 × heartbeatMs means the link is gone. */
  function heartbeat(current: pg.Client) {
    heartbeatTimer = null;
    if (current !== client) return;
    const overdue = setTimeout(() => lost(current, new Error('heartbeat unanswered')), 2 * heartbeatMs);
    current.query('SELECT 1').then(
      () => {
        clearTimeout(overdue);
        if (current === client) heartbeatTimer = setTimeout(() => heartbeat(current), heartbeatMs);
      },
      (error: unknown) => {
        clearTimeout(overdue);
        lost(current, error);
      },
    );
  }

  function connect() {
    reconnectTimer = null;
    if (closed) return;
    // A connection that died silently is noticed by the heartbeat; one that cannot be opened, by the timeout.
    let next: pg.Client;
    try {
      next = new pg.Client({
        ...options.pool.options,
        application_name: name,
        connectionTimeoutMillis: 5000,
      });
    } catch (error) {
      // pg reads DATABASE_URL's TLS files (sslrootcert, sslcert, sslkey) for each new client: one it
      // cannot read now is retried like a failed connection, not thrown out of a timer (a crash).
      return reconnectLater(error);
    }
    client = next;
    next.on('notification', (message) => {
      if (next === client && message.channel === channel) options.onNotification(message.payload);
    });
    next.on('error', (error) => lost(next, error));
    next.on('end', () => lost(next, new Error('connection ended')));
    next
      .connect()
      .then(() => next.query(`LISTEN ${pg.escapeIdentifier(channel)}`))
      .then(() => {
        if (next !== client) return;
        if (attempts > 0) log(`${name}: listening on ${channel} again`);
        listening = true;
        attempts = 0;
        options.onListening();
        heartbeatTimer = setTimeout(() => heartbeat(next), heartbeatMs);
      })
      .catch((error: unknown) => lost(next, error));
  }

  function lost(lostClient: pg.Client, error: unknown) {
    if (lostClient !== client || closed) return;
    client = null;
    if (heartbeatTimer) clearTimeout(heartbeatTimer);
    heartbeatTimer = null;
    const wasListening = listening;
    listening = false;
    void lostClient.end().catch(() => undefined);
    if (wasListening) options.onLost();
    reconnectLater(error);
  }

  function reconnectLater(error: unknown) {
    const delay = Math.min(BACKOFF_MS.first * 2 ** attempts++, BACKOFF_MS.max);
    const why = error instanceof Error ? error.message : String(error);
    log(`${name}: listener on ${channel} lost (${why}); reconnecting in ${delay} ms`);
    reconnectTimer = setTimeout(connect, delay);
  }

  connect();
  return {
    listening: () => listening,
    async close() {
      closed = true;
      if (reconnectTimer) clearTimeout(reconnectTimer);
      if (heartbeatTimer) clearTimeout(heartbeatTimer);
      const current = client;
      client = null;
      listening = false;
      await current?.end().catch(() => undefined);
    },
  };
}
