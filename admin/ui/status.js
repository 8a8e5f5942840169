// Meridian's status page: fetches /api/v1/status every few seconds and
// renders one table of endpoints per service.
"use strict";

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  for (const c of children) e.append(c);
  return e;
}

async function refresh() {
  try {
    const res = await fetch("/api/v1/status", { cache: "no-store" });
    const st = await res.json();
    document.getElementById("summary").textContent =
      `version ${st.version}${st.server_id ? ", " + st.server_id : ""}, ` +
      (st.ready ? "ready" : "waiting for " + (st.waiting_for || []).join(", ")) +
      `, updated ${new Date(st.time).toLocaleTimeString()}`;
    const box = document.getElementById("services");
    box.replaceChildren();
    for (const z of st.zones || []) {
      for (const s of z.services) {
        box.append(el("h2", {}, s.name));
        const t = el("table", { "data-service": s.name },
          el("tr", {}, el("th", {}, "region"), el("th", {}, "endpoint"), el("th", {}, "weight"),
            el("th", {}, "state"), el("th", {}, "latency"), el("th", {}, "last error")));
        for (const e of s.endpoints) {
          t.append(el("tr", { "data-endpoint": e.address },
            el("td", {}, e.region), el("td", {}, e.address), el("td", {}, String(e.weight)),
            el("td", { class: e.state }, e.state + (e.admin ? " (admin " + e.admin + ")" : "")),
            el("td", {}, e.latency_ms ? e.latency_ms.toFixed(1) + " ms" : ""),
            el("td", {}, e.last_error || "")));
        }
        box.append(t);
      }
    }
  } catch (err) {
    document.getElementById("summary").textContent = "cannot reach the server: " + err;
  }
}

refresh();
setInterval(refresh, 3000);
