// Values everywhere: the value under the pointer on every map, and the prediction as numbers
// (logits -> exponentials -> probabilities) with the chosen class marked.
"use strict";

// The value of cell [r, c] of a figure, with how exact it is: [text, value] or null.
function hoverValue(what, r, c) {
  const row = DATA.rows[M.row];
  if (what === "input") {
    if (!ACT) return null;
    const [rows, cols] = inputGrid(), x = unpack(ACT.input);
    return [`input (${(TWO_D ? [r, c] : [r, c]).join(", ")})`, x.value(r * cols + c), (x.hi - x.lo) / 510];
  }
  if (what === "saliency") {
    const s = M.saliencyShown;
    if (!s) return null;
    const cols = TWO_D ? IN_SHAPE[2] : IN_SHAPE[1];
    return [`saliency at input (${TWO_D ? `${r}, ${c}` : c})`, s.value((TWO_D ? r : 0) * cols + c), (s.hi - s.lo) / 510];
  }
  const [arr, offset] = shownMap(row), [rows, cols] = mapGrid(row), sp = spatialOf(row);
  if (!arr) return null;
  const unit = !sp.length ? [r * cols + c] : TWO_D ? [M.channel, r, c] : [r, c];
  const i = !sp.length ? unit[0] : offset + r * cols + c;
  if (!sp.length && i >= arr.shape[0]) return null;
  const entry = ACT.units && ACT.units.layers[row.name];
  if (entry) {   // the exact value when the page holds the layer's output
    const y = exactArray(ACT.units.arrays[entry.output]);
    return [`${row.name} unit (${unit.join(", ")})`, y.data[flatIndex(unit, y.shape)], 0];
  }
  return [`${row.name} unit (${unit.join(", ")})`, arr.value(i), (arr.hi - arr.lo) / 510];
}

function showHover(e) {
  const stack = e.currentTarget, what = stack.dataset.what;
  const [rows, cols] = what === "output" ? mapGrid(DATA.rows[M.row]) : what === "input" ? inputGrid()
    : TWO_D ? [IN_SHAPE[1], IN_SHAPE[2]] : [1, IN_SHAPE[1]];
  const [r, c] = cellAt(e, rows, cols), got = hoverValue(what, r, c);
  if (!got) return;
  const [label, v, err] = got;
  $("hover-value").textContent = `${label} = ${fmtNum(v)}${err ? ` (\u00b1${fmtNum(err)}: stored to 1/255 of the range)` : ""}`;
  $("hover-value").dataset.value = v;
}

// Softmax written out: each class's logit z, e^(z - max z), and that over the sum.
function softmaxTable(p, chosen) {
  const m = Math.max(...p.scores), exps = p.scores.map((z) => Math.exp(z - m)), total = exps.reduce((a, b) => a + b, 0);
  const table = el("table", { class: "numbers softmax", id: "softmax-table" },
    el("tr", {}, el("th", { text: "class" }), el("th", { text: "logit z" }), el("th", { text: `e^(z \u2212 ${fmtNum(m)})` }),
       el("th", { text: "probability" })));
  p.scores.forEach((z, i) => {
    const cls = [i === p.top ? "top" : "", String(i) === chosen ? "chosen" : ""].join(" ").trim();
    table.append(el("tr", { class: cls, "data-class": i }, el("td", { text: `${i}${i === p.top ? " \u2190 predicted" : ""}` }),
      el("td", { text: fmtNum(z) }), el("td", { text: fmtNum(exps[i]) }),
      el("td", { text: `${fmtNum(exps[i])} / ${fmtNum(total)} = ${(100 * exps[i] / total).toFixed(1)}%`, "data-prob": exps[i] / total })));
  });
  return table;
}

function drawPrediction() {
  const box = $("prediction");
  if (!ACT || !ACT.prediction) return;
  const p = ACT.prediction, chosen = M.classSaliency;
  const list = el("div", { class: "bars", role: "list" });
  p.probs.forEach((prob, i) => {
    const cls = `bar${i === p.top ? " top" : ""}${String(i) === chosen ? " chosen" : ""}`;
    list.append(el("button", { type: "button", class: cls, "data-class": i, "aria-pressed": String(String(i) === chosen),
                               onclick: () => chooseClass(i) },
      el("span", { class: "bar-label", text: String(i) }),
      el("span", { class: "bar-fill", style: `width:${(prob * 100).toFixed(1)}%` }),
      el("span", { class: "bar-value", text: `${(prob * 100).toFixed(1)}%` })));
  });
  const label = ACT.label === null ? "" : ` (the true label is ${ACT.label})`;
  box.replaceChildren(el("h3", { text: "Prediction: logits \u2192 exponentials \u2192 probabilities" }),
    el("p", { id: "prediction-text", text: `The model says ${p.top} with probability ${(p.probs[p.top] * 100).toFixed(1)}%${label}. ` +
              "Click a class to mark it and see the saliency of its score." }),
    el("div", { class: "prediction-views" }, list, softmaxTable(p, chosen), camFigure(chosen === null ? p.top : Number(chosen))));
}

// Grad-CAM of class k over the input: precomputed by convscope.analysis.cam for the page's input and
// the embedded samples, computed by the page (backward.js) for a drawing. The input in grey, the map
// in viridis on top, half transparent.
function camFigure(k) {
  const cam = ACT.cam;
  if (!cam || !DRAWN) return null;
  const maps = ACT.camMaps === undefined ? cam.maps : ACT.camMaps, at = cam.classes.indexOf(k);
  const row = DATA.rows.find((r) => r.name === cam.layer);
  if (maps && at >= 0) {
    const arr = unpack(maps), n = prod(IN_SHAPE.slice(1));
    return camPicture("cam", Float32Array.from({ length: n }, (_, i) => arr.value(at * n + i)), k, row, "");
  }
  if (ACT.program && M.input) return camPicture("cam", gradCam(currentTrace(), ACT.units.arrays, cam.layer, k), k, row, " (computed by this page)");
  return el("figure", { id: "cam-figure" }, el("figcaption", { id: "cam-caption", text: `${cam.method}: not precomputed for class ${k}` }),
    el("p", { class: "small", text: `${cam.method} maps are precomputed for the page's input and the test samples, ` +
      `classes ${cam.classes.join(", ")}.` }));
}

// A class-activation map (values in [0, 1], the input's spatial size) drawn over the input.
function camPicture(id, values, k, row, how) {
  const [rows, cols] = TWO_D ? inputGrid() : [1, IN_SHAPE[1]], arr = unpack(packArray(values, IN_SHAPE.slice(1)));
  const base = el("canvas", { class: "cam-base" }), over = el("canvas", { class: "cam-over" });
  if (TWO_D && IN_SHAPE[0] === 1) paint(base, unpack(ACT.input), 0, rows, cols, "grey");
  else blank(base, rows, cols, "#888888");
  paint(over, Object.assign({}, arr, { lo: 0, hi: 1, value: arr.value }), 0, rows, cols, "viridis");
  // a 1-D input's signal is drawn over its map, as the saliency's line
  const line = TWO_D ? null : el("svg:svg", { viewBox: `0 0 ${cols} 1`, preserveAspectRatio: "none" });
  if (line) linePlot(line, unpack(ACT.input), 0, 1, cols);
  const stack = el("div", { class: "stack cam-stack" }, base, over, line);
  sizeStack(stack, rows, cols, TWO_D ? 160 : 200, !TWO_D);
  const cam = ACT.cam;
  return el("figure", { id: `${id}-figure`, class: "cam-figure" },
    el("figcaption", { id: `${id}-caption`, text: `${cam.method} of class ${k} at ${layerTitle(row)}${how}`, "data-class": k,
                       "data-layer": row.name }), stack,
    legend(Object.assign({}, arr, { lo: 0, hi: 1 }), "viridis"),
    el("p", { class: "small", text: "Where the layer's evidence for the class lies: its maps weighted by the mean " +
      "gradient of the class score, summed, ReLU, scaled to [0, 1] and resized to the input (yellow: most)." }));
}

// In the unit view, the chosen layer's Grad-CAM of the marked (else predicted) class, when the page
// runs the model and the layer has maps.
function drawUnitCam(row) {
  const box = $("unit-cam");
  box.replaceChildren();
  if (!ACT || !ACT.program || !ACT.cam || !ACT.prediction || !spatialOf(row).length || !DRAWN) return;
  const k = M.classSaliency === null ? ACT.prediction.top : Number(M.classSaliency);
  box.append(camPicture("unit-cam", gradCam(currentTrace(), ACT.units.arrays, row.name, k), k, row, " (computed by this page)"));
}

function chooseClass(i) {
  M.classSaliency = ACT.class_saliency[i] || ACT.program ? String(i) : null;
  drawSaliency(DATA.rows[M.row]);
  drawUnitCam(DATA.rows[M.row]);
  drawPrediction();
  if (M.classSaliency === null) {
    $("saliency-caption").textContent = `saliency of class ${i}: not precomputed`;
  }
}
