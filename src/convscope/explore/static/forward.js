// The model's forward pass in the page (program.py lists the steps, each reading named values):
// convolution, max and average pooling, dense layers, batch, layer, group and instance norm,
// element-wise activations, global
// and adaptive pooling, softmax, reshapes, and the adds and concatenations joining branches. Sums in
// float64, stored as float32. The browser tests hold it to convscope's forward on every layer of
// program.py's PAGE_LAYERS, drawn from the layer registry.
"use strict";

const MODEL_INPUT = ".input";

// A 1-D rule as the 2-D one it is: height 1, no padding on it.
function rule2d(step) {
  if (step.kernel.length === 2) return step;
  return Object.assign({}, step, { kernel: [1, step.kernel[0]], stride: [1, step.stride[0]],
                                   dilation: [1, step.dilation[0]], pads: [[0, 0], step.pads[0]] });
}

function dims2d(shape) {   // (C, H, W) of a (C, L) or (C, H, W) shape
  return shape.length === 3 ? shape : [shape[0], 1, shape[1]];
}

// For every output cell (c, i, j) of a window op: `visit(c, taps, plane, o)` with taps the flat
// indices in one input plane of the window's cells (-1 for padding) and o the output's flat index.
function sweep(xShape, step, outShape, visit) {
  const r = rule2d(step), [, H, W] = dims2d(xShape), [Co, Ho, Wo] = dims2d(outShape);
  const [kh, kw] = r.kernel, taps = new Int32Array(kh * kw);
  for (let c = 0; c < Co; c++) {
    for (let i = 0; i < Ho; i++) {
      for (let j = 0; j < Wo; j++) {
        for (let a = 0; a < kh; a++) {
          const y = i * r.stride[0] + a * r.dilation[0] - r.pads[0][0];
          for (let b = 0; b < kw; b++) {
            const z = j * r.stride[1] + b * r.dilation[1] - r.pads[1][0];
            taps[a * kw + b] = y >= 0 && y < H && z >= 0 && z < W ? y * W + z : -1;
          }
        }
        visit(c, taps, H * W, (c * Ho + i) * Wo + j);
      }
    }
  }
}

function param(arrays, ref) {
  return ref === null || ref === undefined ? null : exactArray(arrays[ref]).data;
}

// A convolution's weights per output channel: for output c, input channel `first + j` and tap t the
// weight w[(c * cin + j) * k + t]
function convGeometry(step, xShape) {
  const cin = xShape[0] / step.groups, cout = step.shape[0] / step.groups;
  return { cin: cin, cout: cout, k: prod(step.kernel), first: (c) => Math.floor(c / cout) * cin };
}

function convStep(x, xShape, step, arrays) {
  const w = param(arrays, step.weight), b = param(arrays, step.bias), g = convGeometry(step, xShape);
  const out = new Float32Array(prod(step.shape));
  sweep(xShape, step, step.shape, (c, taps, plane, o) => {
    let s = b === null ? 0 : b[c];
    for (let j = 0; j < g.cin; j++) {
      const base = (g.first(c) + j) * plane, wBase = (c * g.cin + j) * g.k;
      for (let t = 0; t < g.k; t++) if (taps[t] >= 0) s += w[wBase + t] * x[base + taps[t]];
    }
    out[o] = s;
  });
  return out;
}

// The first tap holding the window's maximum (convscope's and PyTorch's choice among equals), -1 if none.
function maxTap(x, base, taps) {
  let best = -Infinity, at = -1;
  for (const t of taps) if (t >= 0 && (at < 0 || x[base + t] > best)) { best = x[base + t]; at = t; }
  return at;
}

function avgDivisor(step, taps) {
  return step.count_include_pad ? taps.length : taps.reduce((n, t) => n + (t >= 0), 0);
}

function poolStep(x, xShape, step) {
  const out = new Float32Array(prod(step.shape));
  sweep(xShape, step, step.shape, (c, taps, plane, o) => {
    if (step.op === "max") {
      const at = maxTap(x, c * plane, taps);
      out[o] = at < 0 ? -Infinity : x[c * plane + at];
    } else {
      let sum = 0;
      for (const t of taps) if (t >= 0) sum += x[c * plane + t];
      out[o] = sum / avgDivisor(step, taps);
    }
  });
  return out;
}

function linearStep(x, step, arrays) {
  const w = param(arrays, step.weight), b = param(arrays, step.bias), n = x.length, m = step.shape[0];
  const out = new Float32Array(m);
  for (let j = 0; j < m; j++) {
    let s = b === null ? 0 : b[j];
    for (let i = 0; i < n; i++) s += w[j * n + i] * x[i];
    out[j] = s;
  }
  return out;
}

// Per-channel scale and shift of batch norm in eval mode: (x - mean) / sqrt(var + eps) * weight + bias.
function bnAffine(step, arrays) {
  const mean = param(arrays, step.mean), v = param(arrays, step.var), w = param(arrays, step.weight);
  const b = param(arrays, step.bias);
  return Array.from(mean, (m, c) => {
    const s = (w === null ? 1 : w[c]) / Math.sqrt(v[c] + step.eps);
    return [s, (b === null ? 0 : b[c]) - m * s];
  });
}

function channelMap(x, shape, f) {   // f(value, channel) for every cell, channels first
  const per = prod(shape.slice(1)), out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = f(x[i], Math.floor(i / per));
  return out;
}

function preluSlope(step, arrays, c) {
  const w = param(arrays, step.weight);
  return w.length === 1 ? w[0] : w[c];
}

// Adaptive windows of one axis, PyTorch's: output o of n reads floor(o i / n) .. ceil((o + 1) i / n) - 1.
function adaptiveWindows(step, xShape) {
  const [, H, W] = dims2d(xShape), [, Ho, Wo] = dims2d(step.shape);
  const axis = (i, n) => [...Array(n).keys()].map((o) => [Math.floor((o * i) / n), Math.ceil(((o + 1) * i) / n)]);
  return [axis(H, Ho), axis(W, Wo), W];
}

// For every output cell of an adaptive or global pool: visit(c, cells, o), cells the flat indices read.
function adaptiveSweep(step, xShape, visit) {
  const global = step.op === "pool_all", C = xShape[0];
  const [rows, cols, W] = global ? [[[0, dims2d(xShape)[1]]], [[0, dims2d(xShape)[2]]], dims2d(xShape)[2]]
                                 : adaptiveWindows(step, xShape);
  const plane = prod(xShape.slice(1));
  for (let c = 0; c < C; c++) {
    rows.forEach(([r0, r1], i) => cols.forEach(([c0, c1], j) => {
      const cells = [];
      for (let y = r0; y < r1; y++) for (let z = c0; z < c1; z++) cells.push(c * plane + y * W + z);
      visit(c, cells, (c * rows.length + i) * cols.length + j);
    }));
  }
}

function adaptiveStep(x, xShape, step) {
  const out = new Float32Array(prod(step.shape));
  adaptiveSweep(step, xShape, (c, cells, o) => {
    out[o] = step.reduce === "max" ? cells.reduce((m, i) => Math.max(m, x[i]), -Infinity)
                                   : cells.reduce((s, i) => s + x[i], 0) / cells.length;
  });
  return out;
}

// A normalisation step's statistics: per block of `step.block` cells, [mean, 1 / sqrt(var + eps)]
// (biased variance, float64), and the affine of cell i as [scale, shift].
function normParts(step, x, shape, arrays) {
  const w = param(arrays, step.weight), b = param(arrays, step.bias), plane = prod(shape.slice(1)), stats = [];
  for (let at = 0; at < x.length; at += step.block) {
    let mean = 0, v = 0;
    for (let i = at; i < at + step.block; i++) mean += x[i];
    mean /= step.block;
    for (let i = at; i < at + step.block; i++) v += (x[i] - mean) ** 2;
    stats.push([mean, 1 / Math.sqrt(v / step.block + step.eps)]);
  }
  const which = (i) => (step.per === "element" ? i % step.block : Math.floor(i / plane) % shape[0]);
  const affine = (i) => [w === null ? 1 : w[which(i)], b === null ? 0 : b[which(i)]];
  return { stats: stats, affine: affine };
}

function normStep(x, shape, step, arrays) {
  const { stats, affine } = normParts(step, x, shape, arrays);
  return Float32Array.from(x, (v, i) => {
    const [mean, inv] = stats[Math.floor(i / step.block)], [s, t] = affine(i);
    return (v - mean) * inv * s + t;
  });
}

function softmaxStep(x) {
  const m = Math.max(...x), e = Array.from(x, (v) => Math.exp(v - m)), total = e.reduce((s, v) => s + v, 0);
  return Float32Array.from(e, (v) => v / total);
}

function concatStep(xs) {
  const out = new Float32Array(xs.reduce((n, x) => n + x.length, 0));
  let at = 0;
  for (const x of xs) { out.set(x, at); at += x.length; }   // channels first: the blocks follow each other
  return out;
}

function forwardStep(step, xs, shapes, arrays) {
  const [x, shape] = [xs[0], shapes[0]];
  switch (step.op) {
    case "conv": return convStep(x, shape, step, arrays);
    case "max": case "avg": return poolStep(x, shape, step);
    case "linear": return linearStep(x, step, arrays);
    case "act": return Float32Array.from(x, (v) => activate(step, v));
    case "prelu": return channelMap(x, shape, (v, c) => (v >= 0 ? v : preluSlope(step, arrays, c) * v));
    case "bn": { const ab = bnAffine(step, arrays); return channelMap(x, shape, (v, c) => v * ab[c][0] + ab[c][1]); }
    case "pool_all": case "adaptive": return adaptiveStep(x, shape, step);
    case "norm": return normStep(x, shape, step, arrays);
    case "softmax": return softmaxStep(x);
    case "add": return Float32Array.from(x, (v, i) => v + xs[1][i]);
    case "concat": return concatStep(xs);
    case "reshape": return x;
  }
  throw new Error(`forward.js: no rule for step ${step.name} (${step.op})`);
}

// Run the program on input x (Float32Array of the model's input shape):
// [{name, shape, inputs, inputShapes, input, inputShape, output}], the last the model's output.
function runProgram(steps, arrays, x, inShape) {
  const values = new Map([[MODEL_INPUT, { data: x, shape: inShape || IN_SHAPE }]]), trace = [];
  for (const step of steps) {
    const ins = step.inputs.map((n) => values.get(n));
    const out = forwardStep(step, ins.map((v) => v.data), ins.map((v) => v.shape), arrays);
    values.set(step.name, { data: out, shape: step.shape });
    trace.push({ step: step, name: step.name, shape: step.shape, inputs: ins, input: ins[0].data,
                 inputShape: ins[0].shape, output: out });
  }
  return trace;
}
