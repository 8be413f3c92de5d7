// The dashboard's incidents: the latest ones listed (/api/incidents), one drawn as an SVG chart
// (/api/incidents/{id}/timeline): measured and setpoint voltage and current as step lines (the
// recorder keeps a value when it changes), the gun's states as coloured bands, its faults as
// marked lines; time in seconds from the incident's first cause. Uses $ and element of dashboard.js.
"use strict";

const INCIDENTS_SHOWN = 20;
const INCIDENTS_POLL_MS = 10000;  // besides a refresh at each `incident` event of the feed
const SVG_NS = "http://www.w3.org/2000/svg";
const CHART_HEIGHT = 380;
const MARGIN = {left: 62, right: 62, top: 64, bottom: 44};
const STATE_COLOURS = {
  standby: "#6e7681", cableCheck: "#2f81f7", ready: "#2f81f7", preCharge: "#2f81f7", postCharge: "#2f81f7",
  charge: "#2ea043", stopping: "#d29922", inoperative: "#f85149",
};
// The four lines: [timeline kind, value, axis, colour, dashed, legend].
const SERIES = [
  ["reading", "voltage", "V", "#d2a8ff", false, "voltage measured"],
  ["setpoint", "voltage", "V", "#d2a8ff", true, "voltage setpoint"],
  ["reading", "current", "A", "#ffa657", false, "current measured"],
  ["setpoint", "current", "A", "#ffa657", true, "current setpoint"],
];

// What is shown: the ids listed, the incident chosen (its id, its timeline and gun drawn), a refresh under way.
const incidentView = {shown: "", chosen: null, incident: null, gun: null, refreshing: null, again: false};

function svg(tag, attributes, text) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attributes ?? {})) node.setAttribute(name, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

// -- the list ------------------------------------------------------------------------------

// One request at a time; a refresh asked for meanwhile follows it (an incident written mid-request).
function refreshIncidents() {
  if (incidentView.refreshing) {
    incidentView.again = true;
    return;
  }
  incidentView.again = false;
  incidentView.refreshing = fetch("/api/incidents", {cache: "no-store"})
    .then((response) => (response.ok ? response.json() : null))
    .then((answer) => answer && renderIncidents(answer.incidents.slice(0, INCIDENTS_SHOWN)))
    .catch(() => {})  // the feed shows the link's state; the next poll tries again
    .finally(() => {
      incidentView.refreshing = null;
      if (incidentView.again) refreshIncidents();
    });
}

// Called by dashboard.js for each event of the live feed.
function incidentFeedEvent(event) {
  if (event.kind === "incident") refreshIncidents();
}

function renderIncidents(incidents) {
  const key = incidents.map((i) => i.id).join(" ");
  if (key === incidentView.shown) return;
  incidentView.shown = key;
  const rows = incidents.map((incident) => {
    const row = element("tr");
    row.dataset.incident = incident.id;
    row.classList.toggle("chosen", incident.id === incidentView.chosen);
    const link = element("a", "", "zip");
    link.href = "/api/incidents/" + encodeURIComponent(incident.id);
    link.download = incident.id + ".zip";
    link.addEventListener("click", (click) => click.stopPropagation());
    row.append(
      element("td", "", new Date(incident.ts * 1000).toLocaleString()),
      element("td", "gun-id", incident.guns.join(", ")),
      element("td", "reason", incident.reason),
      element("td", "num", fixed(incident.size / 1000, 0) + " kB"),
      element("td"),
    );
    row.lastChild.append(link);
    row.title = incident.id;
    row.addEventListener("click", () => chooseIncident(incident.id));
    return row;
  });
  $("incident-list").replaceChildren(...rows);
  $("incidents-none").hidden = incidents.length > 0;
}

function chooseIncident(id) {
  incidentView.chosen = id;
  for (const row of $("incident-list").children) row.classList.toggle("chosen", row.dataset.incident === id);
  fetch(`/api/incidents/${encodeURIComponent(id)}/timeline`, {cache: "no-store"})
    .then((response) => response.json().then((body) => ({ok: response.ok, body})))
    .then(({ok, body}) => {
      if (incidentView.chosen !== id) return;  // another one was clicked meanwhile
      if (!ok) throw new Error(body.error ?? "cannot read the incident");
      incidentView.incident = body;
      drawIncident(body, body.guns[0]);
    })
    .catch((error) => $("incident-chart").replaceChildren(element("p", "problem", String(error.message))));
}

// -- the chart ------------------------------------------------------------------------------

// About `count` round steps (1, 2, 5 times a power of ten) covering [low, high].
function ticks(low, high, count) {
  const raw = (high - low) / count || 1;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw);
  const values = [];
  for (let v = Math.ceil(low / step) * step; v <= high + step * 1e-9; v += step) values.push(+v.toFixed(9));
  return {step, values};
}

// An axis from 0 (or below, for a negative value) up to a round top a tenth above every value
// (room for the states' names).
function valueAxis(values) {
  const low = values.reduce((a, b) => Math.min(a, b), 0);
  const high = values.reduce((a, b) => Math.max(a, b), 1) * 1.1;
  const {step} = ticks(low, high, 5);
  const top = Math.ceil(high / step) * step;
  return {low: Math.floor(low / step) * step, high: top, ticks: ticks(Math.floor(low / step) * step, top, 5).values};
}

// A fault's text without its "gun 1-1: " (the chart is the gun's).
const withoutGun = (text) => text.replace(/^gun \S+: /, "");

// What one gun's chart is drawn from: its lines, state bands and faults, times in s from the cause.
function chartData(incident, gun) {
  const cause = incident.ts;
  const entries = incident.timeline.filter((e) => e.gun === gun);
  const start = Math.max(Date.parse(incident.window.from) / 1000, entries.length ? entries[0].ts : cause) - cause;
  const end = Date.parse(incident.window.to) / 1000 - cause;
  const lines = SERIES.map(([kind, value]) =>
    entries.filter((e) => e.kind === kind).map((e) => [e.ts - cause, e[value]]));
  const changes = entries.filter((e) => e.kind === "state");
  const bands = [];
  if (changes.length) {
    let from = start;
    let state = changes[0].from;
    for (const change of changes) {
      bands.push({state, from, to: change.ts - cause});
      from = change.ts - cause;
      state = change.to;
    }
    bands.push({state, from, to: end});
  }
  const faults = entries.filter((e) => e.kind === "fault" && e.active)
    .map((e) => ({t: e.ts - cause, name: withoutGun(e.fault)}));
  return {start, end, lines, bands: bands.filter((b) => b.to > b.from), faults};
}

// The chart of one gun of `incident` (its lines, state bands and faults), drawn into the chart's box.
function drawIncident(incident, gun) {
  incidentView.gun = gun;
  const box = $("incident-chart");
  const style = getComputedStyle(box);
  const width = Math.max(600, box.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight));
  const data = chartData(incident, gun);
  const plot = {x: MARGIN.left, y: MARGIN.top, w: width - MARGIN.left - MARGIN.right,
                h: CHART_HEIGHT - MARGIN.top - MARGIN.bottom};
  const axes = {
    V: valueAxis(data.lines.filter((_, i) => SERIES[i][2] === "V").flat().map((p) => p[1])),
    A: valueAxis(data.lines.filter((_, i) => SERIES[i][2] === "A").flat().map((p) => p[1])),
  };
  const at = {
    x: (t) => plot.x + ((t - data.start) / (data.end - data.start || 1)) * plot.w,
    y: (axis, v) => plot.y + plot.h - ((v - axes[axis].low) / (axes[axis].high - axes[axis].low)) * plot.h,
  };
  // drawn to the box's width; scaled to it (the CSS) should the page's scroll bar come or go
  const chart = svg("svg", {viewBox: `0 0 ${width} ${CHART_HEIGHT}`, class: "timeline", role: "img"});
  chart.dataset.incident = incident.id;
  chart.dataset.gun = gun;
  const cause = incident.causes.find((c) => c.gun === gun) ?? incident.causes[0];
  chart.append(svg("title", {}, `incident ${incident.id}, gun ${gun}: ${cause.reason}, ${cause.detail}`));
  const names = drawBands(chart, plot, at, data.bands);
  drawAxes(chart, plot, at, axes, data, width);
  drawLines(chart, at, data);
  chart.append(...names);  // over the lines
  drawFaults(chart, plot, at, data.faults);
  drawLegend(chart, plot);
  box.replaceChildren(chartHead(incident, gun, cause), chart);
}

const px = (n) => n.toFixed(1);

// The state bands; their names (to go over the lines) at the top of the plot, in up to three rows.
// Where short states crowd every row, a name moves right within its band, after the row that frees
// first: only a band too short for that goes unnamed (its title still names it).
function drawBands(chart, plot, at, bands) {
  const names = [];
  const nameEnds = [-Infinity, -Infinity, -Infinity];
  for (const band of bands) {
    const colour = STATE_COLOURS[band.state] ?? "#6e7681";
    const left = at.x(band.from);
    const right = at.x(band.to);
    const rect = svg("rect", {x: px(left), y: plot.y, width: px(right - left), height: plot.h,
                              fill: colour, "fill-opacity": 0.16, class: "band"});
    rect.dataset.state = band.state;
    rect.append(svg("title", {}, `${band.state}: ${band.from.toFixed(2)} s to ${band.to.toFixed(2)} s`));
    chart.append(rect);
    let row = nameEnds.findIndex((end) => end < left);
    let x = left + 3;
    if (row < 0) {
      row = nameEnds.indexOf(Math.min(...nameEnds));
      x = nameEnds[row] + 4;
    }
    if (x < right) {
      nameEnds[row] = x + band.state.length * 7;
      const name = svg("text", {x: px(x), y: plot.y + 14 + row * 14, fill: colour, class: "band-name"},
                       band.state);
      name.dataset.state = band.state;
      names.push(name);
    }
  }
  return names;
}

// Grid and axes: time below, voltage left, current right; a dotted line at the cause.
function drawAxes(chart, plot, at, axes, data, width) {
  for (const v of axes.V.ticks) {
    const y = px(at.y("V", v));
    chart.append(svg("line", {x1: plot.x, x2: plot.x + plot.w, y1: y, y2: y, class: "grid"}),
                 svg("text", {x: plot.x - 6, y, class: "tick", "text-anchor": "end",
                              "dominant-baseline": "middle"}, String(v)));
  }
  for (const v of axes.A.ticks) {
    chart.append(svg("text", {x: plot.x + plot.w + 6, y: px(at.y("A", v)), class: "tick",
                              "dominant-baseline": "middle"}, String(v)));
  }
  const bottom = plot.y + plot.h;
  for (const t of ticks(data.start, data.end, Math.max(4, Math.floor(plot.w / 90))).values) {
    const x = px(at.x(t));
    chart.append(svg("line", {x1: x, x2: x, y1: bottom, y2: bottom + 4, class: "axis"}),
                 svg("text", {x, y: bottom + 16, class: "tick", "text-anchor": "middle"},
                     t === 0 ? "0" : (t > 0 ? "+" : "\u2212") + Math.abs(+t.toFixed(3))));
  }
  const middle = plot.y + plot.h / 2;
  chart.append(
    svg("rect", {x: plot.x, y: plot.y, width: plot.w, height: plot.h, class: "frame"}),
    svg("text", {x: plot.x + plot.w / 2, y: CHART_HEIGHT - 6, class: "label", "text-anchor": "middle"},
        "time from the incident's cause (s)"),
    svg("text", {x: 14, y: middle, class: "label", "text-anchor": "middle",
                 transform: `rotate(-90 14 ${middle})`, style: `fill: ${SERIES[0][3]}`}, "voltage (V)"),
    svg("text", {x: width - 12, y: middle, class: "label", "text-anchor": "middle",
                 transform: `rotate(90 ${width - 12} ${middle})`, style: `fill: ${SERIES[2][3]}`}, "current (A)"),
  );
  if (data.start < 0 && data.end > 0) {
    const x = px(at.x(0));
    chart.append(svg("line", {x1: x, x2: x, y1: plot.y, y2: bottom, class: "cause"}));
  }
}

// The lines: a value holds until the next one the recorder kept, the last one to the end.
function drawLines(chart, at, data) {
  SERIES.forEach(([kind, value, axis, colour, dashed], i) => {
    const points = data.lines[i];
    if (!points.length) return;
    let d = `M${px(at.x(points[0][0]))},${px(at.y(axis, points[0][1]))}`;
    for (const [t, v] of points.slice(1)) d += `H${px(at.x(t))}V${px(at.y(axis, v))}`;
    d += `H${px(at.x(data.end))}`;
    const path = svg("path", {d, stroke: colour, class: dashed ? "series setpoint" : "series"});
    path.dataset.series = `${kind}-${value}`;
    path.dataset.points = points.length;
    chart.append(path);
  });
}

// Fault markers: a line each, its name in one of three rows above the plot, clear of the others.
function drawFaults(chart, plot, at, faults) {
  const rowEnds = [-Infinity, -Infinity, -Infinity];
  for (const fault of faults) {
    const x = at.x(fault.t);
    const wide = fault.name.length * 6.4 + 10;
    const right = x + wide <= plot.x + plot.w + MARGIN.right;
    const row = Math.max(0, rowEnds.findIndex((end) => end < x - (right ? 0 : wide)));
    rowEnds[row] = right ? x + wide : x;
    const top = plot.y - 8 - row * 15;
    const marker = svg("g", {class: "fault"});
    marker.dataset.fault = fault.name;
    marker.append(
      svg("line", {x1: px(x), x2: px(x), y1: top + 3, y2: plot.y + plot.h}),
      svg("text", {x: px(right ? x + 4 : x - 4), y: top, "text-anchor": right ? "start" : "end"}, fault.name),
      svg("title", {}, `${fault.name} at ${fault.t >= 0 ? "+" : ""}${fault.t.toFixed(3)} s`),
    );
    chart.append(marker);
  }
}

// The legend, along the top above the faults' names.
function drawLegend(chart, plot) {
  let left = plot.x;
  for (const [, , , colour, dashed, name] of SERIES) {
    chart.append(svg("line", {x1: left, x2: left + 22, y1: 10, y2: 10, stroke: colour,
                              class: dashed ? "series setpoint" : "series"}),
                 svg("text", {x: left + 27, y: 10, class: "legend", "dominant-baseline": "middle"}, name));
    left += 40 + name.length * 6.6;
  }
  chart.append(svg("line", {x1: left, x2: left, y1: 3, y2: 17, class: "fault-key"}),
               svg("text", {x: left + 6, y: 10, class: "legend", "dominant-baseline": "middle"}, "fault"));
}

// Above the chart: when, what, and the gun (a button per gun when the incident has several).
function chartHead(incident, gun, cause) {
  const head = element("div", "chart-head");
  head.append(element("b", "", new Date(incident.ts * 1000).toLocaleString()),
              element("span", "", `${cause.reason}: ${withoutGun(cause.detail)}`));
  if (incident.guns.length === 1) {
    head.append(element("span", "gun-id", "gun " + gun));
    return head;
  }
  const picker = element("span", "guns");
  for (const other of incident.guns) {
    const button = element("button", other === gun ? "chosen" : "", "gun " + other);
    button.type = "button";
    button.addEventListener("click", () => drawIncident(incident, other));
    picker.append(button);
  }
  head.append(picker);
  return head;
}

window.addEventListener("resize", () => {
  if (incidentView.incident) drawIncident(incidentView.incident, incidentView.gun);
});
refreshIncidents();
setInterval(refreshIncidents, INCIDENTS_POLL_MS);
