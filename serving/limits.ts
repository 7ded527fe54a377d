/**
 * Limits shared by the server and the typed client. A batch's procedure paths travel in its URL,
 * which Node's HTTP parser caps with the other headers (16 KB): the server refuses a batch of more
 * calls than this (BAD_REQUEST) and the client's batches never hold more (it splits them).
 */
export const MAX_BATCH_CALLS = 100;
