// Public webinar pages: the times are written in UTC; shown here in the
// visitor's own zone, and the registration form learns the zone (for the
// times in its emails). Without script the UTC times stay.
const lang = document.documentElement.lang || undefined;
const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
for (const node of document.querySelectorAll("time[data-local-time]")) {
  const moment = new Date(node.getAttribute("datetime"));
  if (Number.isNaN(moment.getTime())) continue;
  const options = node.hasAttribute("data-time-only")
    ? { hour: "2-digit", minute: "2-digit", timeZoneName: "short" }
    : { weekday: "short", year: "numeric", month: "long", day: "numeric", hour: "2-digit", minute: "2-digit" };
  node.textContent = new Intl.DateTimeFormat(lang, options).format(moment);
}
for (const node of document.querySelectorAll("[data-local-zone]")) {
  node.textContent = `(${zone})`;
  node.hidden = false;
}
const field = document.querySelector("input[name=time_zone]");
if (field && zone) field.value = zone;
