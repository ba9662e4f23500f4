// The managers' dashboard: every number comes from the /v1 report routes. No framework,
// no network beyond this server. Elements holding an API figure carry data-metric, which
// the end-to-end test reads back and compares with the API.
"use strict";

const KEY = "abri.key";
const KINDS = {
  assore_hotel: "Hotel rooms (ASSORE)",
  specialised_unit: "Specialised units",
  rest_space: "Rest spaces",
  out_of_region: "Out of region",
};
const COLOURS = { assore_hotel: "#2b6cb0", specialised_unit: "#2f855a", rest_space: "#b7791f", out_of_region: "#6b46c1" };
const SVG = "http://www.w3.org/2000/svg";
// Île-de-France, where the map is drawn; out-of-region facilities are counted, not drawn.
const AREA = { minLat: 48.1, maxLat: 49.25, minLon: 1.4, maxLon: 3.6 };

function key() {
  const fragment = new URLSearchParams(location.hash.slice(1)).get("key");
  if (fragment) {  // a key handed over in the fragment (never sent to a server) is kept, then wiped from the URL
    sessionStorage.setItem(KEY, fragment);
    history.replaceState(null, "", location.pathname);
  }
  return sessionStorage.getItem(KEY);
}

async function api(path) {
  const answer = await fetch(path, { headers: { "X-API-Key": key(), Accept: "application/json" } });
  if (!answer.ok) {
    const problem = await answer.json().catch(() => ({}));
    throw new Error(`${answer.status} ${problem.title || answer.statusText}: ${problem.detail || path}`);
  }
  return answer.json();
}

async function everything(path) {  // follows next_cursor to the end
  const items = [];
  let cursor = null;
  do {
    const page = await api(path + (cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""));
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor);
  return items;
}

function element(tag, attributes = {}, text = null, namespace = null) {
  const node = namespace ? document.createElementNS(namespace, tag) : document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  if (text !== null) node.textContent = text;
  return node;
}

const shown = (value) => (value === null || value === undefined ? "—" : String(value));
const percent = (rate) => (rate === null || rate === undefined ? "—" : `${(rate * 100).toFixed(1)} %`);

function kindCards(report) {
  const cards = document.getElementById("kinds");
  cards.replaceChildren();
  for (const group of [...report.groups, { ...report.total, group: "total", label: "All kinds" }]) {
    const card = element("article", { class: "card" });
    card.append(element("h3", {}, KINDS[group.group] || group.label));
    card.append(element("p", { class: "big", "data-metric": `occupancy.${group.group}.occupancy_rate` }, percent(group.occupancy_rate)));
    const figures = element("dl");
    for (const [name, label] of [["in_service", "places in service"], ["occupied", "occupied"], ["held", "held"],
                                 ["out_of_service", "out of service"], ["free", "free"]]) {
      figures.append(element("dt", {}, label), element("dd", { "data-metric": `occupancy.${group.group}.${name}` }, shown(group[name])));
    }
    card.append(figures);
    cards.append(card);
  }
}

function lineChart(series) {
  const width = 900, height = 260, left = 48, bottom = 24;
  const svg = element("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "Occupancy rate by kind, daily" }, null, SVG);
  const points = series.points;
  const x = (i) => left + (i / Math.max(points.length - 1, 1)) * (width - left - 8);
  const y = (rate) => (height - bottom) - rate * (height - bottom - 8);
  for (const tick of [0, 0.25, 0.5, 0.75, 1]) {
    svg.append(element("line", { x1: left, x2: width - 8, y1: y(tick), y2: y(tick), class: "grid" }, null, SVG));
    svg.append(element("text", { x: left - 6, y: y(tick) + 4, class: "axis", "text-anchor": "end" }, `${tick * 100}%`, SVG));
  }
  for (const [i, point] of points.entries()) {
    if (point.at.slice(8, 10) === "01") {
      svg.append(element("text", { x: x(i), y: height - 6, class: "axis", "text-anchor": "middle" }, point.at.slice(0, 7), SVG));
    }
  }
  const legend = element("figcaption");
  for (const kind of Object.keys(KINDS)) {
    const rates = points.map((p) => (p.groups.find((g) => g.group === kind) || {}).occupancy_rate);
    if (rates.every((r) => r === null || r === undefined)) continue;
    let path = "", pen = "M";
    rates.forEach((rate, i) => {
      if (rate === null || rate === undefined) { pen = "M"; return; }
      path += `${pen}${x(i).toFixed(1)},${y(rate).toFixed(1)} `;
      pen = "L";
    });
    svg.append(element("path", { d: path, stroke: COLOURS[kind], class: "line" }, null, SVG));
    const last = points[points.length - 1].groups.find((g) => g.group === kind);
    legend.append(element("span", { style: `color:${COLOURS[kind]}`, "data-metric": `series.${kind}.last_rate` }, `${KINDS[kind]} ${percent(last && last.occupancy_rate)}`));
  }
  const figure = document.getElementById("series");
  figure.replaceChildren(svg, legend);
}

function colourOf(rate) {  // green when places are free, red when full
  if (rate === null || rate === undefined) return "#a0aec0";
  const hue = Math.round(120 * (1 - Math.min(Math.max(rate, 0), 1)));
  return `hsl(${hue}, 70%, 42%)`;
}

function map(facilities, occupancy, sites) {
  const width = 560, height = 420;
  const rates = new Map(occupancy.groups.map((g) => [g.group, g]));
  const inside = (p) => p.lat >= AREA.minLat && p.lat <= AREA.maxLat && p.lon >= AREA.minLon && p.lon <= AREA.maxLon;
  const drawn = facilities.filter(inside);
  const box = drawn.concat(sites.filter(inside)).reduce(
    (b, p) => ({ minLat: Math.min(b.minLat, p.lat), maxLat: Math.max(b.maxLat, p.lat), minLon: Math.min(b.minLon, p.lon), maxLon: Math.max(b.maxLon, p.lon) }),
    { minLat: 90, maxLat: -90, minLon: 180, maxLon: -180 });
  const pad = 0.01, cos = Math.cos(((box.minLat + box.maxLat) / 2) * Math.PI / 180);
  const spanX = (box.maxLon - box.minLon + 2 * pad) * cos, spanY = box.maxLat - box.minLat + 2 * pad;
  const scale = Math.min(width / spanX, height / spanY);
  const x = (lon) => (lon - box.minLon + pad) * cos * scale;
  const y = (lat) => height - (lat - box.minLat + pad) * scale;
  const svg = element("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "Facilities coloured by occupancy, and consumption sites" }, null, SVG);
  svg.append(element("rect", { x: 0, y: 0, width, height, class: "sea" }, null, SVG));
  for (const facility of drawn) {
    const group = rates.get(facility.id);
    const dot = element("circle", { cx: x(facility.lon).toFixed(1), cy: y(facility.lat).toFixed(1), r: 5, fill: colourOf(group && group.occupancy_rate), class: "facility", "data-facility": facility.id }, null, SVG);
    dot.append(element("title", {}, `${facility.name}: ${group ? `${shown(group.occupied)} occupied of ${group.in_service}` : "no place in service"}`, SVG));
    svg.append(dot);
  }
  for (const site of sites.filter(inside)) {
    const cross = element("g", { class: "site", transform: `translate(${x(site.lon).toFixed(1)},${y(site.lat).toFixed(1)})` }, null, SVG);
    cross.append(element("path", { d: "M-5,-5L5,5M-5,5L5,-5" }, null, SVG), element("title", {}, `Consumption site: ${site.name}`, SVG));
    svg.append(cross);
  }
  document.getElementById("map").replaceChildren(svg);
  document.getElementById("map-note").textContent =
    `${drawn.length} facilities drawn (dots, green free to red full), ${sites.length} active consumption sites (crosses); ` +
    `${facilities.length - drawn.length} facilities outside Île-de-France not drawn.`;
  document.getElementById("map-note").dataset.metric = "map.facilities_drawn";
  document.getElementById("map-note").dataset.value = String(drawn.length);
}

function bars(id, rows, metric) {
  const figure = document.getElementById(id);
  const table = element("table");
  const numbers = rows.map((r) => (typeof r.value === "number" ? r.value : 0));
  const top = Math.max(...numbers, 1);
  for (const [i, row] of rows.entries()) {
    const line = element("tr");
    line.append(element("th", {}, row.label));
    const bar = element("td", { class: "bar" });
    bar.append(element("span", { style: `width:${(100 * numbers[i]) / top}%` }));
    line.append(bar, element("td", { "data-metric": `${metric}.${i}` }, shown(row.value)));
    table.append(line);
  }
  figure.replaceChildren(table);
}

function waiting(report) {
  document.getElementById("waiting-total").textContent = shown(report.waiting);
  bars("waiting", report.by_age.map((b) => ({ label: b.to_days === null ? `${b.from_days}+ days` : `${b.from_days}–${b.to_days} days`, value: b.people })), "waiting.by_age");
}

function distance(report) {
  const hotels = report.current.find((d) => d.kind === "assore_hotel");
  const rows = hotels.bands.map((b) => ({ label: b.to_km === null ? `${b.from_km}+ km` : `${b.from_km}–${b.to_km} km`, value: b.placements }));
  bars("distance", rows, "distance.assore_hotel");
  const note = element("p", { class: "note", "data-metric": "distance.assore_hotel.share_below" },
    hotels.share_below === null ? "Share below 1 km: —" : `Share of hotel placements below ${hotels.threshold_km} km: ${percent(hotels.share_below)}`);
  document.getElementById("distance").append(note);
}

function isoDay(date) { return date.toISOString().slice(0, 10); }

async function load() {
  const status = document.getElementById("status");
  const today = new Date();
  const yearAgo = new Date(today.getTime() - 365 * 86400000);
  status.textContent = "Loading…";
  const [now, series, byFacility, facilities, sites, queue, distances] = await Promise.all([
    api("/v1/occupancy?group_by=kind"),
    api(`/v1/occupancy/series?from=${isoDay(yearAgo)}&to=${isoDay(today)}&step=day&group_by=kind`),
    api("/v1/occupancy?group_by=facility"),
    everything("/v1/facilities?limit=500"),
    everything(`/v1/sites?limit=500&active_at=${encodeURIComponent(today.toISOString())}`),
    api("/v1/reports/waiting"),
    api("/v1/reports/distance"),
  ]);
  kindCards(now);
  lineChart(series);
  map(facilities, byFacility, sites);
  waiting(queue);
  distance(distances);
  status.textContent = `Figures at ${new Date(now.at).toLocaleString()}`;
  status.dataset.at = now.at;
  document.body.dataset.loaded = "true";
}

function start() {
  const login = document.getElementById("login"), board = document.getElementById("board");
  const forget = document.getElementById("forget");
  forget.onclick = () => { sessionStorage.removeItem(KEY); location.reload(); };
  login.onsubmit = (event) => {
    event.preventDefault();
    sessionStorage.setItem(KEY, document.getElementById("key").value.trim());
    start();
  };
  if (!key()) {
    login.hidden = false;
    board.hidden = true;
    document.getElementById("status").textContent = "Enter a key to see the figures.";
    return;
  }
  login.hidden = true;
  board.hidden = false;
  forget.hidden = false;
  load().catch((error) => {
    document.getElementById("status").textContent = `Could not load the figures: ${error.message}`;
    document.body.dataset.loaded = "error";
  });
}

start();
