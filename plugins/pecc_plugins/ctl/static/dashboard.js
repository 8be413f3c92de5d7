// The PECC dashboard: renders the control API's live feed (/api/live, Server-Sent Events).
// One card per gun and one tile per module, built once and then only their texts updated;
// the incidents' list and chart are incidents.js's.
"use strict";

const MAX_EVENTS = 50;
const guns = new Map();     // gun id -> {card, fields}
const modules = new Map();  // module id ("can1:5") -> {tile, fields}
const buses = new Map();  // bus name -> {group, load, grid}

const $ = (id) => document.getElementById(id);
const fixed = (value, digits) => (value == null ? "–" : Number(value).toFixed(digits));
const kw = (watts) => fixed(watts / 1000, 1);

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

// A card with named text fields; `set` writes a field only when it changed.
function fieldsOf(root) {
  const fields = {};
  for (const node of root.querySelectorAll("[data-field]")) fields[node.dataset.field] = node;
  return fields;
}
function set(fields, name, text) {
  const node = fields[name];
  if (node.textContent !== text) node.textContent = text;
}

function gunCard(gun) {
  const card = element("article", "gun");
  card.dataset.gun = gun.id;
  card.innerHTML =
    '<div class="top"><span class="id"></span><span class="state" data-field="state"></span></div>' +
    '<div class="secc" data-field="secc"></div>' +
    '<div class="nums"><span><b data-field="voltage"></b> V</span><span><b data-field="current"></b> A</span>' +
    '<span><b data-field="power"></b> kW</span></div>' +
    '<div class="meta"><span data-field="energy"></span> kWh this session</div>' +
    '<div class="meta">iso <span data-field="isolation"></span> · <span data-field="contactors"></span></div>' +
    '<div class="meta" data-field="modules"></div>' +
    '<div class="faults" data-field="faults"></div>';
  card.querySelector(".id").textContent = gun.id;
  return {card, fields: fieldsOf(card)};
}

function renderGun(gun) {
  let entry = guns.get(gun.id);
  if (!entry) {
    entry = gunCard(gun);
    guns.set(gun.id, entry);
    $("guns").append(entry.card);
  }
  const {card, fields} = entry;
  const className = "gun st-" + gun.state;
  if (card.className !== className) card.className = className;
  set(fields, "state", gun.state);
  set(fields, "secc", gun.secc + (gun.secc_connected ? " · connected" : " · no SECC"));
  set(fields, "voltage", fixed(gun.measured_voltage, 0));
  set(fields, "current", fixed(gun.measured_current, 1));
  set(fields, "power", kw(gun.power_w));
  set(fields, "energy", gun.session ? fixed(gun.session.energy_wh / 1000, 2) : "–");
  set(fields, "isolation", gun.isolation);
  set(fields, "contactors", "contactors " + gun.contactors);
  set(fields, "modules", gun.modules.length ? "modules " + gun.modules.join(" ") : "no modules");
  set(fields, "faults", gun.faults.join("; "));
}

// One group per bus: its name and load over its modules' tiles.
function busGroup(name) {
  let entry = buses.get(name);
  if (!entry) {
    const group = element("div", "bus");
    group.dataset.bus = name;
    const title = element("h3", "", name);
    const load = element("span", "load");
    title.append(" ", load);
    const grid = element("div", "grid modules");
    group.append(title, grid);
    entry = {group, load, grid};
    buses.set(name, entry);
    $("modules").append(group);
  }
  return entry;
}

function renderBus(bus) {
  const {load} = busGroup(bus.name);
  set({load}, "load", `· ${fixed(bus.load_percent, 0)} % of the bus`);
  load.classList.toggle("high", bus.load_percent > 30);
}

function renderModule(module) {
  let entry = modules.get(module.id);
  if (!entry) {
    const tile = element("div", "module");
    tile.dataset.module = module.id;
    tile.innerHTML =
      '<span class="addr"></span> → <span data-field="gun"></span>' +
      '<div><span data-field="temperature"></span> °C · <span data-field="power"></span> kW</div>' +
      '<span class="faults" data-field="faults"></span>';
    tile.querySelector(".addr").textContent = "#" + module.address;
    entry = {tile, fields: fieldsOf(tile)};
    modules.set(module.id, entry);
    busGroup(module.bus).grid.append(tile);
  }
  const {tile, fields} = entry;
  const look = !module.online ? "offline" : module.faults.length ? "faulted" : module.gun == null ? "idle" : "";
  const className = "module " + look;
  if (tile.className !== className) tile.className = className;
  set(fields, "gun", module.gun ?? "free");
  set(fields, "temperature", fixed(module.temperature, 0));
  set(fields, "power", kw(module.voltage * module.current));
  set(fields, "faults", !module.online ? "offline" : module.faults.join(", "));
}

function renderSnapshot(snapshot) {
  $("station").textContent = snapshot.station;
  snapshot.guns.forEach(renderGun);
  snapshot.buses.forEach(renderBus);
  snapshot.modules.forEach(renderModule);
  const count = (test) => snapshot.guns.filter(test).length;
  $("summary").replaceChildren(
    element("span", "", `${snapshot.guns.length} guns`),
    element("span", "", `${count((g) => g.state === "charge")} charging`),
    element("span", "", `${count((g) => g.faults.length > 0 || g.state === "inoperative")} faulted`),
    element("span", "", `${count((g) => g.secc_connected)} SECCs connected`),
  );
  const {power_w: power, max_power_w: cap} = snapshot.site;
  $("site-text").textContent = `site ${kw(power)} kW / ${cap == null ? "no cap" : kw(cap) + " kW"}`;
  const share = cap ? Math.min(1, power / cap) : 0;
  $("site-bar").style.width = (share * 100).toFixed(1) + "%";
  $("site-bar").classList.toggle("high", share > 0.9);
}

// One line per history event (the kinds and fields of /api/events).
const DESCRIBE = {
  state: (e) => `${e.from} -> ${e.to}: ${e.reason}`,
  fault: (e) => e.fault,
  fault_cleared: (e) => "cleared: " + e.fault,
  secc_connected: (e) => `SECC connected from ${e.peer} (${e.subprotocol ?? "no sub-protocol"})`,
  secc_disconnected: (e) => "SECC disconnected: " + e.reason,
  refused: (e) => (e.suppressed ? `${e.suppressed} more refusals` : `refused ${e.request} (${e.category}): ${e.details}`),
  session: (e) => `session ${e.outcome}: ${fixed(e.energy_wh / 1000, 2)} kWh, peak ${kw(e.peak_power_w)} kW (${e.reason})`,
  limits: (e) => `limits (${e.source}): ${JSON.stringify(e.update)}`,
  operator: (e) => "operator: " + e.action,
  station: (e) => "station " + e.what,
  incident: (e) => `incident ${e.incident}: ${e.reason}, guns ${e.guns.join(", ")}, ${Math.round(e.size / 1024)} kB`,
};

function renderEvent(event) {
  const item = element("li", "ev-" + event.kind);
  const time = element("time", "", new Date(event.ts * 1000).toLocaleTimeString());
  const describe = DESCRIBE[event.kind] ?? ((e) => `${e.kind} ${JSON.stringify(e)}`);
  item.append(time, element("span", "gun-id", event.gun ?? "station"), element("span", "", describe(event)));
  const list = $("events");
  list.prepend(item);
  while (list.children.length > MAX_EVENTS) list.lastChild.remove();
}

function connect() {
  const source = new EventSource("/api/live");
  // The server replays its recent events on every (re)connection: start the list afresh.
  source.addEventListener("open", () => {
    $("events").replaceChildren();
    $("link").textContent = "live";
    $("link").className = "up";
  });
  source.addEventListener("error", () => {
    $("link").textContent = "reconnecting…";
    $("link").className = "down";
    // Refused (signed out, session ended): the browser gives up; reloading shows the sign-in page.
    if (source.readyState === EventSource.CLOSED) setTimeout(() => location.reload(), 1000);
  });
  source.addEventListener("snapshot", (message) => renderSnapshot(JSON.parse(message.data)));
  source.addEventListener("event", (message) => {
    const event = JSON.parse(message.data);
    renderEvent(event);
    incidentFeedEvent(event);  // incidents.js
  });
}

connect();
