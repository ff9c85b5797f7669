// The playground's arithmetic: the same rules, checks and messages as convscope's ops/geometry.py
// and the Conv layers (the page replays convscope's own answers on load to prove it agrees).
"use strict";

const CONV_FORMULA = "o = floor((i + p_lo + p_hi - d(k-1) - 1)/s) + 1";
const TRANSPOSED_FORMULA = "o = (i-1)s - p_lo - p_hi + d(k-1) + output_padding + 1";

function layerName(g) {
  return `${g.transposed ? "ConvTranspose" : "Conv"}${g.dims}d`;
}

// (lo, hi) padding per axis: 'valid' none, 'full' d(k-1) each side, 'same' TensorFlow's rule
// o = ceil(i/s), total = max((o-1)s + d(k-1) + 1 - i, 0), the extra cell on the high side.
function resolvePads(g) {
  return g.size.map((i) => {
    const k = g.kernel, s = g.stride, d = g.dilation;
    if (g.padding === "valid") return [0, 0];
    if (g.padding === "full") return [d * (k - 1), d * (k - 1)];
    if (g.padding === "same") {
      const total = Math.max((Math.ceil(i / s) - 1) * s + d * (k - 1) + 1 - i, 0);
      return [Math.floor(total / 2), total - Math.floor(total / 2)];
    }
    return [g.padding, g.padding];
  });
}

function convAxis(name, a, i, k, s, d, lo, hi) {
  const span = d * (k - 1) + 1, padded = i + lo + hi;
  const o = Math.floor((padded - span) / s) + 1;
  if (span > padded) {
    throw new Error(`${name}: conv (spatial axis ${a}): kernel ${k} (dilated ${span}) > padded input ${padded} ` +
                    `(i=${i}, p_lo=${lo}, p_hi=${hi}): ${CONV_FORMULA} = ${o}`);
  }
  const step = `${CONV_FORMULA} = floor((${i} + ${lo} + ${hi} - ${d}*(${k}-1) - 1)/${s}) + 1 = ${o}`;
  return [o, step];
}

function transposedAxis(name, a, i, k, s, d, lo, hi, q) {
  if (q >= s && q >= d) {
    throw new Error(`${name}: conv_transpose (spatial axis ${a}): output_padding ${q} must be smaller than ` +
                    `stride ${s} or dilation ${d}`);
  }
  const o = (i - 1) * s - lo - hi + d * (k - 1) + q + 1;
  if (o <= 0) {
    throw new Error(`${name}: conv_transpose (spatial axis ${a}): output size ${o} <= 0 (i=${i}, k=${k}, s=${s}, ` +
                    `d=${d}, p_lo=${lo}, p_hi=${hi}, output_padding=${q}): ${TRANSPOSED_FORMULA}`);
  }
  const step = `${TRANSPOSED_FORMULA} = (${i}-1)*${s} - ${lo} - ${hi} + ${d}*(${k}-1) + ${q} + 1 = ${o}`;
  return [o, step];
}

// One layer's numbers, as convscope's conv_arithmetic returns them, or {error: message}.
function arithmetic(g) {
  const name = layerName(g);
  try {
    // convscope checks each argument (padding) before the arguments together (groups)
    if (g.transposed && typeof g.padding === "string") {
      throw new Error(`${name}: padding '${g.padding}' is not allowed; use an int or a tuple`);
    }
    if (g.in_channels % g.groups || g.out_channels % g.groups) {
      throw new Error(`${name}: in_channels ${g.in_channels} and out_channels ${g.out_channels} must both be ` +
                      `divisible by groups ${g.groups}`);
    }
    const pads = resolvePads(g), k = g.kernel, s = g.stride, d = g.dilation;
    const sizes = [], steps = [];
    g.size.forEach((i, a) => {
      const [lo, hi] = pads[a];
      const [o, step] = g.transposed ? transposedAxis(name, a, i, k, s, d, lo, hi, g.output_padding)
                                     : convAxis(name, a, i, k, s, d, lo, hi);
      sizes.push(o);
      steps.push(step);
    });
    const taps = k ** g.dims, cin = g.in_channels, cout = g.out_channels;
    const weights = g.transposed ? cin * (cout / g.groups) * taps : cout * (cin / g.groups) * taps;
    // a transposed conv meets every weight of its group once per INPUT position
    const macs = g.transposed ? weights * prod(g.size) : cout * prod(sizes) * (cin / g.groups) * taps;
    // receptive field of one layer (Araujo et al.): a transposed conv is zero insertion by s, then a
    // stride-1 conv padded d(k-1) - p, so its jump is 1/s
    const rf = g.transposed
      ? { size: fraction(s + d * (k - 1), s), jump: fraction(1, s), start: pads.map(([lo]) => fraction(-(d * (k - 1) - lo), s)) }
      : { size: String(d * (k - 1) + 1), jump: String(s), start: pads.map(([lo]) => fraction(-lo, 1)) };
    return { output_shape: [cout, ...sizes], params: weights + cout, macs: macs, pads: pads, steps: steps,
             rf_size: g.size.map(() => rf.size), rf_jump: g.size.map(() => rf.jump), rf_start: rf.start };
  } catch (err) {
    return { error: err.message };
  }
}

// Replay convscope's check table (computed in Python when the page was written); return mismatches.
function replayChecks(rows) {
  const bad = [];
  for (const row of rows) {
    const got = arithmetic(row.geometry), want = row.answer;
    const keys = want.error !== undefined ? ["error"] : ["output_shape", "params", "macs", "rf_size", "rf_jump", "rf_start"];
    for (const key of keys) {
      if (JSON.stringify(got[key]) !== JSON.stringify(want[key])) {
        bad.push({ geometry: row.geometry, key: key, page: got[key], convscope: want[key] });
        break;
      }
    }
  }
  return bad;
}
