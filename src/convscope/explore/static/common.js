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
