// The backward pass of forward.js's steps: d(one unit)/d(input), the saliency map of any unit or
// class, computed in the page for the input shown (float64 gradients). The browser tests hold it to
// cs.saliency on every layer of program.py's PAGE_LAYERS, drawn from the layer registry.
"use strict";

// d(loss)/d(inputs) of one step, given d(loss)/d(output) `dy`: one Float64Array per input.
function backwardStep(t, dy, arrays) {
  const step = t.step, x = t.input, shape = t.inputShape, dx = new Float64Array(x.length);
  switch (step.op) {
    case "conv": {
      const w = param(arrays, step.weight), g = convGeometry(step, shape);
      sweep(shape, step, step.shape, (c, taps, plane, o) => {
        if (dy[o] === 0) return;
        for (let j = 0; j < g.cin; j++) {
          const base = (g.first(c) + j) * plane, wBase = (c * g.cin + j) * g.k;
          for (let k = 0; k < g.k; k++) if (taps[k] >= 0) dx[base + taps[k]] += w[wBase + k] * dy[o];
        }
      });
      break;
    }
    case "max": case "avg":
      sweep(shape, step, step.shape, (c, taps, plane, o) => {
        if (step.op === "max") {
          const at = maxTap(x, c * plane, taps);
          if (at >= 0) dx[c * plane + at] += dy[o];
        } else {
          const d = avgDivisor(step, taps);
          for (const k of taps) if (k >= 0) dx[c * plane + k] += dy[o] / d;
        }
      });
      break;
    case "linear": {
      const w = param(arrays, step.weight), n = x.length;
      for (let j = 0; j < dy.length; j++) if (dy[j] !== 0) for (let i = 0; i < n; i++) dx[i] += w[j * n + i] * dy[j];
      break;
    }
    case "act": for (let i = 0; i < x.length; i++) dx[i] = dy[i] * activateGrad(step, x[i]); break;
    case "prelu": {
      const per = prod(shape.slice(1));
      for (let i = 0; i < x.length; i++) dx[i] = x[i] >= 0 ? dy[i] : dy[i] * preluSlope(step, arrays, Math.floor(i / per));
      break;
    }
    case "bn": {
      const ab = bnAffine(step, arrays), per = prod(shape.slice(1));
      for (let i = 0; i < x.length; i++) dx[i] = dy[i] * ab[Math.floor(i / per)][0];
      break;
    }
    case "pool_all": case "adaptive":
      adaptiveSweep(step, shape, (c, cells, o) => {
        if (step.reduce === "avg") { for (const i of cells) dx[i] += dy[o] / cells.length; return; }
        let at = cells[0];
        for (const i of cells) if (x[i] > x[at]) at = i;
        dx[at] += dy[o];
      });
      break;
    case "softmax": {
      const y = t.output, dot = y.reduce((s, v, i) => s + v * dy[i], 0);
      for (let i = 0; i < y.length; i++) dx[i] = y[i] * (dy[i] - dot);
      break;
    }
    case "add": return [Float64Array.from(dy), Float64Array.from(dy)];
    case "concat": {
      let at = 0;
      return t.inputs.map((v) => { const part = dy.slice(at, at + v.data.length); at += v.data.length; return part; });
    }
    case "reshape": return [Float64Array.from(dy)];
    default: throw new Error(`backward.js: no rule for step ${step.name} (${step.op})`);
  }
  return [dx];
}

// d(output `unit` of step `name`)/d(input), shaped as the input (C, *spatial), for a forward trace.
function gradientOf(trace, arrays, name, unit) {
  const at = trace.findIndex((t) => t.name === name), grads = new Map();
  const seed = new Float64Array(trace[at].output.length);
  seed[unit] = 1;
  grads.set(name, seed);
  for (let k = at; k >= 0; k--) {
    const t = trace[k], dy = grads.get(t.name);
    if (!dy) continue;
    backwardStep(t, dy, arrays).forEach((d, i) => {
      const into = t.step.inputs[i], have = grads.get(into);
      if (!have) grads.set(into, d);
      else for (let j = 0; j < d.length; j++) have[j] += d[j];
    });
  }
  return grads.get(MODEL_INPUT) || new Float64Array(prod(IN_SHAPE));
}

// A gradient as the page draws it: one input channel as is, several by their largest magnitude
// (as activations.py's saliency maps), packed like the precomputed maps.
function saliencyMap(g) {
  const [c, ...sp] = IN_SHAPE, n = prod(sp), map = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    map[i] = c === 1 ? g[i] : Math.max(...Array.from({ length: c }, (_, k) => Math.abs(g[k * n + i])));
  }
  return unpack(packArray(map, sp));
}
