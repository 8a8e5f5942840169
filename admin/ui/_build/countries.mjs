// countries.mjs turns world-atlas's TopoJSON country outlines into
// countries.json, the status page's map: one SVG path per ISO 3166-1
// alpha-2 code, in an equirectangular projection on a 1000 x 500 canvas
// (x = (lon + 180) / 360 * 1000, y = (90 - lat) / 180 * 500).
//
// It needs nothing but Node. The go:embed of admin/ui skips this folder
// because its name starts with an underscore. See ../README.md for how it is
// run.
//
//   node countries.mjs <countries-50m.json> <i18n-iso-countries codes.json> > ../countries.json

import { readFileSync } from "node:fs";

const [topoFile, codesFile] = process.argv.slice(2);
if (!topoFile || !codesFile) {
  console.error("usage: node countries.mjs countries-50m.json codes.json > countries.json");
  process.exit(2);
}
const topo = JSON.parse(readFileSync(topoFile, "utf8"));
const codes = JSON.parse(readFileSync(codesFile, "utf8"));

// Douglas-Peucker tolerance in canvas units (1 unit = 0.36 degrees).
const TOLERANCE = 0.35;
// Coordinates are written with one decimal.
const round = (v) => Math.round(v * 10) / 10;

// alpha2 maps ISO 3166-1 numeric codes (as strings, "250") to alpha-2.
const alpha2 = new Map(codes.map((c) => [c[2], c[0]]));
// Features without a numeric id in Natural Earth, named the way GeoIP
// databases report clients there. Areas left out are tiny or disputed
// without a code of their own.
const unnumbered = { Kosovo: "XK", Somaliland: "SO", "N. Cyprus": "CY" };

const [sx, sy] = topo.transform.scale;
const [tx, ty] = topo.transform.translate;
const project = ([lon, lat]) => [((lon + 180) / 360) * 1000, ((90 - lat) / 180) * 500];

// Decode the delta-encoded, quantized arcs and simplify each one once, so
// neighbouring countries keep sharing exactly the same border.
const arcs = topo.arcs.map((arc) => {
  let x = 0, y = 0;
  const pts = arc.map(([dx, dy]) => {
    x += dx; y += dy;
    return project([x * sx + tx, y * sy + ty]);
  });
  return { full: pts, simple: simplify(pts, TOLERANCE) };
});

function simplify(pts, tol) {
  if (pts.length <= 2) return pts.slice();
  const keep = new Uint8Array(pts.length);
  keep[0] = keep[pts.length - 1] = 1;
  const stack = [[0, pts.length - 1]];
  // A closed arc (first point == last) has no baseline: split it at the
  // point farthest from its start.
  if (pts[0][0] === pts.at(-1)[0] && pts[0][1] === pts.at(-1)[1]) {
    let far = 1, best = -1;
    for (let i = 1; i < pts.length - 1; i++) {
      const d = (pts[i][0] - pts[0][0]) ** 2 + (pts[i][1] - pts[0][1]) ** 2;
      if (d > best) { best = d; far = i; }
    }
    keep[far] = 1;
    stack.pop();
    stack.push([0, far], [far, pts.length - 1]);
  }
  while (stack.length) {
    const [a, b] = stack.pop();
    const [ax, ay] = pts[a], [bx, by] = pts[b];
    const len = Math.hypot(bx - ax, by - ay);
    let idx = -1, best = tol;
    for (let i = a + 1; i < b; i++) {
      const [px, py] = pts[i];
      const d = len === 0 ? Math.hypot(px - ax, py - ay)
        : Math.abs((bx - ax) * (ay - py) - (ax - px) * (by - ay)) / len;
      if (d > best) { best = d; idx = i; }
    }
    if (idx >= 0) {
      keep[idx] = 1;
      stack.push([a, idx], [idx, b]);
    }
  }
  return pts.filter((_, i) => keep[i]);
}

// ring joins a ring's arcs (a negative index is arc ~i reversed).
function ring(indexes, which) {
  const out = [];
  for (const i of indexes) {
    let pts = arcs[i < 0 ? ~i : i][which];
    if (i < 0) pts = pts.slice().reverse();
    out.push(...(out.length ? pts.slice(1) : pts));
  }
  return out;
}

// path writes a ring as relative SVG subpaths; tiny islands that would
// collapse when simplified keep their full outline.
function path(indexes) {
  let pts = dedupe(ring(indexes, "simple"));
  if (pts.length < 4) pts = dedupe(ring(indexes, "full"));
  if (pts.length < 3) return "";
  return wrap(pts).map(subpath).join("");
}

// wrap handles rings that cross the antimeridian. Natural Earth lets a
// ring jump from +180 to -180 degrees, which would draw a line across the
// whole map: such a ring is made continuous (x may leave 0..1000) and drawn
// once more shifted by the map's width, the canvas clipping each copy. A
// ring that crosses it once goes round a pole (Antarctica); it is closed
// along the pole's edge of the map instead.
function wrap(pts) {
  let offset = 0;
  const out = [pts[0]];
  for (let i = 1; i < pts.length; i++) {
    const dx = pts[i][0] - pts[i - 1][0];
    if (dx > 500) offset -= 1000;
    else if (dx < -500) offset += 1000;
    out.push([pts[i][0] + offset, pts[i][1]]);
  }
  const closing = out[0][0] - out.at(-1)[0];
  if (Math.abs(closing) > 500) {
    const meanY = out.reduce((a, p) => a + p[1], 0) / out.length;
    const edge = meanY > 250 ? 500 : 0;
    out.push([out.at(-1)[0], edge], [out[0][0], edge]);
  }
  const xs = out.map((p) => p[0]);
  const copies = [out];
  if (Math.min(...xs) < 0) copies.push(out.map(([x, y]) => [x + 1000, y]));
  if (Math.max(...xs) > 1000) copies.push(out.map(([x, y]) => [x - 1000, y]));
  return copies;
}

function subpath(pts) {
  let s = "", px = 0, py = 0;
  pts.forEach(([x, y], i) => {
    // Work in tenths so the deltas are exact integers.
    const dx = x - px, dy = y - py;
    s += (i === 0 ? "M" : i === 1 ? "l" : " ") + num(dx) + (dy < 0 ? "" : " ") + num(dy);
    px = x; py = y;
  });
  return s + "z";
}

function dedupe(pts) {
  const out = [];
  for (const [x, y] of pts) {
    const p = [Math.round(x * 10), Math.round(y * 10)];
    const last = out.at(-1);
    if (!last || last[0] !== p[0] || last[1] !== p[1]) out.push(p);
  }
  if (out.length > 1 && out[0][0] === out.at(-1)[0] && out[0][1] === out.at(-1)[1]) out.pop();
  return out.map(([x, y]) => [x / 10, y / 10]);
}

// num writes a number of tenths compactly: 12.3, -0.4 as -.4, 0.5 as .5.
function num(v) {
  const s = String(round(v));
  return s.replace(/^(-?)0\./, "$1.");
}

const shapes = {};
for (const g of topo.objects.countries.geometries) {
  const cc = g.id !== undefined ? alpha2.get(g.id) : unnumbered[g.properties.name];
  if (!cc) continue;
  const polygons = g.type === "Polygon" ? [g.arcs] : g.type === "MultiPolygon" ? g.arcs : [];
  const d = polygons.flatMap((rings) => rings.map(path)).join("");
  if (d) shapes[cc] = (shapes[cc] || "") + d;
}
const sorted = Object.fromEntries(Object.keys(shapes).sort().map((k) => [k, shapes[k]]));
process.stdout.write("{\n" + Object.entries(sorted).map(([k, v]) => `"${k}":${JSON.stringify(v)}`).join(",\n") + "\n}\n");
