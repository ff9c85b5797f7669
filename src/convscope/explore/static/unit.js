// The arithmetic of one unit: the page recomputes the chosen unit of a convolution, pooling or dense
// layer from the exact float32 numbers it holds (units.py) and shows every step, then compares its
// sum with convscope's output for that unit.
"use strict";

const TOLERANCE = 1e-5;   // |page - convscope| <= TOLERANCE * max(1, |convscope|): float32 sums in another order

// Cell `index` (one index per axis) of a C-ordered array of `shape`.
function flatIndex(index, shape) {
  return index.reduce((f, v, a) => f * shape[a] + v, 0);
}

// The input cells the unit reads on one input channel: per kernel tap, its position (null in the
// padding) and value (0 in the padding for a convolution; skipped by pooling).
function windowOf(rule, xShape, channel, out) {
  const sizes = xShape.slice(1), taps = [];
  for (let t = 0; t < prod(rule.kernel); t++) {
    const tap = unflatten(t, rule.kernel);
    const pos = tap.map((k, a) => out[a] * rule.stride[a] + k * rule.dilation[a] - rule.pads[a][0]);
    const inside = pos.every((p, a) => p >= 0 && p < sizes[a]);
    taps.push({ tap: tap, pos: inside ? pos : null, flat: inside ? flatIndex([channel, ...pos], xShape) : -1 });
  }
  return taps;
}

// Everything one unit's value is made of, computed here: {terms, sum, bias, value, ...}.
function unitArithmetic(entry, arrays, unit) {
  const r = entry.rule, x = exactArray(arrays[entry.input]), y = exactArray(arrays[entry.output]);
  const w = entry.weight === null ? null : exactArray(arrays[entry.weight]);
  const b = entry.bias === null ? null : exactArray(arrays[entry.bias]);
  const res = { op: r.op, convscope: y.data[flatIndex(unit, y.shape)], groups: [] };
  if (r.op === "linear") {
    const n = x.data.length, j = unit[0];
    const terms = [...Array(n).keys()].map((i) => ({ i: i, x: x.data[i], w: w.data[j * n + i] }));
    res.groups.push({ channel: null, terms: terms, sum: terms.reduce((s, t) => s + t.x * t.w, 0) });
  } else if (r.op === "conv") {
    const [c, ...out] = unit, cin = x.shape[0] / r.groups, cout = y.shape[0] / r.groups;
    const first = Math.floor(c / cout) * cin, k = prod(r.kernel);
    for (let j = 0; j < cin; j++) {
      const terms = windowOf(r, x.shape, first + j, out).map((t, i) => Object.assign(t, {
        x: t.flat < 0 ? 0 : x.data[t.flat], w: w.data[(c * cin + j) * k + i] }));
      res.groups.push({ channel: first + j, terms: terms, sum: terms.reduce((s, t) => s + t.x * t.w, 0) });
    }
  } else {                                    // max or average pooling: one channel's window
    const [c, ...out] = unit, terms = windowOf(r, x.shape, c, out).map((t) => Object.assign(t, { x: t.flat < 0 ? null : x.data[t.flat] }));
    const inside = terms.filter((t) => t.x !== null).map((t) => t.x);
    // with count_include_pad the divisor is the whole window, padding included (ceil_mode is not redone here)
    const count = r.op === "avg" && r.count_include_pad ? terms.length : inside.length;
    res.groups.push({ channel: c, terms: terms, count: count,
                      sum: r.op === "max" ? Math.max(...inside) : inside.reduce((s, v) => s + v, 0) / count });
  }
  res.sum = res.groups.reduce((s, g) => s + g.sum, 0);
  res.bias = b === null ? 0 : b.data[unit[0]];
  res.hasBias = b !== null;
  res.value = res.sum + res.bias;
  res.agrees = Math.abs(res.value - res.convscope) <= TOLERANCE * Math.max(1, Math.abs(res.convscope));
  if (entry.after) {
    const a = exactArray(arrays[entry.after.output]);
    res.after = { kind: entry.after.kind, name: entry.after.name, value: activate(entry.after, res.value),
                  convscope: a.data[flatIndex(unit, a.shape)] };
  }
  return res;
}

// A kernel-shaped grid of numbers (1-D: one row), each cell from `text(term)`.
function numberGrid(terms, kernel, cls, text) {
  const [rows, cols] = kernel.length === 2 ? kernel : [1, kernel[0]];
  const table = el("table", { class: `numgrid ${cls}` });
  for (let r = 0; r < rows; r++) {
    const tr = el("tr");
    for (let c = 0; c < cols; c++) {
      const t = terms[r * cols + c], [label, extra] = text(t);
      tr.append(el("td", { text: label, class: extra || "" }));
    }
    table.append(tr);
  }
  return table;
}

function termsBlock(rule, group, op) {
  const k = rule.kernel, where = group.channel === null ? "" : ` (input channel ${group.channel})`;
  const patch = numberGrid(group.terms, k, "patch", (t) => (t.pos === null ? ["0", "pad"] : [fmtNum(t.x)]));
  if (op !== "conv") {
    const best = op === "max" ? group.sum : null;
    return el("div", { class: "math-row" },
      el("figure", {}, el("figcaption", { text: `window${where}` }),
         numberGrid(group.terms, k, "patch", (t) => (t.pos === null ? ["pad", "pad"] : [fmtNum(t.x), t.x === best ? "chosen" : ""]))));
  }
  return el("div", { class: "math-row" },
    el("figure", {}, el("figcaption", { text: `input patch${where}` }), patch),
    el("span", { class: "op", text: "\u00d7" }),
    el("figure", {}, el("figcaption", { text: "kernel" }), numberGrid(group.terms, k, "kernel", (t) => [fmtNum(t.w)])),
    el("span", { class: "op", text: "=" }),
    el("figure", {}, el("figcaption", { text: "products" }), numberGrid(group.terms, k, "products", (t) => [fmtNum(t.x * t.w)])),
    el("span", { class: "op", text: `\u2192 sum ${fmtNum(group.sum)}` }));
}

// A dense unit: the largest products by size, the rest summed (128 products do not fit a screen).
function denseBlock(group) {
  const shown = [...group.terms].sort((a, b) => Math.abs(b.x * b.w) - Math.abs(a.x * a.w)).slice(0, 8);
  const rest = group.sum - shown.reduce((s, t) => s + t.x * t.w, 0);
  const table = el("table", { class: "numbers dense-terms" },
    el("tr", {}, el("th", { text: "input i" }), el("th", { text: "x_i" }), el("th", { text: "w_i" }), el("th", { text: "x_i w_i" })));
  for (const t of shown) {
    table.append(el("tr", {}, el("td", { text: t.i }), el("td", { text: fmtNum(t.x) }), el("td", { text: fmtNum(t.w) }),
                    el("td", { text: fmtNum(t.x * t.w) })));
  }
  return el("div", {}, table, el("p", { class: "small", text: `The ${shown.length} largest of ${group.terms.length} products; ` +
    `the other ${group.terms.length - shown.length} add ${fmtNum(rest)}. Sum of all: ${fmtNum(group.sum)}.` }));
}

function summaryLine(res, unit) {
  const parts = res.op === "max" ? [`max = ${fmtNum(res.sum)}`]
    : res.op === "avg" ? [`sum / ${res.groups[0].count} = ${fmtNum(res.sum)}`]
    : [`${res.groups.length > 1 ? `sum over ${res.groups.length} input channels = ` : "sum = "}${fmtNum(res.sum)}`];
  if (res.hasBias) parts.push(`+ bias ${fmtNum(res.bias)}`);
  parts.push(`= ${fmtNum(res.value)}`);
  return `unit (${unit.join(", ")}): ${parts.join(" ")}`;
}

function drawArithmetic(row) {
  const body = $("unit-math-body"), units = ACT && ACT.units, entry = units && units.layers[row.name];
  $("unit-math").hidden = !ACT;
  body.replaceChildren();
  delete body.dataset.value;
  if (!ACT) return;
  if (!entry) {
    body.append(el("p", { class: "small", text: `The page recomputes units of convolution, pooling and dense layers ` +
      `whose numbers it holds (up to ${fmtInt(units.budget)} values per page); ${row.name} is not one of them.` }));
    return;
  }
  const unit = unitIndex(row), res = unitArithmetic(entry, units.arrays, unit);
  const blocks = res.op === "linear" ? [denseBlock(res.groups[0])]
    : res.groups.slice(0, 4).map((g) => termsBlock(entry.rule, g, res.op));
  if (res.groups.length > 4) {
    blocks.push(el("p", { class: "small", text: `... and ${res.groups.length - 4} more input channels, each summed the same way ` +
      `(channel sums: ${res.groups.map((g) => fmtNum(g.sum)).join(", ")}).` }));
  }
  // on the page's own input the layer's output is convscope's; on another, the page's forward pass (forward.js)
  const source = M.input ? "the page's forward pass" : "convscope's value";
  const verdict = `${source}: ${fmtNum(res.convscope)} (${res.agrees ? "agrees" : "DISAGREES"}, ` +
    `|difference| ${Math.abs(res.value - res.convscope).toExponential(1)})`;
  body.append(...blocks, el("p", { id: "unit-sum", class: "mono", text: summaryLine(res, unit) }),
              el("p", { id: "unit-check", class: res.agrees ? "agree" : "disagree", text: verdict }));
  if (res.after) {
    body.append(el("p", { id: "unit-after", class: "mono", text: `then ${res.after.kind} (${res.after.name}): ` +
      `${res.after.kind}(${fmtNum(res.value)}) = ${fmtNum(res.after.value)}; ${M.input ? "forward pass" : "convscope"}: ` +
      fmtNum(res.after.convscope) }));
    body.dataset.after = res.after.value;
  }
  Object.assign(body.dataset, { value: res.value, convscope: res.convscope, unit: unit.join(","), layer: row.name });
  if (!res.agrees) console.error(`explore: unit ${unit} of ${row.name}: page ${res.value}, convscope ${res.convscope}`);
}
