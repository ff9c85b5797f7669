// The model's forward pass in the page (program.py lists the steps): convolution, max and average
// pooling, dense layers, element-wise activations and reshapes, in float64 sums stored as float32.
// The browser tests hold it to convscope's forward, layer by layer.
"use strict";

// A 1-D rule as the 2-D one it is: height 1, no padding on it.
function rule2d(step) {
  if (step.kernel.length === 2) return step;
  return Object.assign({}, step, { kernel: [1, step.kernel[0]], stride: [1, step.stride[0]],
                                   dilation: [1, step.dilation[0]], pads: [[0, 0], step.pads[0]] });
}

function dims2d(shape) {   // (C, H, W) of a (C, L) or (C, H, W) shape
  return shape.length === 3 ? shape : [shape[0], 1, shape[1]];
}

// out[c, i, j] from the window of input rows i*s + t*d - lo: `reduce(c, taps)` gives the value,
// taps being the flat indices of the input cells inside (-1 for padding).
function sweep(x, xShape, step, outShape, reduce) {
  const r = rule2d(step), [C, H, W] = dims2d(xShape), [Co, Ho, Wo] = dims2d(outShape);
  const out = new Float32Array(Co * Ho * Wo), [kh, kw] = r.kernel, taps = new Int32Array(kh * kw);
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
        out[(c * Ho + i) * Wo + j] = reduce(c, taps, H * W, C);
      }
    }
  }
  return out;
}

function convStep(x, xShape, step, arrays) {
  const w = exactArray(arrays[step.weight]).data, b = step.bias === null ? null : exactArray(arrays[step.bias]).data;
  const C = xShape[0], cin = C / step.groups, cout = step.shape[0] / step.groups, k = prod(step.kernel);
  return sweep(x, xShape, step, step.shape, (c, taps, plane) => {
    const first = Math.floor(c / cout) * cin;
    let s = b === null ? 0 : b[c];
    for (let j = 0; j < cin; j++) {
      const base = (first + j) * plane, wBase = (c * cin + j) * k;
      for (let t = 0; t < k; t++) if (taps[t] >= 0) s += w[wBase + t] * x[base + taps[t]];
    }
    return s;
  });
}

function poolStep(x, xShape, step) {
  return sweep(x, xShape, step, step.shape, (c, taps, plane) => {
    let best = -Infinity, sum = 0, n = 0;
    for (const t of taps) {
      if (t < 0) continue;
      const v = x[c * plane + t];
      best = Math.max(best, v);
      sum += v;
      n++;
    }
    return step.op === "max" ? best : sum / (step.count_include_pad ? taps.length : n);
  });
}

function linearStep(x, step, arrays) {
  const w = exactArray(arrays[step.weight]).data, b = step.bias === null ? null : exactArray(arrays[step.bias]).data;
  const n = x.length, m = step.shape[0], out = new Float32Array(m);
  for (let j = 0; j < m; j++) {
    let s = b === null ? 0 : b[j];
    for (let i = 0; i < n; i++) s += w[j * n + i] * x[i];
    out[j] = s;
  }
  return out;
}

// Run the program on input x (Float32Array of the model's input shape): [{name, shape, input, output}].
function runProgram(steps, arrays, x) {
  let cur = x, shape = IN_SHAPE;
  const trace = [];
  for (const step of steps) {
    let out;
    if (step.op === "conv") out = convStep(cur, shape, step, arrays);
    else if (step.op === "max" || step.op === "avg") out = poolStep(cur, shape, step);
    else if (step.op === "linear") out = linearStep(cur, step, arrays);
    else if (step.op === "act") out = Float32Array.from(cur, (v) => activate(step, v));
    else out = cur;                                            // Flatten, Dropout, Identity
    trace.push({ name: step.name, shape: step.shape, input: cur, inputShape: shape, output: out });
    cur = out;
    shape = step.shape;
  }
  return trace;
}
