// The chosen layer's figures: its map (2-D per channel, 1-D channels x length, vectors in rows of 16),
// the unit's input box on the input, its saliency, and moving the unit by pointer or keyboard.
"use strict";

// Vectors (flatten, dense, a model's scores) wrap into rows of 16 cells, so each cell is big enough to click.
const VECTOR_COLS = 16;

function vectorLength(row) {
  return Math.min(prod(row.output_shape) || 1, 256);
}

function mapGrid(row) {
  const sp = spatialOf(row);
  if (!sp.length) {
    const n = vectorLength(row);
    return [Math.ceil(n / VECTOR_COLS), Math.min(n, VECTOR_COLS)];
  }
  return TWO_D ? sp : [channelsShown(row), sp[0]];
}

// The packed array a map shows and the offset of its first cell.
function shownMap(row) {
  const a = layerAct(row);
  if (a && a.maps) return [unpack(a.maps), TWO_D ? M.channel * prod(spatialOf(row)) : 0];
  if (a && a.vector) return [unpack(a.vector), 0];
  return [null, 0];
}

function drawMap(row) {
  const a = layerAct(row), [rows, cols] = mapGrid(row), canvas = $("map-canvas"), [arr, offset] = shownMap(row);
  sizeStack($("map-stack"), rows, cols, 200);
  if (arr && a.vector) {
    const n = arr.shape[0], padded = Object.assign({}, arr, { value: (i) => arr.value(Math.min(i, n - 1)) });
    paint(canvas, padded, 0, rows, cols);
    const ctx = canvas.getContext("2d");   // cells past the end of the vector stay blank
    ctx.fillStyle = "#ffffff";
    for (let i = n; i < rows * cols; i++) ctx.fillRect(i % cols, Math.floor(i / cols), 1, 1);
  } else if (arr) {
    paint(canvas, arr, offset, rows, cols);
  } else {
    blank(canvas, rows, cols);
  }
  $("map-legend").replaceChildren(arr ? legend(arr) : "");
  $("channel-label").textContent = TWO_D && spatialOf(row).length ? `channel ${M.channel} of ${row.output_shape[0]}` : "";
  $("maps-note").textContent = a ? (a.note ? `Maps: ${a.note}.` : "") : (ACT ? "" : "No activations: " + DATA.status);
}

function drawChannels(row) {
  const box = $("channels"), a = layerAct(row);
  box.replaceChildren();
  if (!a || !a.maps || !TWO_D) return;
  const maps = unpack(a.maps), [h, w] = spatialOf(row);
  for (let c = 0; c < maps.shape[0]; c++) {
    const canvas = el("canvas", { class: "thumb" });
    paint(canvas, maps, c * h * w, h, w);
    const button = el("button", { type: "button", class: `thumb-button${c === M.channel ? " selected" : ""}`,
                                  "aria-label": `channel ${c}`, title: `channel ${c}`, "data-channel": c,
                                  onclick: () => { M.channel = c; drawUnit(); } }, canvas);
    box.append(button);
  }
}

// The unit's input box: per spatial axis, the [first, last] cells receptive_region returned.
function unitBox(row) {
  const sp = spatialOf(row);
  if (!sp.length || !row.boxes) return null;
  return row.boxes.map((axis, a) => axis[M.unit[a]]);
}

// The unit as convscope indexes it: (channel, *position), or (feature) of a vector.
function unitIndex(row) {
  return spatialOf(row).length ? [M.channel, ...M.unit] : [M.unit[0]];
}

function drawUnit() {
  const row = DATA.rows[M.row];
  drawMap(row);
  for (const b of document.querySelectorAll("#channels button")) b.classList.toggle("selected", Number(b.dataset.channel) === M.channel);
  const [rows, cols] = inputGrid(), svg = $("input-svg");
  svg.setAttribute("viewBox", `0 0 ${cols} ${rows}`);
  svg.setAttribute("preserveAspectRatio", "none");
  svg.replaceChildren();
  if (TWO_D) gridLines(svg, rows, cols);
  else if (ACT) linePlot(svg, unpack(ACT.input), 0, rows, cols);
  const sp = spatialOf(row), box = unitBox(row);
  let text;
  if (box) {
    const [r0, r1] = TWO_D ? box[0] : [0, rows - 1], [c0, c1] = TWO_D ? box[1] : box[0];
    svg.append(el("svg:rect", { x: c0, y: r0, width: c1 - c0 + 1, height: r1 - r0 + 1, class: "box-halo" }),
               el("svg:rect", { id: "rf-box", x: c0, y: r0, width: c1 - c0 + 1, height: r1 - r0 + 1, class: "box" }));
    const where = TWO_D ? `rows ${r0} to ${r1}, columns ${c0} to ${c1}` : `positions ${c0} to ${c1}`;
    text = `unit (${unitIndex(row).join(", ")}) of ${row.name} sees input ${where} ` +
           `(${box.map(([lo, hi]) => hi - lo + 1).join(" x ")} cells)`;
  } else if (!sp.length) {
    svg.append(el("svg:rect", { id: "rf-box", x: 0, y: 0, width: cols, height: rows, class: "box" }));
    text = `unit (${M.unit[0]}) of ${row.name}: every unit sees the whole input`;
  } else {
    text = `${row.name} is not a module of the model (an operation between layers): pick a layer to see boxes`;
  }
  $("unit-info").textContent = text;
  drawUnitMarker(row);
  drawSaliency(row);
  drawUnitCam(row);
  drawArithmetic(row);
  markOverview();
}

// The precomputed saliency map of the chosen unit: [map, "c,i,j"], or null when it has none.
function unitSaliency(row) {
  const s = (layerAct(row) || {}).saliency;
  if (!s || !spatialOf(row).length || M.channel >= s.channels) return null;
  const at = s.positions.indexOf(M.unit.join(","));
  return at < 0 ? null : [unpackEach(s.maps, M.channel * s.positions.length + at), unitIndex(row).join(",")];
}

function drawUnitMarker(row) {
  const [rows, cols] = mapGrid(row), svg = $("map-svg"), sp = spatialOf(row);
  svg.setAttribute("viewBox", `0 0 ${cols} ${rows}`);
  svg.setAttribute("preserveAspectRatio", "none");
  svg.replaceChildren();
  gridLines(svg, rows, cols);
  const s = (layerAct(row) || {}).saliency;
  if (s && !ACT.program && s.positions.length < prod(sp)) {   // dots mark the positions that have a saliency map
    for (const ch of TWO_D ? [M.channel] : [...Array(s.channels).keys()]) {
      if (ch >= s.channels) continue;
      for (const key of s.positions) {
        const p = key.split(",").map(Number), [r, c] = TWO_D ? p : [ch, p[0]];
        svg.append(el("svg:circle", { cx: c + 0.5, cy: r + 0.5, r: 0.12, class: "dot" }));
      }
    }
  }
  const [r, c] = !sp.length ? [Math.floor(M.unit[0] / cols), M.unit[0] % cols] : TWO_D ? M.unit : [M.channel, M.unit[0]];
  svg.append(el("svg:rect", { id: "unit-box", x: c, y: r, width: 1, height: 1, class: "unit" }));
}

function drawSaliency(row) {
  const canvas = $("saliency-canvas"), svg = $("saliency-svg"), note = $("saliency-note"), fig = $("saliency-figure");
  fig.hidden = !ACT;
  if (!ACT) return;
  const [rows, cols] = TWO_D ? [IN_SHAPE[1], IN_SHAPE[2]] : [1, IN_SHAPE[1]];
  sizeStack(canvas.parentElement, rows, cols, 200, !TWO_D);
  svg.setAttribute("viewBox", `0 0 ${cols} ${rows}`);
  svg.setAttribute("preserveAspectRatio", "none");
  svg.replaceChildren();
  let packed = null, caption;
  const live = pageSaliency(row);
  const found = M.classSaliency === null && !live ? unitSaliency(row) : null;
  if (live) {
    [packed, caption] = [live.map, live.caption];
    note.textContent = `${live.what}, by this page's own backward pass for the input shown (it agrees with ` +
      "cs.saliency to 1e-5). Orange pushes it up, purple down.";
    canvas.dataset.unit = live.key;
  } else if (M.classSaliency !== null) {
    packed = unpack(ACT.class_saliency[M.classSaliency]);
    caption = `saliency of class ${M.classSaliency}`;
    note.textContent = `d(score of class ${M.classSaliency}) / d(input). ${ACT.saliency_note}.`;
  } else if (found) {
    [packed, caption] = [found[0], `saliency of unit (${found[1].split(",").join(", ")})`];
    note.textContent = `d(unit) / d(input): orange pushes the unit up, purple down. ${ACT.saliency_note}.`;
  } else {
    caption = M.input ? "saliency: page's input only" : "saliency: not precomputed";
    note.textContent = M.input ? "Saliency maps are convscope's backward passes, computed when the page was written, for its own input. " +
      "Choose \"page's input\" to see them." : `No saliency map for unit (${unitIndex(row).join(", ")})${spatialOf(row).length ? " (dots mark the units that have one)" : ""}. ${ACT.saliency_note}.`;
  }
  $("saliency-caption").textContent = caption;
  if (!live) canvas.dataset.unit = found ? found[1] : M.classSaliency !== null ? `class ${M.classSaliency}` : "";
  if (packed && TWO_D) paint(canvas, packed, 0, rows, cols);
  else blank(canvas, rows, cols, packed ? "#ffffff" : undefined);
  if (packed && !TWO_D) linePlot(svg, packed, 0, rows, cols);
  $("saliency-legend").replaceChildren(packed ? legend(packed) : "");
  M.saliencyShown = packed;
}

// The map cell under a pointer event: [row, column] of the map's grid.
function cellAt(e, rows, cols) {
  const rect = e.currentTarget.getBoundingClientRect();
  return [Math.max(0, Math.min(rows - 1, Math.floor(((e.clientY - rect.top) / rect.height) * rows))),
          Math.max(0, Math.min(cols - 1, Math.floor(((e.clientX - rect.left) / rect.width) * cols)))];
}

function mapClick(e) {
  const row = DATA.rows[M.row], [rows, cols] = mapGrid(row), [r, c] = cellAt(e, rows, cols);
  const sp = spatialOf(row);
  M.classSaliency = null;
  if (!sp.length) M.unit = [Math.min(vectorLength(row) - 1, r * cols + c)];
  else if (TWO_D) M.unit = [r, c];
  else { M.channel = r; M.unit = [c]; }
  drawUnit();
}

function mapKey(e) {
  const row = DATA.rows[M.row], sp = spatialOf(row);
  const moves = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] };
  if (e.key === "+" || e.key === "-") {
    const n = channelsShown(row);
    M.channel = (M.channel + (e.key === "+" ? 1 : n - 1)) % n;
  } else if (moves[e.key]) {
    const [dr, dc] = moves[e.key];
    if (!sp.length) {
      M.unit = [Math.max(0, Math.min(vectorLength(row) - 1, M.unit[0] + dr * VECTOR_COLS + dc))];
    } else if (TWO_D) {
      M.unit = [Math.max(0, Math.min(sp[0] - 1, M.unit[0] + dr)), Math.max(0, Math.min(sp[1] - 1, M.unit[1] + dc))];
    } else {
      M.unit = [Math.max(0, Math.min(sp[0] - 1, M.unit[0] + dc))];
      M.channel = Math.max(0, Math.min(channelsShown(row) - 1, M.channel + dr));
    }
  } else return;
  e.preventDefault();
  M.classSaliency = null;
  drawUnit();
}

// The forward trace of the input shown (the page's own, a sample or a drawing), run once per input.
function currentTrace() {
  if (!M.trace) M.trace = runProgram(ACT.program, ACT.units.arrays, M.input || exactArray(ACT.exact_input).data);
  return M.trace;
}

// Saliency computed here for any unit or class when the page runs the model: {map, caption, what, key}.
function pageSaliency(row) {
  if (!ACT || !ACT.program) return null;
  const trace = currentTrace(), last = trace[trace.length - 1];
  if (M.classSaliency !== null) {
    const k = Number(M.classSaliency);
    return { map: saliencyMap(gradientOf(trace, ACT.units.arrays, last.name, k)), key: `class ${k}`,
             caption: `saliency of class ${k}`, what: `d(score of class ${k}) / d(input)` };
  }
  const t = trace.find((s) => s.name === row.name);
  if (!t) return null;
  const unit = unitIndex(row), key = unit.join(",");
  const g = gradientOf(trace, ACT.units.arrays, row.name, flatIndex(unit, t.shape.length ? t.shape : [1]));
  return { map: saliencyMap(g), key: key, caption: `saliency of unit (${unit.join(", ")})`, what: "d(unit) / d(input)" };
}
