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
    case "norm": {
      // with x^ = (x - mean) inv and g = dy * scale: dx = inv (g - mean(g) - x^ mean(g x^)) per block
      const { stats, affine } = normParts(step, x, shape, arrays), n = step.block;
      for (let at = 0; at < x.length; at += n) {
        const [mean, inv] = stats[at / n];
        let gm = 0, gx = 0;
        for (let i = at; i < at + n; i++) { const g = dy[i] * affine(i)[0]; gm += g; gx += g * (x[i] - mean) * inv; }
        for (let i = at; i < at + n; i++) dx[i] = inv * (dy[i] * affine(i)[0] - gm / n - (x[i] - mean) * inv * gx / n);
      }
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
  return backprop(trace, arrays, name, unit, -1).get(MODEL_INPUT) || new Float64Array(trace[0].input.length);
}

// The gradients of output `unit` of step `name` with respect to every value computed after step
// `stop` (an index into the trace; -1: down to the input), by value name.
function backprop(trace, arrays, name, unit, stop) {
  const at = trace.findIndex((t) => t.name === name), grads = new Map();
  const seed = new Float64Array(trace[at].output.length);
  seed[unit] = 1;
  grads.set(name, seed);
  for (let k = at; k > stop; k--) {
    const t = trace[k], dy = grads.get(t.name);
    if (!dy) continue;
    backwardStep(t, dy, arrays).forEach((d, i) => {
      const into = t.step.inputs[i], have = grads.get(into);
      if (!have) grads.set(into, d);
      else for (let j = 0; j < d.length; j++) have[j] += d[j];
    });
  }
  return grads;
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

// Grad-CAM of class `cls` at step `layer` (convscope.analysis.cam's "gradcam"): the layer's maps A
// weighted by the mean over space of d(score)/dA, summed over channels, ReLU, scaled to [0, 1],
// resized to the input (linear, half-pixel centres), ReLU and scaled again. Float32 like cam().
function gradCam(trace, arrays, layer, cls) {
  const k = trace.findIndex((t) => t.name === layer), a = trace[k].output, [c, ...sp] = trace[k].shape;
  const last = trace[trace.length - 1].name, g = backprop(trace, arrays, last, cls, k).get(layer) || new Float64Array(a.length);
  const n = prod(sp), map = new Float32Array(n);
  for (let ch = 0; ch < c; ch++) {
    let w = 0;
    for (let i = 0; i < n; i++) w += g[ch * n + i];
    w /= n;
    for (let i = 0; i < n; i++) map[i] += w * a[ch * n + i];
  }
  const size = IN_SHAPE.slice(1), same = sp.every((v, i) => v === size[i]);
  const once = unitScale(map.map((v) => Math.max(v, 0)));
  return unitScale((same ? once : resizeLinear(once, sp, size)).map((v) => Math.max(v, 0)));
}

function unitScale(m) {   // (m - min) / (1e-7 + max of the shifted map), as cam()'s _unit
  const lo = Math.min(...m), shifted = m.map((v) => v - lo), hi = Math.max(...shifted);
  return shifted.map((v) => v / (1e-7 + hi));
}

// Linear resize of a 1-D or 2-D map, PyTorch's interpolate with align_corners=False.
function resizeLinear(m, from, to) {
  const axis = (i, o) => [...Array(o).keys()].map((d) => {
    const src = Math.max(0, ((d + 0.5) * i) / o - 0.5), lo = Math.min(Math.floor(src), i - 1);
    return [lo, Math.min(lo + 1, i - 1), src - lo];
  });
  const [fh, fw] = from.length === 2 ? from : [1, from[0]], [th, tw] = to.length === 2 ? to : [1, to[0]];
  const rows = axis(fh, th), cols = axis(fw, tw), out = new Float32Array(th * tw);
  rows.forEach(([r0, r1, a], y) => cols.forEach(([c0, c1, b], x) => {
    const top = m[r0 * fw + c0] * (1 - b) + m[r0 * fw + c1] * b, bottom = m[r1 * fw + c0] * (1 - b) + m[r1 * fw + c1] * b;
    out[y * tw + x] = top * (1 - a) + bottom * a;
  }));
  return out;
}
