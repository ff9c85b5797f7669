// Panel 2: the model explorer (layer table, maps, the unit's input box, saliency, kernels, prediction).
"use strict";

const M = { row: -1, channel: 0, unit: [], classSaliency: null };
const ACT = DATA.activations;
const IN_SHAPE = DATA.input_shape;            // (C, *spatial)
const TWO_D = IN_SHAPE.length === 3;
const DRAWN = IN_SHAPE.length <= 3;           // maps and boxes are drawn for 1-D and 2-D inputs

function spatialOf(row) {
  return row.output_shape.length === IN_SHAPE.length ? row.output_shape.slice(1) : [];
}

function rfText(values) {
  return values.length && values[0] === null ? "all" : values.join(" x ");
}

// One value when every axis agrees (the usual case), else one per axis.
function rfCompact(values) {
  if (!values.length) return "";
  return values[0] === null ? "all" : values.every((v) => v === values[0]) ? values[0] : values.join("x");
}

// The grid a figure draws: 2-D maps are H x W; 1-D ones are channels x length.
function inputGrid() {
  return TWO_D ? [IN_SHAPE[1], IN_SHAPE[2]] : [IN_SHAPE[0], IN_SHAPE[1]];
}

function sizeStack(stack, rows, cols, maxPx) {
  const px = Math.max(1, Math.min(40, Math.floor(maxPx / Math.max(rows, cols))));
  // 1-D strips (few rows, many columns) get taller rows, so a signal stays visible
  const rowPx = TWO_D ? px : Math.max(px, Math.min(40, Math.floor(120 / rows)));
  stack.style.width = `${cols * px}px`;
  stack.style.height = `${rows * rowPx}px`;
  return px;
}

function gridLines(svg, rows, cols) {
  if (Math.max(rows, cols) > 40) return;
  for (let r = 1; r < rows; r++) svg.append(el("svg:line", { x1: 0, x2: cols, y1: r, y2: r, class: "grid" }));
  for (let c = 1; c < cols; c++) svg.append(el("svg:line", { y1: 0, y2: rows, x1: c, x2: c, class: "grid" }));
}

function blank(canvas, rows, cols) {
  canvas.width = cols;
  canvas.height = rows;
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#eeeeee";
  ctx.fillRect(0, 0, cols, rows);
}

function drawInput() {
  const [rows, cols] = inputGrid(), canvas = $("input-canvas");
  sizeStack($("input-stack"), rows, cols, 200);
  if (!ACT) {
    blank(canvas, rows, cols);
    $("input-note").textContent = `(${IN_SHAPE.join(" x ")}; no input drawn)`;
    return;
  }
  const x = unpack(ACT.input);
  if (TWO_D && IN_SHAPE[0] === 3) {          // colour: the three channels as RGB, scaled to the range
    canvas.width = cols;
    canvas.height = rows;
    const ctx = canvas.getContext("2d"), img = ctx.createImageData(cols, rows), n = rows * cols;
    for (let i = 0; i < n; i++) {
      img.data.set([x.bytes[i], x.bytes[n + i], x.bytes[2 * n + i], 255], i * 4);
    }
    ctx.putImageData(img, 0, 0);
  } else {
    paint(canvas, x, 0, rows, cols, TWO_D ? "grey" : undefined);
  }
  $("input-note").textContent = `(${ACT.input_note})`;
}

// Indentation shows the nesting, so a row shows its name within its block ("body.0" -> "0").
function shortName(row) {
  const parts = row.name.split(".");
  return parts.slice(Math.min(row.depth, parts.length - 1)).join(".");
}

function buildTable() {
  const body = document.querySelector("#layer-table tbody");
  DATA.rows.forEach((row, k) => {
    const tr = el("tr", { class: row.group ? "group" : "layer", "data-index": k, "data-name": row.name },
      el("td", { style: `padding-left:${0.4 + row.depth * 0.7}em`, text: shortName(row), title: row.name }), el("td", { text: row.kind }),
      el("td", { text: row.output_shape.join("x") }), el("td", { class: "num", text: row.params ? fmtShort(row.params) : "", title: fmtInt(row.params) }),
      el("td", { class: "num", text: row.macs ? fmtShort(row.macs) : "", title: fmtInt(row.macs) }), el("td", { text: row.rf_size.length && row.rf_size[0] === null ? "all" :
      [row.rf_size, row.rf_jump, row.rf_start].map(rfCompact).filter((t) => t !== "").join(" / ") }));
    if (!row.group) {
      tr.tabIndex = 0;
      tr.addEventListener("click", () => selectRow(k));
      tr.addEventListener("keydown", (e) => rowKey(e, k));
    }
    body.append(tr);
  });
  $("totals").textContent = `${fmtInt(DATA.totals.params)} trainable parameters, ${fmtInt(DATA.totals.macs)} MACs per sample.`;
}

function rowKey(e, k) {
  const rows = [...document.querySelectorAll("#layer-table tr.layer")];
  const at = rows.findIndex((tr) => Number(tr.dataset.index) === k);
  let next = null;
  if (e.key === "ArrowDown") next = rows[at + 1];
  else if (e.key === "ArrowUp") next = rows[at - 1];
  else if (e.key === "Enter" || e.key === " ") {
    selectRow(k);
    e.preventDefault();
    return;
  } else return;
  e.preventDefault();
  if (next) {
    next.focus();
    selectRow(Number(next.dataset.index));
  }
}

function layerAct(row) {
  return ACT && ACT.layers[row.name] ? ACT.layers[row.name] : null;
}

function selectRow(k) {
  M.row = k;
  const row = DATA.rows[k];
  for (const tr of document.querySelectorAll("#layer-table tr")) tr.classList.toggle("selected", Number(tr.dataset.index) === k);
  const sp = spatialOf(row);
  M.channel = 0;
  M.unit = sp.map((n) => Math.floor((n - 1) / 2));
  if (!sp.length) M.unit = [0];
  $("layer-head").textContent = `${row.name} (${row.kind}): output ${row.output_shape.join(" x ")}, receptive field ` +
    `${rfText(row.rf_size)}, jump ${rfText(row.rf_jump)}, start ${rfText(row.rf_start)}`;
  $("layer-notes").textContent = row.notes.join("; ");
  if (!DRAWN) return;
  drawChannels(row);
  drawKernels(row);
  drawUnit();
}

// The number of channels whose maps the page holds for this layer (all of them for the box alone).
function channelsShown(row) {
  const a = layerAct(row);
  return a && a.maps ? a.maps.shape[0] : row.output_shape[0];
}

function mapGrid(row) {
  const sp = spatialOf(row);
  if (!sp.length) return [1, Math.min(row.output_shape[0] || 1, 256)];
  return TWO_D ? sp : [channelsShown(row), sp[0]];
}

function drawMap(row) {
  const a = layerAct(row), [rows, cols] = mapGrid(row), canvas = $("map-canvas");
  sizeStack($("map-stack"), rows, cols, 200);
  if (a && a.maps) {
    const maps = unpack(a.maps);
    paint(canvas, maps, TWO_D ? M.channel * rows * cols : 0, rows, cols);
  } else if (a && a.vector) {
    paint(canvas, unpack(a.vector), 0, 1, a.vector.shape[0]);
  } else {
    blank(canvas, rows, cols);
  }
  $("channel-label").textContent = TWO_D && spatialOf(row).length ? `${M.channel} / ${row.output_shape[0]}` : "(all)";
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

function drawUnit() {
  const row = DATA.rows[M.row];
  drawMap(row);
  for (const b of document.querySelectorAll("#channels button")) b.classList.toggle("selected", Number(b.dataset.channel) === M.channel);
  const [rows, cols] = inputGrid(), svg = $("input-svg");
  svg.setAttribute("viewBox", `0 0 ${cols} ${rows}`);
  svg.setAttribute("preserveAspectRatio", "none");
  svg.replaceChildren();
  gridLines(svg, rows, cols);
  const sp = spatialOf(row), box = unitBox(row);
  let text;
  if (box) {
    const [r0, r1] = TWO_D ? box[0] : [0, rows - 1], [c0, c1] = TWO_D ? box[1] : box[0];
    svg.append(el("svg:rect", { x: c0, y: r0, width: c1 - c0 + 1, height: r1 - r0 + 1, class: "box-halo" }),
               el("svg:rect", { id: "rf-box", x: c0, y: r0, width: c1 - c0 + 1, height: r1 - r0 + 1, class: "box" }));
    const where = TWO_D ? `rows ${r0} to ${r1}, columns ${c0} to ${c1}` : `positions ${c0} to ${c1}`;
    text = `unit (${[M.channel, ...M.unit].join(", ")}) of ${row.name} sees input ${where} ` +
           `(${box.map(([lo, hi]) => hi - lo + 1).join(" x ")} cells)`;
  } else if (!sp.length) {
    svg.append(el("svg:rect", { id: "rf-box", x: 0, y: 0, width: cols, height: rows, class: "box" }));
    text = `every unit of ${row.name} sees the whole input`;
  } else {
    text = `${row.name} is not a module of the model (an operation between layers): pick a layer to see boxes`;
  }
  $("unit-info").textContent = text;
  drawUnitMarker(row);
  drawSaliency(row);
}

function drawUnitMarker(row) {
  const [rows, cols] = mapGrid(row), svg = $("map-svg"), sp = spatialOf(row);
  svg.setAttribute("viewBox", `0 0 ${cols} ${rows}`);
  svg.setAttribute("preserveAspectRatio", "none");
  svg.replaceChildren();
  gridLines(svg, rows, cols);
  const a = layerAct(row);
  const every = a && a.saliency && Object.keys(a.saliency).length === prod(spatialOf(row));
  if (a && a.saliency && !every && (M.channel === 0 || !TWO_D)) {
    for (const key of Object.keys(a.saliency)) {
      const p = key.split(",").map(Number);
      const [r, c] = TWO_D ? p : [0, p[0]];
      svg.append(el("svg:circle", { cx: c + 0.5, cy: r + 0.5, r: 0.12, class: "dot" }));
    }
  }
  const [r, c] = !sp.length ? [0, M.unit[0]] : TWO_D ? M.unit : [M.channel, M.unit[0]];
  svg.append(el("svg:rect", { id: "unit-box", x: c, y: r, width: 1, height: 1, class: "unit" }));
}

function drawSaliency(row) {
  const canvas = $("saliency-canvas"), note = $("saliency-note"), fig = $("saliency-figure");
  fig.hidden = !ACT;
  if (!ACT) return;
  const a = layerAct(row), key = M.unit.join(",");
  const [rows, cols] = TWO_D ? [IN_SHAPE[1], IN_SHAPE[2]] : [1, IN_SHAPE[1]];
  sizeStack(canvas.parentElement, rows, cols, 200);
  let packed = null;
  if (M.classSaliency !== null) {
    packed = ACT.class_saliency[M.classSaliency];
    note.textContent = `d(score of class ${M.classSaliency}) / d(input). ${ACT.saliency_note}.`;
  } else if (a && a.saliency && a.saliency[key] && (M.channel === 0 || !TWO_D)) {
    packed = a.saliency[key];
    note.textContent = `d(unit) / d(input): orange pushes the unit up, purple down. ${ACT.saliency_note}.`;
  } else {
    note.textContent = `Not precomputed for this unit (dots mark the units that have one). ${ACT.saliency_note}.`;
  }
  if (packed) paint(canvas, unpack(packed), 0, rows, cols);
  else blank(canvas, rows, cols);
}

function mapClick(e) {
  const row = DATA.rows[M.row], [rows, cols] = mapGrid(row), rect = e.currentTarget.getBoundingClientRect();
  const r = Math.min(rows - 1, Math.floor(((e.clientY - rect.top) / rect.height) * rows));
  const c = Math.min(cols - 1, Math.floor(((e.clientX - rect.left) / rect.width) * cols));
  const sp = spatialOf(row);
  M.classSaliency = null;
  if (!sp.length) M.unit = [c];
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
    if (TWO_D && sp.length) {
      M.unit = [Math.max(0, Math.min(sp[0] - 1, M.unit[0] + dr)), Math.max(0, Math.min(sp[1] - 1, M.unit[1] + dc))];
    } else {
      const n = sp.length ? sp[0] : mapGrid(row)[1];
      M.unit = [Math.max(0, Math.min(n - 1, M.unit[0] + dc))];
      if (sp.length) M.channel = Math.max(0, Math.min(channelsShown(row) - 1, M.channel + dr));
    }
  } else return;
  e.preventDefault();
  M.classSaliency = null;
  drawUnit();
}

function drawKernels(row) {
  const box = $("kernels");
  box.replaceChildren();
  if (!row.kernels || !ACT) return;
  const k = unpack(row.kernels.weights), [o, c, ...ks] = k.shape;
  const [kh, kw] = ks.length === 2 ? ks : [1, ks[0]], cells = kh * kw;
  // one column per filter, one row per input channel: a 1-channel first layer reads as one row
  const grid = el("div", { class: "kernel-grid", style: `grid-template-columns: repeat(${o}, auto)` });
  const px = Math.max(4, Math.min(13, Math.floor(40 / Math.max(kh, kw))));
  for (let i = 0; i < c; i++) {
    for (let f = 0; f < o; f++) {
      const canvas = el("canvas", { class: "kernel", title: `filter ${f}, input channel ${i}` });
      paint(canvas, k, (f * c + i) * cells, kh, kw, "puor");
      canvas.style.width = `${px * kw}px`;
      canvas.style.height = `${px * kh}px`;
      grid.append(canvas);
    }
  }
  box.append(el("h3", { text: `Kernels of ${row.name}` }),
             el("p", { class: "small", text: `Columns: filters; rows: input channels${row.kernels.transposed ? " (a transposed conv's weight is in x out)" : ""}. ` +
                       `Orange weights add, purple subtract, white is zero. Shape ${row.kernels.full_shape.join(" x ")}` +
                       `${row.kernels.note ? "; " + row.kernels.note : ""}.` }), grid);
}

function drawPrediction() {
  const box = $("prediction");
  if (!ACT || !ACT.prediction) return;
  const p = ACT.prediction, order = p.probs.map((v, i) => i);
  const list = el("div", { class: "bars", role: "list" });
  for (const i of order) {
    const bar = el("button", { type: "button", class: `bar${i === p.top ? " top" : ""}`, "data-class": i,
                               onclick: () => { M.classSaliency = ACT.class_saliency[i] ? String(i) : null; drawSaliency(DATA.rows[M.row]); } },
      el("span", { class: "bar-label", text: String(i) }),
      el("span", { class: "bar-fill", style: `width:${(p.probs[i] * 100).toFixed(1)}%` }),
      el("span", { class: "bar-value", text: `${(p.probs[i] * 100).toFixed(1)}%` }));
    list.append(bar);
  }
  const label = ACT.label === null ? "" : ` (the true label is ${ACT.label})`;
  box.append(el("h3", { text: "Prediction" }),
             el("p", { id: "prediction-text", text: `The model says ${p.top} with probability ${(p.probs[p.top] * 100).toFixed(1)}%${label}. ` +
                       "Click a class to see the saliency of its score." }), list);
}

function initModel() {
  $("status").textContent = `Weights: ${DATA.weights}. ${DATA.status}`;
  buildTable();
  if (!DRAWN) {
    document.querySelector("#viewer .figures").hidden = true;
    $("unit-info").textContent = `The input is ${IN_SHAPE.length - 1}-D: the page draws maps and input boxes for 1-D and ` +
      "2-D inputs only; the table's shapes, counts and receptive fields are exact.";
  } else drawInput();
  drawPrediction();
  $("map-stack").addEventListener("click", mapClick);
  $("map-stack").addEventListener("keydown", mapKey);
  const first = DATA.rows.findIndex((r) => r.boxes) >= 0 ? DATA.rows.findIndex((r) => r.boxes)
                                                        : DATA.rows.findIndex((r) => !r.group);
  if (first >= 0) selectRow(first);
}

initPlayground();
initModel();
