// Shared helpers: the embedded data, colour maps (colour-blind safe), packed arrays, SVG and DOM.
"use strict";

const DATA = JSON.parse(document.getElementById("explore-data").textContent);
const SVGNS = "http://www.w3.org/2000/svg";

// viridis (sequential) and PuOr (diverging): both readable with the common colour-vision deficiencies
const VIRIDIS = [[0, "#440154"], [0.25, "#3b528b"], [0.5, "#21918c"], [0.75, "#5ec962"], [1, "#fde725"]];
const PUOR = [[0, "#542788"], [0.25, "#998ec3"], [0.5, "#f7f7f7"], [0.75, "#f1a340"], [1, "#b35806"]];
// Okabe-Ito: eight colours that stay distinct for colour-blind readers (the kernel taps in matrix C)
const OKABE_ITO = ["#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#999999"];

function hexRgb(h) {
  return [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16));
}

function makeLut(anchors) {
  const lut = new Uint8ClampedArray(256 * 3);
  for (let q = 0; q < 256; q++) {
    const t = q / 255;
    let a = 0;
    while (a < anchors.length - 2 && t > anchors[a + 1][0]) a++;
    const [t0, c0] = anchors[a], [t1, c1] = anchors[a + 1];
    const f = (t - t0) / (t1 - t0), x = hexRgb(c0), y = hexRgb(c1);
    for (let k = 0; k < 3; k++) lut[q * 3 + k] = Math.round(x[k] + f * (y[k] - x[k]));
  }
  return lut;
}
const LUTS = { viridis: makeLut(VIRIDIS), puor: makeLut(PUOR), grey: makeLut([[0, "#000000"], [1, "#ffffff"]]) };

// A packed array (see pack.py): bytes 0..255 standing for lo..hi.
function unpack(p) {
  const raw = atob(p.b64), bytes = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
  return { shape: p.shape, lo: p.lo, hi: p.hi, bytes: bytes,
           value: (i) => (p.hi === p.lo ? p.lo : p.lo + (bytes[i] / 255) * (p.hi - p.lo)) };
}

// Colour byte q of a packed array: signed data use the diverging map centred on zero.
function colourIndex(arr, i) {
  if (arr.lo < 0 && arr.hi > 0) {
    const m = Math.max(-arr.lo, arr.hi);
    return Math.round(127.5 + (arr.value(i) / m) * 127.5);
  }
  return arr.bytes[i];
}

// Draw cells [offset, offset + h*w) of a packed array on a canvas, one cell per pixel (CSS scales it).
function paint(canvas, arr, offset, h, w, lutName) {
  canvas.width = w;
  canvas.height = h;
  const ctx = canvas.getContext("2d"), img = ctx.createImageData(w, h);
  const lut = LUTS[lutName || (arr.lo < 0 && arr.hi > 0 ? "puor" : "viridis")];
  for (let i = 0; i < h * w; i++) {
    const q = Math.max(0, Math.min(255, colourIndex(arr, offset + i)));
    img.data.set([lut[q * 3], lut[q * 3 + 1], lut[q * 3 + 2], 255], i * 4);
  }
  ctx.putImageData(img, 0, 0);
}

function el(tag, attrs, ...children) {
  const node = tag.startsWith("svg:") ? document.createElementNS(SVGNS, tag.slice(4)) : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

function fmtInt(n) {
  return Number(n).toLocaleString("en-US");
}

// 115,605,504 -> "115.6M": short enough for a table column (the exact number is the cell's title)
function fmtShort(n) {
  for (const [min, v, unit] of [[1e9, 1e9, "G"], [1e6, 1e6, "M"], [1e4, 1e3, "K"]]) {
    if (n >= min) return `${(n / v).toFixed(1)}${unit}`;
  }
  return fmtInt(n);
}

function gcd(a, b) {
  a = Math.abs(a); b = Math.abs(b);
  while (b) [a, b] = [b, a % b];
  return a || 1;
}

// A fraction num/den written as Python's Fraction prints it: "3", "-1/2".
function fraction(num, den) {
  if (den < 0) { num = -num; den = -den; }
  const g = gcd(num, den);
  num /= g; den /= g;
  return den === 1 ? String(num + 0) : `${num}/${den}`;
}

function prod(xs) {
  return xs.reduce((a, b) => a * b, 1);
}

// Map k of an array packed per map (pack_each): the same interface as unpack, one map long.
function unpackEach(p, k) {
  const all = unpack({ shape: p.shape, lo: 0, hi: 0, b64: p.b64 }), n = prod(p.shape.slice(1));
  const lo = p.lo[k], hi = p.hi[k], bytes = all.bytes.subarray(k * n, (k + 1) * n);
  return { shape: p.shape.slice(1), lo: lo, hi: hi, bytes: bytes,
           value: (i) => (hi === lo ? lo : lo + (bytes[i] / 255) * (hi - lo)) };
}

// An exact array (pack.exact): float32 cells, decoded once.
const EXACT_CACHE = new Map();
function exactArray(p) {
  if (p.data) return p;                       // computed in the page (forward.js)
  if (!EXACT_CACHE.has(p)) {
    const raw = atob(p.f32), bytes = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    EXACT_CACHE.set(p, { shape: p.shape, data: new Float32Array(bytes.buffer) });
  }
  return EXACT_CACHE.get(p);
}

// Numbers for people: 4 significant digits, no exponent for ordinary sizes, a true minus sign.
function fmtNum(v) {
  if (v === 0) return "0";
  const a = Math.abs(v);
  const t = a >= 1e4 || a < 1e-3 ? v.toExponential(2) : v.toPrecision(4).replace(/(\.\d*?)0+$/, "$1").replace(/\.$/, "");
  return t.replace("-", "\u2212");
}

// A colour scale for an array as `paint` draws it: the gradient and its range in numbers.
function legend(arr, lutName) {
  const diverging = arr.lo < 0 && arr.hi > 0, m = Math.max(-arr.lo, arr.hi);
  const lut = LUTS[lutName || (diverging ? "puor" : "viridis")];
  const canvas = el("canvas", { class: "legend-bar", width: 128, height: 1 });
  const ctx = canvas.getContext("2d"), img = ctx.createImageData(128, 1);
  for (let i = 0; i < 128; i++) {
    const q = Math.round((i / 127) * 255);
    img.data.set([lut[q * 3], lut[q * 3 + 1], lut[q * 3 + 2], 255], i * 4);
  }
  ctx.putImageData(img, 0, 0);
  const [lo, hi] = diverging ? [-m, m] : [arr.lo, arr.hi];
  return el("div", { class: "legend", "data-lo": lo, "data-hi": hi },
    el("span", { class: "legend-lo", text: fmtNum(lo) }), canvas, el("span", { class: "legend-hi", text: fmtNum(hi) }));
}

// A 1-D signal per row as a line: row r's values span the band [r, r + 1] of a viewBox rows high.
function linePlot(svg, arr, offset, rows, cols, cls) {
  const diverging = arr.lo < 0 && arr.hi > 0, m = Math.max(-arr.lo, arr.hi);
  const [lo, hi] = diverging ? [-m, m] : [arr.lo, arr.hi];
  for (let r = 0; r < rows; r++) {
    const y = (v) => r + 0.92 - (hi === lo ? 0.42 : ((v - lo) / (hi - lo)) * 0.84);
    if (diverging) svg.append(el("svg:line", { x1: 0, x2: cols, y1: y(0), y2: y(0), class: "zero-line" }));
    const pts = [];
    for (let c = 0; c < cols; c++) pts.push(`${c + 0.5},${y(arr.value(offset + r * cols + c)).toFixed(4)}`);
    svg.append(el("svg:polyline", { points: pts.join(" "), class: cls || "signal", "data-row": r, "data-lo": lo, "data-hi": hi }));
  }
}
