/**
 * Batch matrix kernels for training. Rows go eight at a time so each weight loaded from memory
 * feeds eight accumulators held in registers (in V8 about 1.5× as fast as one row at a time);
 * callers therefore pass a row count that is a multiple of ROW_BLOCK, padding with rows whose
 * gradients are zero.
 */
export const ROW_BLOCK = 8;

/** out[r, o] = bias[o] + Σ_k w[o, k] · a[r, k]   (w: outputs × inputs, row-major). */
export function multiply(
  a: Float64Array,
  w: Float64Array,
  bias: Float64Array | undefined,
  out: Float64Array,
  rows: number,
  inputs: number,
  outputs: number,
): void {
  const n = inputs;
  const m = outputs;
  for (let r = 0; r < rows; r += ROW_BLOCK) {
    const a0 = r * n;
    const z = r * m;
    for (let o = 0; o < m; o++) {
      const w0 = o * n;
      let s0 = bias ? bias[o] : 0;
      let s1 = s0;
      let s2 = s0;
      let s3 = s0;
      let s4 = s0;
      let s5 = s0;
      let s6 = s0;
      let s7 = s0;
      for (let k = 0; k < n; k++) {
        const wk = w[w0 + k];
        const p = a0 + k;
        s0 += wk * a[p];
        s1 += wk * a[p + n];
        s2 += wk * a[p + 2 * n];
        s3 += wk * a[p + 3 * n];
        s4 += wk * a[p + 4 * n];
        s5 += wk * a[p + 5 * n];
        s6 += wk * a[p + 6 * n];
        s7 += wk * a[p + 7 * n];
      }
      out[z + o] = s0;
      out[z + m + o] = s1;
      out[z + 2 * m + o] = s2;
      out[z + 3 * m + o] = s3;
      out[z + 4 * m + o] = s4;
      out[z + 5 * m + o] = s5;
      out[z + 6 * m + o] = s6;
      out[z + 7 * m + o] = s7;
    }
  }
}

/**
 * Weight and bias gradients: dw[o, k] += Σ_r d[r, o] · a[r, k], db[o] += Σ_r d[r, o]
 * (d: rows × outputs, a: rows × inputs).
 */
export function accumulateGradients(
  d: Float64Array,
  a: Float64Array,
  dw: Float64Array,
  db: Float64Array,
  rows: number,
  inputs: number,
  outputs: number,
): void {
  const n = inputs;
  const m = outputs;
  for (let r = 0; r < rows; r += ROW_BLOCK) {
    const a0 = r * n;
    const z = r * m;
    for (let o = 0; o < m; o++) {
      const d0 = d[z + o];
      const d1 = d[z + m + o];
      const d2 = d[z + 2 * m + o];
      const d3 = d[z + 3 * m + o];
      const d4 = d[z + 4 * m + o];
      const d5 = d[z + 5 * m + o];
      const d6 = d[z + 6 * m + o];
      const d7 = d[z + 7 * m + o];
      db[o] += d0 + d1 + d2 + d3 + d4 + d5 + d6 + d7;
      const w0 = o * n;
      for (let k = 0; k < n; k++) {
        const p = a0 + k;
        dw[w0 + k] +=
          d0 * a[p] +
          d1 * a[p + n] +
          d2 * a[p + 2 * n] +
          d3 * a[p + 3 * n] +
          d4 * a[p + 4 * n] +
          d5 * a[p + 5 * n] +
          d6 * a[p + 6 * n] +
          d7 * a[p + 7 * n];
      }
    }
  }
}
