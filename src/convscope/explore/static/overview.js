// The whole network at a glance: one column per layer with its maps as small multiples (vectors as
// grids of 16 a row), blocks boxed (collapsed in deep models) with the operations joining their
// branches and arcs from each branch's source to its join, the chosen unit marked, and lines from the
// unit to the window it reads in the layer whose output it takes. Clicking a map picks that layer and channel.
"use strict";

const OVERVIEW_CHANNELS = 6;   // maps per column: enough to see a layer's variety, few enough to scan

function thumb(arr, offset, rows, cols, px, attrs) {
  const canvas = el("canvas", Object.assign({ class: "ov-map" }, attrs));
  paint(canvas, arr, offset, rows, cols);
  canvas.style.width = `${cols * px}px`;
  canvas.style.height = `${rows * px}px`;
  return canvas;
}

function overviewColumn(row, k) {
  const a = layerAct(row), col = el("div", { class: "ov-col", "data-layer": row.name },
    el("div", { class: "ov-head", title: `${row.name} (${row.kind}), output ${row.output_shape.join(" x ")}`,
                text: row.name.split(".").slice(-2).join(".") }), el("div", { class: "ov-kind", text: row.kind }));
  const pick = (channel) => () => { selectRow(k); M.channel = channel; drawUnit(); };
  if (a.maps) {
    const maps = unpack(a.maps), sp = spatialOf(row), [h, w] = TWO_D ? sp : [1, sp[0]], cells = prod(sp);
    const px = Math.max(1, Math.floor(44 / Math.max(h, w)));
    const shown = TWO_D ? Math.min(maps.shape[0], OVERVIEW_CHANNELS) : 1;
    for (let c = 0; c < shown; c++) {
      const canvas = TWO_D ? thumb(maps, c * cells, h, w, px, { "data-channel": c, title: `channel ${c}` })
        : thumb(maps, 0, maps.shape[0], sp[0], Math.max(1, Math.floor(44 / sp[0])), { "data-channel": 0, title: "channels x length" });
      if (!TWO_D) canvas.style.height = `${Math.min(88, maps.shape[0] * 4)}px`;
      canvas.addEventListener("click", pick(c));
      col.append(canvas);
    }
    if (TWO_D && maps.shape[0] > shown) col.append(el("div", { class: "ov-more", text: `+${row.output_shape[0] - shown}` }));
  } else {
    const v = unpack(a.vector), n = v.shape[0], cols = Math.min(n, VECTOR_COLS), rows = Math.ceil(n / VECTOR_COLS);
    const padded = Object.assign({}, v, { value: (i) => v.value(Math.min(i, n - 1)) });
    const canvas = thumb(padded, 0, rows, cols, 6, { "data-channel": 0, title: `${n} values` });
    canvas.addEventListener("click", pick(0));
    col.append(canvas);
  }
  return col;
}

const OVERVIEW_OPEN = 24;       // more columns than this: blocks start collapsed

// The rows from `start` while deeper than `depth`, as a tree: layers with maps, the operations
// joining branches (add, concat), and blocks with their children.
function overviewTree(start, depth) {
  const nodes = [];
  let k = start;
  while (k < DATA.rows.length && DATA.rows[k].depth >= depth) {
    const row = DATA.rows[k];
    let end = k + 1;
    while (end < DATA.rows.length && DATA.rows[end].depth > row.depth) end++;
    if (row.group) nodes.push({ row: row, k: k, children: overviewTree(k + 1, row.depth + 1) });
    else if (layerAct(row)) nodes.push({ row: row, k: k });
    else if (!row.module) nodes.push({ row: row, k: k, op: true });
    k = row.group ? end : k + 1;
  }
  return nodes;
}

// Columns drawn (layers and joins), or with `layersOnly` the layers alone.
function countColumns(nodes, layersOnly) {
  return nodes.reduce((n, node) => n + (node.children ? countColumns(node.children, layersOnly) : node.op && layersOnly ? 0 : 1), 0);
}

function opColumn(row) {
  const sign = row.kind === "add" ? "+" : row.kind === "concat" ? "\u29fa" : row.kind;
  return el("div", { class: "ov-col ov-op", "data-op": row.name, "data-kind": row.kind, title: `${row.name}: ${row.kind} (joins the branches)` },
    el("div", { class: "ov-head", text: sign }), el("div", { class: "ov-kind", text: row.kind }));
}

function overviewNodes(nodes, collapsed) {
  return nodes.map((node) => {
    if (node.op) return opColumn(node.row);
    if (!node.children) return overviewColumn(node.row, node.k);
    const n = countColumns(node.children, true), group = el("div", { class: `ov-group${collapsed ? " collapsed" : ""}`,
      "data-group": node.row.name, "data-kind": node.row.kind });
    const toggle = el("button", { type: "button", class: "ov-toggle", "aria-expanded": String(!collapsed),
      title: `${node.row.name} (${node.row.kind}): ${n} layers`, text: `${node.row.name.split(".").pop()} ${node.row.kind}`,
      onclick: () => { setCollapsed(group, !group.classList.contains("collapsed")); markOverview(); } });
    group.append(toggle, el("div", { class: "ov-children" }, ...overviewNodes(node.children, collapsed)),
                 el("div", { class: "ov-folded", text: `${n} layers` }));
    return group;
  });
}

function setCollapsed(group, collapsed) {
  group.classList.toggle("collapsed", collapsed);
  group.querySelector(".ov-toggle").setAttribute("aria-expanded", String(!collapsed));
}

function drawOverview() {
  const body = $("overview-body");
  $("overview").hidden = !ACT || !DRAWN;
  if (!ACT || !DRAWN) return;
  const tree = overviewTree(0, 0);
  body.classList.toggle("joins", (ACT.flow || []).some((s) => s.op === "add" || s.op === "concat"));   // room for arcs
  body.replaceChildren(...overviewNodes(tree, countColumns(tree) > OVERVIEW_OPEN),
                       el("svg:svg", { id: "ov-links", class: "ov-links" }));
  markOverview();
}

// The window unit `out` reads in the previous map, per axis [first, last] (clipped), from its rule.
function windowRange(rule, out, sizes) {
  return out.map((o, a) => {
    const first = o * rule.stride[a] - rule.pads[a][0], last = first + (rule.kernel[a] - 1) * rule.dilation[a];
    return [Math.max(0, first), Math.min(sizes[a] - 1, last)];
  });
}

// Page coordinates of cell (r, c) of a map canvas drawn rows x cols, relative to the overview.
function mapCellBox(canvas, r, c, rows, cols, origin) {
  const b = canvas.getBoundingClientRect(), cw = b.width / cols, ch = b.height / rows;
  return { x: b.left - origin.left + c * cw, y: b.top - origin.top + r * ch, w: cw, h: ch };
}

function markOverview() {
  const body = $("overview-body"), svg = $("ov-links");
  if (!svg || M.row < 0) return;
  const row = DATA.rows[M.row], origin = body.getBoundingClientRect();
  svg.replaceChildren();
  svg.setAttribute("width", 1);    // drawn with overflow visible: an overlay as big as the content
  svg.setAttribute("height", 1);   // would itself grow the scrolled area
  // the overlay scrolls with the columns: coordinates are from the start of the scrolled content
  const content = () => ({ left: origin.left - body.scrollLeft, top: origin.top - body.scrollTop });
  for (const c of body.querySelectorAll(".ov-col")) c.classList.toggle("selected", c.dataset.layer === row.name);
  const col = body.querySelector(`.ov-col[data-layer="${CSS.escape(row.name)}"]`);
  if (!col) return drawJoinArcs(body, content(), svg);
  // the chosen layer is always in view: open the blocks around it, and scroll the columns to it
  for (let g = col.closest(".ov-group.collapsed"); g; g = g.parentElement.closest(".ov-group.collapsed")) setCollapsed(g, false);
  const cb = col.getBoundingClientRect();
  if (cb.left < origin.left || cb.right > origin.right) body.scrollLeft += cb.left - origin.left - (origin.width - cb.width) / 2;
  const o = content();
  drawJoinArcs(body, o, svg);
  const sp = spatialOf(row), canvas = col.querySelector(`canvas[data-channel="${TWO_D && sp.length ? M.channel : 0}"]`);
  if (!canvas) return;
  const [rows, cols] = !sp.length ? mapGrid(row) : TWO_D ? sp : [channelsShown(row), sp[0]];
  const [r, c] = !sp.length ? [Math.floor(M.unit[0] / VECTOR_COLS), M.unit[0] % VECTOR_COLS] : TWO_D ? M.unit : [M.channel, M.unit[0]];
  const u = mapCellBox(canvas, r, c, rows, cols, o);
  svg.append(el("svg:rect", { x: u.x - 1, y: u.y - 1, width: u.w + 2, height: u.h + 2, class: "ov-unit" }));
  linkToPrevious(row, col, u, o, svg);
}

// The joins of the flow (adds, concatenations) beside their overview columns, in order: [step, column].
function joinColumns(body) {
  const joins = (ACT.flow || []).filter((s) => s.op === "add" || s.op === "concat");
  const cols = [...body.querySelectorAll(".ov-op")].filter((c) => ["add", "concat"].includes(c.dataset.kind));
  return joins.length === cols.length ? joins.map((s, k) => [s, cols[k]]) : [];
}

// What stands for a value on screen: its layer's column, its join's, or the folded block holding it.
function shownColumn(body, name, joins) {
  const join = joins.find(([s]) => s.name === name);
  let c = join ? join[1] : body.querySelector(`.ov-col[data-layer="${CSS.escape(name)}"]`);
  if (!c) return null;
  for (let g = c.closest(".ov-group.collapsed"); g; g = g.parentElement.closest(".ov-group.collapsed")) c = g;
  return c;
}

// Arcs from each branch's source to the add or concat joining it (a residual's skip, a concat's
// branches), above the columns; the one just before its join needs none.
function drawJoinArcs(body, o, svg) {
  const joins = joinColumns(body);
  svg.append(el("svg:defs", {}, el("svg:marker", { id: "ov-arrow", viewBox: "0 0 6 6", refX: 5, refY: 3, markerWidth: 6,
    markerHeight: 6, orient: "auto" }, el("svg:path", { d: "M0,0 L6,3 L0,6 z", fill: "#0072b2" }))));
  const columns = [...body.querySelectorAll(".ov-col")];
  for (const [step, target] of joins) {
    const t = target.getBoundingClientRect(), before = columns[columns.indexOf(target) - 1];
    if (!t.width) continue;                 // inside a folded block
    for (const name of step.inputs) {
      const source = shownColumn(body, name, joins);
      if (!source || source === target || source === before) continue;   // the column just before: read left to right
      const b = source.getBoundingClientRect();
      if (!b.width) continue;
      const x1 = b.left - o.left + b.width / 2, x2 = t.left - o.left + t.width / 2, y1 = b.top - o.top, y2 = t.top - o.top;
      const lift = Math.min(40, 14 + Math.abs(x2 - x1) * 0.08), top = Math.min(y1, y2) - lift;
      svg.append(el("svg:path", { d: `M${x1},${y1} C${x1},${top} ${x2},${top} ${x2},${y2 - 2}`,
        class: `ov-arc ${step.op}`, "data-from": name, "data-to": step.name }));
    }
  }
}

// The column of the value the layer reads (its step's input in the flow): draw the window read there.
function linkToPrevious(row, col, u, o, svg) {
  const entry = ACT.units && ACT.units.layers[row.name], step = (ACT.flow || []).find((s) => s.name === row.name);
  const prev = step && $("overview-body").querySelector(`.ov-col[data-layer="${CSS.escape(step.inputs[0])}"]`);
  if (!entry || entry.rule.op === "linear" || !prev || !spatialOf(row).length) return;
  const prevRow = DATA.rows.find((r) => r.name === prev.dataset.layer), psp = spatialOf(prevRow);
  if (!psp.length) return;
  const win = windowRange(entry.rule, M.unit, psp), [pr, pc] = TWO_D ? psp : [channelsShown(prevRow), psp[0]];
  const targets = entry.rule.op === "conv" || !TWO_D ? prev.querySelectorAll("canvas")
    : prev.querySelectorAll(`canvas[data-channel="${M.channel}"]`);
  for (const t of targets) {
    // 1-D maps are channels x length: a convolution reads every channel's rows, a pool its own
    const [r0, r1] = TWO_D ? win[0] : entry.rule.op === "conv" ? [0, pr - 1] : [M.channel, M.channel];
    const [c0, c1] = TWO_D ? win[1] : win[0];
    const a = mapCellBox(t, r0, c0, pr, pc, o), b = mapCellBox(t, r1, c1, pr, pc, o);
    const box = { x: a.x, y: a.y, w: b.x + b.w - a.x, h: b.y + b.h - a.y };
    svg.append(el("svg:line", { x1: u.x + u.w / 2, y1: u.y + u.h / 2, x2: box.x + box.w, y2: box.y + box.h / 2, class: "ov-link" }),
               el("svg:rect", { x: box.x, y: box.y, width: box.w, height: box.h, class: "ov-window" }));
  }
}
