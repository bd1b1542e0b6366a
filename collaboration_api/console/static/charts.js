/* Tiny inline-SVG charts for the console: grouped bars and lines, with a legend and a
 * text equivalent (each bar and point has a <title>, the container a caption elsewhere). */
(function () {
  "use strict";
  const NS = "http://www.w3.org/2000/svg";
  const COLORS = ["#1f6feb", "#d9822b", "#2da44e", "#8250df", "#cf222e", "#57606a", "#0a7ea4"];

  function svg(tag, attrs, text) {
    const n = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) n.setAttribute(k, v);
    if (text !== undefined) n.textContent = text;
    return n;
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }
  /** A round axis top at or above v: 1, 2, 2.5, 5 or 10 times a power of ten. */
  function niceMax(v) {
    if (!(v > 0)) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
    return 10 * p;
  }
  function fmt(v) {
    if (Number.isInteger(v) || Math.abs(v) >= 10) return String(Math.round(v * 10) / 10);
    return String(Math.round(v * 1000) / 1000);
  }

  function frame(box, height) {
    clear(box);
    const width = Math.max(320, box.clientWidth || 600);
    const root = svg("svg", {viewBox: `0 0 ${width} ${height}`, width: "100%", height: String(height),
      "aria-hidden": "true", focusable: "false"});
    box.append(root);
    return {root, width, height};
  }

  function axis(root, x0, y0, w, h, max, ticks) {
    for (let i = 0; i <= ticks; i++) {
      const y = y0 + h - (h * i) / ticks;
      root.append(svg("line", {x1: x0, x2: x0 + w, y1: y, y2: y, stroke: "#e1e4e8"}));
      root.append(svg("text", {x: x0 - 6, y: y + 4, "text-anchor": "end", "font-size": 11, fill: "#57606a"}, fmt((max * i) / ticks)));
    }
  }

  function legend(box, names) {
    const ul = document.createElement("ul");
    ul.className = "legend";
    names.forEach((name, i) => {
      const li = document.createElement("li");
      const sw = document.createElement("span");
      sw.className = "swatch"; sw.style.background = COLORS[i % COLORS.length];
      li.append(sw, document.createTextNode(name));
      ul.append(li);
    });
    box.append(ul);
  }

  /** groups: category labels; series: [{name, values: [per group]}]. */
  function groupedBars(box, {groups, series, max, height}) {
    const {root, width} = frame(box, height || 220);
    const x0 = 44, y0 = 10, w = width - x0 - 10, h = (height || 220) - 40;
    const top = max || niceMax(Math.max(0, ...series.flatMap(s => s.values)) * 1.05);
    axis(root, x0, y0, w, h, top, 4);
    const gw = w / Math.max(1, groups.length);
    const bw = Math.max(2, (gw * 0.8) / Math.max(1, series.length));
    groups.forEach((g, gi) => {
      series.forEach((s, si) => {
        const v = s.values[gi] || 0;
        const bh = (h * v) / top;
        const rect = svg("rect", {x: x0 + gi * gw + gw * 0.1 + si * bw, y: y0 + h - bh, width: bw - 1, height: Math.max(0, bh),
          fill: COLORS[si % COLORS.length], "data-series": s.name, "data-group": g, "data-value": v});
        rect.append(svg("title", {}, `${s.name} · ${g}: ${fmt(v)}`));
        root.append(rect);
      });
      root.append(svg("text", {x: x0 + gi * gw + gw / 2, y: y0 + h + 16, "text-anchor": "middle", "font-size": 11, fill: "#24292f"}, g));
    });
    legend(box, series.map(s => s.name));
  }

  /** labels: x labels; series: [{name, values}] with null for gaps. */
  function lines(box, {labels, series, max, height}) {
    const {root, width} = frame(box, height || 200);
    const x0 = 44, y0 = 10, w = width - x0 - 16, h = (height || 200) - 40;
    const vals = series.flatMap(s => s.values).filter(v => v !== null && v !== undefined);
    const top = max || niceMax(Math.max(0, ...vals) * 1.05);
    axis(root, x0, y0, w, h, top, 4);
    const step = labels.length > 1 ? w / (labels.length - 1) : 0;
    const every = Math.ceil(labels.length / 8);
    labels.forEach((l, i) => {
      if (i % every === 0 || i === labels.length - 1) {
        root.append(svg("text", {x: x0 + i * step, y: y0 + h + 16, "text-anchor": "middle", "font-size": 11, fill: "#24292f"}, l));
      }
    });
    series.forEach((s, si) => {
      const color = COLORS[si % COLORS.length];
      let d = "";
      s.values.forEach((v, i) => {
        if (v === null || v === undefined) return;
        const x = x0 + i * step, y = y0 + h - (h * v) / top;
        d += (d ? " L" : "M") + x + " " + y;
        const dot = svg("circle", {cx: x, cy: y, r: 3.5, fill: color, "data-series": s.name, "data-label": labels[i], "data-value": v});
        dot.append(svg("title", {}, `${s.name} · ${labels[i]}: ${fmt(v)}`));
        root.append(dot);
      });
      if (d) root.insertBefore(svg("path", {d, fill: "none", stroke: color, "stroke-width": 2}), root.firstChild.nextSibling);
    });
    legend(box, series.map(s => s.name));
  }

  window.RCCharts = {groupedBars, lines, COLORS};
})();
