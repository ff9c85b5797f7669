// The student's own input: embedded test samples to switch between and, for one-channel images, a
// canvas to draw on. The page runs the model itself (forward.js) and every view follows; saliency
// maps are convscope's, for the input the page was written with, and say so for any other.
"use strict";

const INPUTS = { original: null, drawn: null };

// A Float32Array packed as pack.py packs (bytes for lo..hi), so the views draw it like any other map.
function packArray(data, shape) {
  let lo = Infinity, hi = -Infinity;
  for (const v of data) if (Number.isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  if (lo === Infinity) lo = hi = 0;
  const scale = hi - lo || 1, chars = [];
  for (const v of data) chars.push(String.fromCharCode(Math.max(0, Math.min(255, Math.round((v - lo) / scale * 255)))));
  return { shape: shape, lo: lo, hi: hi, b64: btoa(chars.join("")) };
}

function remember() {
  const layers = {};
  for (const [name, a] of Object.entries(ACT.layers)) layers[name] = Object.assign({}, a);
  INPUTS.original = { input: ACT.input, note: ACT.input_note, label: ACT.label, prediction: ACT.prediction,
                      classSaliency: ACT.class_saliency, layers: layers, arrays: ACT.units.arrays.slice() };
}

function restoreOriginal() {
  const o = INPUTS.original;
  Object.assign(ACT, { input: o.input, input_note: o.note, label: o.label, prediction: o.prediction,
                       class_saliency: o.classSaliency });
  for (const [name, a] of Object.entries(o.layers)) ACT.layers[name] = Object.assign({}, a);
  ACT.units.arrays = o.arrays.slice();
  M.input = null;
  M.trace = null;
  delete ACT.camMaps;
}

// Run x through the model and put its numbers where every view reads them.
function useInput(x, label, note, cam) {
  const trace = runProgram(ACT.program, ACT.units.arrays, x), arrays = ACT.units.arrays;
  for (const t of trace) {
    const a = ACT.layers[t.name], entry = ACT.units.layers[t.name];
    if (a && a.maps) {
      const [keep, ...sp] = a.maps.shape;
      a.maps = packArray(t.output.subarray(0, keep * prod(sp)), a.maps.shape);
    } else if (a && a.vector) {
      a.vector = packArray(t.output.subarray(0, a.vector.shape[0]), a.vector.shape);
    }
    if (entry) {
      arrays[entry.input] = { shape: t.inputShape, data: t.input };
      arrays[entry.output] = { shape: t.shape, data: t.output };
    }
    for (const e of Object.values(ACT.units.layers)) {
      if (e.after && e.after.name === t.name) arrays[e.after.output] = { shape: t.shape, data: t.output };
    }
  }
  const z = Array.from(trace[trace.length - 1].output), m = Math.max(...z), e = z.map((v) => Math.exp(v - m));
  const total = e.reduce((s, v) => s + v, 0), probs = e.map((v) => v / total);
  Object.assign(ACT, { input: packArray(x, IN_SHAPE), input_note: note, label: label, class_saliency: {},
                       prediction: z.length > 1 ? { scores: z, probs: probs, top: probs.indexOf(Math.max(...probs)) } : null });
  M.input = x;
  M.trace = trace;
  ACT.camMaps = cam || null;
}

function chooseInput(button, run) {
  for (const b of document.querySelectorAll("#input-choices button")) b.setAttribute("aria-pressed", String(b === button));
  M.classSaliency = null;
  run();
  drawInput();
  drawPrediction();
  drawChannels(DATA.rows[M.row]);
  drawOverview();
  drawUnit();
}

// The drawing, averaged down to the model's input size, in [0, 1] like the bundled digits.
function drawnInput() {
  const canvas = $("draw-canvas"), [, h, w] = IN_SHAPE, size = canvas.width;
  const pixels = canvas.getContext("2d").getImageData(0, 0, size, size).data, x = new Float32Array(h * w);
  for (let py = 0; py < size; py++) {
    for (let px = 0; px < size; px++) {
      const cell = Math.floor((py * h) / size) * w + Math.floor((px * w) / size);
      x[cell] += pixels[(py * size + px) * 4] / 255;
    }
  }
  const per = (size * size) / (h * w);
  return x.map((v) => v / per);
}

function drawingPad() {
  const canvas = el("canvas", { id: "draw-canvas", width: 160, height: 160, "aria-label": "draw a digit here" });
  const ctx = canvas.getContext("2d");
  const clear = () => { ctx.fillStyle = "#000"; ctx.fillRect(0, 0, 160, 160); };
  clear();
  let down = false;
  const at = (e) => { const r = canvas.getBoundingClientRect(); return [(e.clientX - r.left) * 160 / r.width, (e.clientY - r.top) * 160 / r.height]; };
  canvas.addEventListener("pointerdown", (e) => { down = true; ctx.beginPath(); ctx.moveTo(...at(e)); });
  canvas.addEventListener("pointermove", (e) => {
    if (!down) return;
    Object.assign(ctx, { strokeStyle: "#fff", lineWidth: 22, lineCap: "round", lineJoin: "round" });
    ctx.lineTo(...at(e));
    ctx.stroke();
  });
  const done = () => {
    if (!down) return;
    down = false;
    chooseInput($("use-drawing"), () => useInput(drawnInput(), null, "your drawing, averaged to " +
      `${IN_SHAPE[1]}x${IN_SHAPE[2]} cells in [0, 1]`));
  };
  canvas.addEventListener("pointerup", done);
  canvas.addEventListener("pointerleave", done);
  return el("div", { class: "draw" }, canvas,
    el("div", {}, el("button", { type: "button", id: "use-drawing", "aria-pressed": "false", onclick: (e) =>
      chooseInput(e.currentTarget, () => useInput(drawnInput(), null, "your drawing")) }, "Use drawing"),
      el("button", { type: "button", onclick: clear }, "Clear")));
}

function initInputs() {
  const box = $("inputs");
  if (!ACT || !ACT.program) {
    box.hidden = true;
    return;
  }
  remember();
  const choices = el("div", { id: "input-choices", class: "buttons wrap" },
    el("button", { type: "button", "aria-pressed": "true", "data-sample": "original",
                   onclick: (e) => chooseInput(e.currentTarget, restoreOriginal) }, "page's input"));
  for (const s of ACT.samples) {
    choices.append(el("button", { type: "button", "aria-pressed": "false", "data-sample": s.index, title: `test sample ${s.index}`,
      onclick: (e) => chooseInput(e.currentTarget, () => useInput(exactArray(s.input).data, s.label,
        `test sample ${s.index} (label ${s.label}), run by this page`, s.cam)) }, String(s.label)));
  }
  const canDraw = TWO_D && IN_SHAPE[0] === 1;
  box.append(el("p", { class: "small", text: "Other inputs, run through the model by this page (it agrees with convscope " +
    "to 1e-5): a test sample of each class" + (canDraw ? ", or draw your own (white on black)." : ".") +
    " Saliency maps follow: the page differentiates its own forward pass." }), choices, canDraw ? drawingPad() : null);
}
