// Panel 2: the model explorer (layer table, maps, the unit's input box, saliency, kernels, prediction).
"use strict";

const M = { row: -1, channel: 0, unit: [], classSaliency: null, saliencyShown: null };
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

function sizeStack(stack, rows, cols, maxPx, lines) {
  const px = Math.max(1, Math.min(40, Math.floor(maxPx / Math.max(rows, cols))));
  // 1-D strips (few rows, many columns) get taller rows, so a signal stays visible; line plots taller still
  const rowPx = TWO_D ? px : lines ? Math.max(24, Math.min(110, Math.floor(220 / rows)))
                               : Math.max(px, Math.min(40, Math.floor(120 / rows)));
  stack.style.width = `${cols * px}px`;
  stack.style.height = `${rows * rowPx}px`;
  return px;
}

function gridLines(svg, rows, cols) {
  if (Math.max(rows, cols) > 40) return;
  for (let r = 1; r < rows; r++) svg.append(el("svg:line", { x1: 0, x2: cols, y1: r, y2: r, class: "grid" }));
  for (let c = 1; c < cols; c++) svg.append(el("svg:line", { y1: 0, y2: rows, x1: c, x2: c, class: "grid" }));
}

function blank(canvas, rows, cols, colour) {
  canvas.width = cols;
  canvas.height = rows;
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = colour || "#eeeeee";
  ctx.fillRect(0, 0, cols, rows);
}

function drawInput() {
  const [rows, cols] = inputGrid(), canvas = $("input-canvas");
  sizeStack($("input-stack"), rows, cols, 200, !TWO_D);
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
  } else if (TWO_D) {
    paint(canvas, x, 0, rows, cols, "grey");
  } else {
    blank(canvas, rows, cols, "#ffffff");   // the signal is a line, drawn with the box in drawUnit
  }
  // a grey image gets its scale; an RGB one shows its colours as they are, a 1-D one is a line
  $("input-legend").replaceChildren(TWO_D && IN_SHAPE[0] !== 3 ? legend(x, "grey") : "");
  $("input-note").textContent = `(${ACT.input_note})`;
}

// A layer as the model names it: "conv1 (Conv2d)"; an unnamed layer of a chain is its kind and
// position there, "MaxPool2d, layer 5", as `model.layer("5")` finds it.
function layerTitle(row) {
  const last = row.name.split(".").pop();
  return /^\d+$/.test(last) ? `${row.kind}, layer ${row.name}` : `${row.name} (${row.kind})`;
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
  $("layer-head").textContent = `${layerTitle(row)}: output ${row.output_shape.join(" x ")}, receptive field ` +
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

function initModel() {
  $("status").textContent = `Weights: ${DATA.weights}. ${DATA.status}`;
  buildTable();
  if (!DRAWN) {
    document.querySelector("#viewer .figures").hidden = true;
    $("unit-info").textContent = `The input is ${IN_SHAPE.length - 1}-D: the page draws maps and input boxes for 1-D and ` +
      "2-D inputs only; the table's shapes, counts and receptive fields are exact.";
  } else drawInput();
  drawPrediction();
  initInputs();
  $("hover-value").hidden = !ACT;   // without activations there are no values to read
  $("map-stack").addEventListener("click", mapClick);
  $("map-stack").addEventListener("keydown", mapKey);
  for (const stack of document.querySelectorAll(".stack.hover")) stack.addEventListener("mousemove", showHover);
  const first = DATA.rows.findIndex((r) => r.boxes) >= 0 ? DATA.rows.findIndex((r) => r.boxes)
                                                        : DATA.rows.findIndex((r) => !r.group);
  drawOverview();
  if (first >= 0) selectRow(first);
}

initPlayground();
initModel();
