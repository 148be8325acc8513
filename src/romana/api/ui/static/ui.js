// romana's web view: the decode box decodes as you type, and a reachability cell opens its
// explanation in place. Everything else works without this script; it only reads (GET).
"use strict";

function decodeBox() {
  const input = document.getElementById("decode-address");
  const out = document.getElementById("decode-result");
  if (!input || !out) return;
  let latest = 0;
  input.addEventListener("input", async () => {
    const text = input.value.trim();
    const asked = ++latest;
    if (!text) { out.replaceChildren(); return; }
    if (!whole(text)) {
      out.replaceChildren(cell("p", "type a whole IPv4 or IPv6 address"));
      return;
    }
    const answer = await fetch("/ui/api/decode/" + encodeURIComponent(text), {
      headers: { Accept: "application/json" },
    });
    const body = await answer.json();
    if (asked !== latest) return; // a later keystroke asked again
    out.replaceChildren(answer.ok ? decodedTable(body) : problem(body));
  });
}

// Only a whole address is sent: a prefix of one ("10.1.") would be refused as invalid.
function whole(text) {
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(text)) return true;
  if (!/^[0-9a-fA-F:.]+$/.test(text) || text.endsWith(":")) return false;
  return text.includes("::") || text.split(":").length === 8;
}

function cell(tag, text) {
  const node = document.createElement(tag);
  node.textContent = text;
  return node;
}

function problem(body) {
  const p = cell("p", body.detail || body.title || "cannot decode");
  p.className = "refused";
  return p;
}

function decodedTable(d) {
  const name = (value, id) => (value || "(none)") + " (" + id + ")";
  const rows = [
    ["Address", d.address],
    ["Network", d.network],
    ["Host", (d.host || "(none)") + " (index " + d.host_index + ")"],
    ["Host prefix", d.host_prefix],
    ["Tenant", name(d.tenant, "id " + d.tenant_id)],
    ["Segment", name(d.segment, "id " + d.segment_id)],
    ["Endpoint", "ordinal " + d.ordinal + (d.is_gateway ? " (host gateway)" : "")],
    ["Allocation", d.allocation ? d.allocation.key : "(free)"],
  ];
  const table = document.createElement("table");
  table.id = "decoded";
  const head = table.createTHead().insertRow();
  head.append(cell("th", "Field"), cell("th", "Value"));
  const body = table.createTBody();
  for (const [field, value] of rows) {
    const row = body.insertRow();
    row.append(cell("td", field), cell("td", String(value)));
  }
  return table;
}

function matrix() {
  const table = document.getElementById("matrix");
  const panel = document.getElementById("explanation");
  if (!table || !panel) return;
  table.addEventListener("click", async (event) => {
    const link = event.target.closest("a.cell");
    if (!link) return;
    event.preventDefault();
    const query = new URLSearchParams({
      from: link.dataset.from, to: link.dataset.to, port: link.dataset.port,
    });
    const answer = await fetch("/ui/api/explain-html?" + query.toString());
    const text = await answer.text();
    const doc = new DOMParser().parseFromString(text, "text/html");
    panel.replaceChildren(...doc.body.childNodes);
    panel.hidden = false;
    for (const other of table.querySelectorAll("td.chosen")) other.classList.remove("chosen");
    link.parentElement.classList.add("chosen");
  });
}

document.addEventListener("DOMContentLoaded", () => { decodeBox(); matrix(); });
