// The playground "with numbers": small integers in the input and the kernel (one channel pair, no
// bias), every output cell's value, and the current one's sum written out. A transposed convolution
// is drawn as zeros inserted then a convolution with the kernel flipped, so the numbers follow that.
"use strict";

// A small reproducible sequence of integers in [lo, hi] (the same page shows the same numbers).
function smallInts(n, lo, hi, seed) {
  const out = [];
  let state = seed >>> 0;
  for (let i = 0; i < n; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    out.push(lo + (state % (hi - lo + 1)));
  }
  return out;
}

// The input values: those typed (row by row) when there are exactly enough, else random digits.
function inputValues(n) {
  const typed = $("pg-values").value.split(/[\s,;]+/).filter((t) => t !== "").map(Number);
  if (typed.length === n && typed.every(Number.isFinite)) return [typed, ""];
  const why = typed.length ? `typed ${typed.length} numbers, the input has ${n}: random ones shown` : "";
  return [smallInts(n, 0, 9, 7), why];
}

// {x, w, value(gridPos), output(outPos)} for the drawn scene, or null when numbers are off or too small.
function withNumbers(g, sc, cell) {
  const on = $("pg-numbers").checked;
  $("pg-values-label").hidden = !on;
  $("pg-sum").textContent = "";
  if (!on) return null;
  if (cell < 18) {
    $("pg-sum").textContent = "Cells too small for numbers: make the input smaller.";
    return null;
  }
  const taps = g.kernel ** g.dims, [x, why] = inputValues(prod(g.size)), w = smallInts(taps, -2, 2, 11);
  const value = (pos) => {
    if (!pos.every((p, a) => sc.axes[a].isInput(p))) return 0;
    return x[pos.reduce((f, p, a) => f * g.size[a] + sc.axes[a].index(p), 0)];
  };
  // the equivalent convolution of a transposed one reads its kernel back to front
  const weight = (t) => w[g.transposed ? taps - 1 - t : t];
  const window = (o) => [...Array(taps).keys()].map((t) => {
    const tap = unflatten(t, sc.axes.map(() => g.kernel));
    return [t, o.map((v, a) => v * sc.axes[a].step + tap[a] * g.dilation)];
  });
  const output = (o) => window(o).reduce((s, [t, pos]) => s + weight(t) * value(pos), 0);
  PG.numbers = { x: x, w: w };
  return { x: x, w: w, why: why, value: value, weight: weight, window: window, output: output };
}

function numberText(x, y, cell, v, cls, pos) {
  return el("svg:text", { x: x + cell / 2, y: y + cell * 0.68, class: `cellnum ${cls}`, "data-pos": pos.join(","), text: v });
}

// The input cells' numbers, the kernel weight in the corner of each window cell, and the sum.
function numbersFor(svg, n, g, sc, o, rows, cols, cell) {
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const pos = sc.axes.length === 2 ? [r, c] : [c];
      svg.append(numberText(c * cell, r * cell, cell, n.value(pos), "innum", pos));
    }
  }
  const terms = [];
  for (const [t, pos] of n.window(o)) {
    const [r, c] = sc.axes.length === 2 ? pos : [0, pos[0]];
    // the weight in the window cell's corner where there is room beside the input's number
    if (cell >= 26) svg.append(el("svg:text", { x: c * cell + 2, y: r * cell + 9, class: "wnum", text: n.weight(t) }));
    const wt = n.weight(t), v = n.value(pos);
    terms.push(`${wt < 0 ? `(${wt})` : wt}\u00b7${v < 0 ? `(${v})` : v}`);
  }
  $("pg-sum").textContent = `output (${o.join(", ")}) = ${terms.join(" + ")} = ${n.output(o)}` +
    ` (weight \u00b7 input per window cell${g.transposed ? ", the kernel flipped" : ""}; one channel pair, no bias)` +
    (n.why ? `. ${n.why}` : "");
}
