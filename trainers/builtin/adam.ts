/** Adam over one flat parameter buffer (state allocated once). */
export class Adam {
  private readonly m: Float64Array;
  private readonly v: Float64Array;
  private t = 0;

  constructor(
    size: number,
    private readonly learningRate: number,
    private readonly beta1 = 0.9,
    private readonly beta2 = 0.999,
    private readonly epsilon = 1e-8,
  ) {
    this.m = new Float64Array(size);
    this.v = new Float64Array(size);
  }

  step(params: Float64Array, grads: Float64Array): void {
    this.t++;
    const { m, v, beta1, beta2, epsilon } = this;
    // Bias correction folded into the step size.
    const rate = (this.learningRate * Math.sqrt(1 - beta2 ** this.t)) / (1 - beta1 ** this.t);
    for (let i = 0; i < params.length; i++) {
      const g = grads[i];
      m[i] = beta1 * m[i] + (1 - beta1) * g;
      v[i] = beta2 * v[i] + (1 - beta2) * g * g;
      params[i] -= (rate * m[i]) / (Math.sqrt(v[i]) + epsilon);
    }
  }
}
