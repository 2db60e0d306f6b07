// Times of things that happened (core/when.py renders <time data-when>):
// the last day's are told relative to now ("5 minutes ago", "vor 5 Minuten"),
// older ones exactly (the server's text, kept in the title). Brought up to
// date when the page loads (it may come from a cache) and every minute, so
// that neither a cached page nor a post inserted live goes stale.

const DAY_MS = 24 * 60 * 60 * 1000;
const UNITS = [
  ["hour", 60 * 60 * 1000],
  ["minute", 60 * 1000],
  ["second", 1000],
];
const lang = document.documentElement.lang || undefined;
let relative = null;
try {
  relative = new Intl.RelativeTimeFormat(lang, { numeric: "auto" });
} catch {
  relative = null;
}

function tell(node, now) {
  const moment = Date.parse(node.getAttribute("datetime"));
  const exact = node.getAttribute("title");
  if (Number.isNaN(moment) || !exact) return;
  const age = now - moment;
  let text = exact;
  if (relative && age > -60 * 1000 && age < DAY_MS) {
    const [unit, size] = UNITS.find(([, size]) => Math.abs(age) >= size) || UNITS[UNITS.length - 1];
    text = relative.format(-Math.max(0, Math.floor(age / size)), unit);
  }
  if (node.textContent !== text) node.textContent = text;
}

function update() {
  const now = Date.now();
  for (const node of document.querySelectorAll("time[data-when]")) tell(node, now);
}

update();
setInterval(update, 60 * 1000);
// Fragments swapped in by htmx get the same treatment at once.
document.addEventListener("htmx:afterSettle", update);
