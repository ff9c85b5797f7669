// Panel 1: the convolution playground (controls, numbers, the sliding kernel, the matrix C).
"use strict";

const PG = { frame: 0, timer: null, result: null, geometry: null, scene: null };
const MAX_DRAWN = 32;     // cells per side of the animation
const MAX_MATRIX = 64;    // input or output cells of one channel for the matrix C

function $(id) {
  return document.getElementById(id);
}

function intOf(id, min) {
  const v = parseInt($(id).value, 10);
  return Number.isFinite(v) ? Math.max(min, v) : min;
}

// The controls as a geometry (the same dict playground.py builds for the check table).
function readControls() {
  const dims = parseInt($("pg-dims").value, 10), mode = $("pg-pad-mode").value;
  const transposed = $("pg-transposed").checked;
  return { dims: dims, size: [intOf("pg-h", 1), intOf("pg-w", 1)].slice(0, dims), kernel: intOf("pg-k", 1),
           stride: intOf("pg-s", 1), padding: mode === "number" ? intOf("pg-p", 0) : mode,
           dilation: intOf("pg-d", 1), in_channels: intOf("pg-cin", 1), out_channels: intOf("pg-cout", 1),
           groups: intOf("pg-g", 1), transposed: transposed, output_padding: transposed ? intOf("pg-op", 0) : 0 };
}

function update() {
  const g = readControls(), r = arithmetic(g);
  PG.geometry = g;
  PG.result = r;
  $("pg-w-label").hidden = g.dims === 1;
  $("pg-p-label").hidden = typeof g.padding === "string";
  $("pg-op-label").hidden = !g.transposed;
  $("pg-error").hidden = r.error === undefined;
  $("pg-error").textContent = r.error || "";
  const ok = r.error === undefined;
  $("pg-layer").textContent = ok ? `${layerName(g)}(${g.in_channels}, ${g.out_channels}, kernel ${g.kernel}, ` +
    `stride ${g.stride}, padding ${JSON.stringify(g.padding)}, dilation ${g.dilation}, groups ${g.groups}` +
    `${g.transposed ? ", output_padding " + g.output_padding : ""}) on ${g.in_channels} x ${g.size.join(" x ")}` : "";
  $("pg-steps").replaceChildren(...(ok ? r.steps.map((s, a) => formulaItem(`axis ${a}:`, s)) : []));
  $("pg-out-shape").textContent = ok ? r.output_shape.join(" x ") : "-";
  $("pg-params").textContent = ok ? `${fmtInt(r.params)} (weights ${fmtInt(r.params - g.out_channels)} + bias ${g.out_channels})` : "-";
  $("pg-macs").textContent = ok ? fmtInt(r.macs) : "-";
  $("pg-rf").textContent = ok ? `${r.rf_size.join(" x ")}, ${r.rf_jump.join(" x ")}, ${r.rf_start.join(" x ")}` : "-";
  $("pg-anim").hidden = !ok;
  $("pg-matrix").hidden = !ok;
  PG.scene = ok ? scene(g, r) : null;
  PG.frame = 0;
  drawFrame();
  drawMatrix();
}

// A formula that may wrap only between its "= ..." steps, never inside an expression.
function formulaItem(head, text) {
  const parts = text.split(" = ");
  return el("li", {}, `${head} `, ...parts.map((p, i) => el("span", { class: "eq", text: (i ? "= " : "") + p })));
}

// What the animation draws, per axis: the grid's extent, which cells hold the input, and where
// output o's window starts. A transposed conv is drawn as zero insertion then a stride-1 conv.
function scene(g, r) {
  const k = g.kernel, d = g.dilation, outs = r.output_shape.slice(1);
  const axes = g.size.map((i, a) => {
    const [lo, hi] = r.pads[a];
    if (!g.transposed) {
      const isInput = (c) => c >= lo && c < lo + i;
      return { extent: i + lo + hi, isInput: isInput, isInner: isInput, step: g.stride, index: (c) => c - lo };
    }
    const plo = d * (k - 1) - lo, phi = d * (k - 1) - hi + g.output_padding;
    if (plo < 0 || phi < 0) return null;
    const isInput = (c) => c >= plo && c <= plo + (i - 1) * g.stride && (c - plo) % g.stride === 0;
    // cells between the input's cells are the inserted zeros; outside them, the padding
    const isInner = (c) => c >= plo && c <= plo + (i - 1) * g.stride;
    return { extent: (i - 1) * g.stride + 1 + plo + phi, isInput: isInput, isInner: isInner, step: 1,
             index: (c) => (c - plo) / g.stride };
  });
  if (axes.some((a) => a === null)) {
    return { note: "The padding is larger than d(k-1), so the equivalent convolution crops its input: not drawn." };
  }
  if (Math.max(...axes.map((a) => a.extent), ...outs) > MAX_DRAWN) {
    return { note: `Too large to draw (more than ${MAX_DRAWN} cells a side); the numbers above are exact.` };
  }
  return { axes: axes, outs: outs, frames: prod(outs) };
}

function unflatten(f, sizes) {
  const idx = [];
  for (let a = sizes.length - 1; a >= 0; a--) {
    idx[a] = f % sizes[a];
    f = Math.floor(f / sizes[a]);
  }
  return idx;
}

function cellRect(x, y, size, cls, extra) {
  return el("svg:rect", Object.assign({ x: x, y: y, width: size, height: size, class: cls }, extra || {}));
}

function drawFrame() {
  const svg = $("pg-svg"), sc = PG.scene, g = PG.geometry;
  svg.replaceChildren();
  $("pg-anim-note").textContent = sc && sc.note ? sc.note : "";
  $("pg-frame").textContent = "";
  if (!sc || sc.note) {
    svg.setAttribute("width", 0);
    svg.setAttribute("height", 0);
    return;
  }
  const two = sc.axes.length === 2, ext = sc.axes.map((a) => a.extent);
  const rows = two ? ext[0] : 1, cols = ext[two ? 1 : 0];
  const outRows = two ? sc.outs[0] : 1, outCols = sc.outs[two ? 1 : 0];
  // input, a gap of two cells and the output side by side within about 560 x 420 pixels
  const cell = Math.max(10, Math.min(36, Math.floor(560 / (cols + 2 + outCols)), Math.floor(420 / Math.max(rows, outRows))));
  const gap = cell * 2, ox = cols * cell + gap;
  const o = unflatten(PG.frame, sc.outs);
  const window = new Set();
  for (let t = 0; t < g.kernel ** sc.axes.length; t++) {
    const tap = unflatten(t, sc.axes.map(() => g.kernel));
    window.add(tap.map((tt, a) => o[a] * sc.axes[a].step + tt * g.dilation).join(","));
  }
  svg.append(el("svg:defs", {}, el("svg:pattern", { id: "hatch", width: 6, height: 6, patternUnits: "userSpaceOnUse",
    patternTransform: "rotate(45)" }, el("svg:rect", { width: 6, height: 6, fill: "#e8e8e8" }),
    el("svg:line", { x1: 0, y1: 0, x2: 0, y2: 6, stroke: "#9a9a9a", "stroke-width": 2 }))));
  const overlay = [];
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const pos = two ? [r, c] : [c];
      const kind = pos.every((p, a) => sc.axes[a].isInput(p)) ? "input"
        : pos.every((p, a) => sc.axes[a].isInner(p)) ? "zero" : "pad";
      svg.append(cellRect(c * cell, r * cell, cell, `cell ${kind}`));
      if (window.has(pos.join(","))) overlay.push(cellRect(c * cell, r * cell, cell, "window", { "data-pos": pos.join(",") }));
    }
  }
  svg.append(...overlay);
  const numbers = withNumbers(g, sc, cell);
  for (let r = 0; r < outRows; r++) {
    for (let c = 0; c < outCols; c++) {
      const pos = two ? [r, c] : [c];
      const current = pos.every((p, a) => p === o[a]);
      svg.append(cellRect(ox + c * cell, r * cell, cell, `cell output${current ? " current" : ""}`));
      if (numbers) svg.append(numberText(ox + c * cell, r * cell, cell, numbers.output(pos), "outnum", pos));
    }
  }
  const label = (x, y, text) => el("svg:text", { x: x, y: y, class: "label", text: text });
  const h = Math.max(rows, outRows) * cell;
  const inLabel = label(0, h + 22, g.transposed ? "input, zeros inserted (light), padded (hatched)" : "input (hatched: padding)");
  const outLabel = label(ox, h + 22, "output");
  svg.append(inLabel, outLabel);
  // the captions never overlap: the output's moves a line down when the input's reaches it
  const a = inLabel.getBBox(), lineDown = a.x + a.width + 10 > ox;
  if (lineDown) outLabel.setAttribute("y", h + 44);
  svg.setAttribute("width", Math.max(ox + outCols * cell + 4, a.width + 4, ox + outLabel.getBBox().width + 4));
  svg.setAttribute("height", h + (lineDown ? 52 : 30));
  $("pg-frame").textContent = `output cell (${o.join(", ")}), ${PG.frame + 1} of ${sc.frames}`;
  if (numbers) numbersFor(svg, numbers, g, sc, o, rows, cols, cell);
  highlightRow(PG.frame);
}

function step(by) {
  if (!PG.scene || !PG.scene.frames) return;
  PG.frame = (PG.frame + by + PG.scene.frames) % PG.scene.frames;
  drawFrame();
}

function togglePlay() {
  const button = $("pg-play");
  if (PG.timer) {
    clearInterval(PG.timer);
    PG.timer = null;
  } else {
    PG.timer = setInterval(() => step(1), 700);
  }
  button.textContent = PG.timer ? "Pause" : "Play";
  button.setAttribute("aria-pressed", PG.timer ? "true" : "false");
}

// The matrix of one channel pair: row = output cell, column = input cell, entry = kernel tap.
// Conv: output o reads input o*s + t*d - p_lo. Transposed: input y feeds output y*s + t*d - p_lo,
// which is the conv's matrix transposed.
function drawMatrix() {
  const svg = $("pg-matrix-svg"), g = PG.geometry, r = PG.result;
  svg.replaceChildren();
  const note = $("pg-matrix-note");
  svg.setAttribute("width", 0);    // nothing drawn takes no room (an empty svg is 300 x 150 by default)
  svg.setAttribute("height", 0);
  if (r.error !== undefined) {
    note.textContent = "";
    return;
  }
  const outs = r.output_shape.slice(1), ins = g.size;
  if (prod(outs) > MAX_MATRIX || prod(ins) > MAX_MATRIX) {
    note.textContent = `Shown when one channel has at most ${MAX_MATRIX} input and output cells (here ${prod(ins)} and ${prod(outs)}).`;
    return;
  }
  const nOut = prod(outs), nIn = prod(ins), taps = g.kernel ** g.dims, cell = Math.max(14, Math.min(26, Math.floor(640 / nIn)));
  const flat = (idx, sizes) => idx.reduce((f, v, a) => f * sizes[a] + v, 0);
  const entries = [];
  const [from, to] = g.transposed ? [ins, outs] : [outs, ins];
  for (let f = 0; f < prod(from); f++) {
    const p = unflatten(f, from);
    for (let t = 0; t < taps; t++) {
      const tap = unflatten(t, ins.map(() => g.kernel));
      const q = p.map((v, a) => v * g.stride + tap[a] * g.dilation - r.pads[a][0]);
      if (q.every((v, a) => v >= 0 && v < to[a])) {
        const row = g.transposed ? flat(q, outs) : f, col = g.transposed ? f : flat(q, ins);
        entries.push([row, col, t]);
      }
    }
  }
  for (let row = 0; row < nOut; row++) {
    svg.append(el("svg:rect", { x: 0, y: row * cell, width: nIn * cell, height: cell, class: "mrow", "data-row": row }));
  }
  for (const [row, col, t] of entries) {
    svg.append(el("svg:rect", { x: col * cell, y: row * cell, width: cell, height: cell, fill: OKABE_ITO[t % 8], class: "tap" }));
    const dark = [4, 5, 2, 6].includes(t % 8);   // white digits on the darker Okabe-Ito colours
    if (cell >= 16) svg.append(el("svg:text", { x: col * cell + cell / 2, y: row * cell + cell * 0.7, class: `tapnum${dark ? " light" : ""}`, text: t }));
  }
  svg.setAttribute("width", nIn * cell + 2);
  svg.setAttribute("height", nOut * cell + 2);
  note.textContent = `${nOut} x ${nIn}: one row per output cell, one column per input cell (one channel pair); ` +
    `entry t is kernel weight w_t (taps numbered row by row)${g.transposed ? "; a transposed convolution is C transposed: " +
    "this is its matrix, the columns of the forward convolution's C" : ""}. The highlighted row is the current output cell.`;
  highlightRow(PG.frame);
}

function highlightRow(row) {
  for (const r of document.querySelectorAll("#pg-matrix-svg .mrow")) {
    r.classList.toggle("current", Number(r.dataset.row) === row);
  }
}

function initPlayground() {
  for (const input of document.querySelectorAll("#pg-controls input, #pg-controls select")) {
    input.addEventListener("input", update);
    input.addEventListener("change", update);
  }
  $("pg-play").addEventListener("click", togglePlay);
  $("pg-step").addEventListener("click", () => step(1));
  $("pg-back").addEventListener("click", () => step(-1));
  const bad = replayChecks(DATA.checks);
  $("pg-check").textContent = `The page's arithmetic agrees with convscope on ${DATA.checks.length - bad.length} of ` +
    `${DATA.checks.length} settings checked when this page was written.`;
  $("pg-check").dataset.mismatches = bad.length;
  if (bad.length) console.error("explore: the page's arithmetic disagrees with convscope", JSON.stringify(bad.slice(0, 3)));
  update();
}
