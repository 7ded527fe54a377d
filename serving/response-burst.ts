/**
 * Writes the responses finished during one event-loop turn together, at its end (setImmediate),
 * instead of one by one between requests. A client woken by the first of them then reads the rest
 * without being woken again: on a VM a cross-CPU wakeup costs the writing process tens of µs of
 * kernel time per response, more than a cached `features.get` itself (see bench/README.md). The
 * delay a response takes is the rest of that turn's work.
 */
import type http from 'node:http';

interface PendingResponse {
  res: http.ServerResponse;
  status: number;
  headers: http.OutgoingHttpHeaders;
  body: string;
}

export function createResponseBurst(onError: (error: unknown) => void) {
  let pending: PendingResponse[] = [];
  const flush = () => {
    const burst = pending;
    pending = [];
    for (const { res, status, headers, body } of burst) {
      try {
        res.writeHead(status, headers);
        res.end(body);
      } catch (error) {
        onError(error);
        res.destroy();
      }
    }
  };
  /** Sends `body` with this turn's other responses. */
  return (res: http.ServerResponse, status: number, headers: http.OutgoingHttpHeaders, body: string) => {
    if (pending.push({ res, status, headers, body }) === 1) setImmediate(flush);
  };
}
