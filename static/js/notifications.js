// The bell in the header: its count follows the person's own stream.
//
// A "notifications.changed" event on user:<id> (socket.js dispatches it as a
// "ws:event") says that the person's notifications changed; the count is
// then asked of the server, which decides afresh what they may still see.
// After a reconnect it is asked again, since events may have been missed.

const bell = document.querySelector("[data-bell]");
if (bell) follow(bell);

function follow(bell) {
  const badge = bell.querySelector("[data-bell-count]");
  const stream = bell.dataset.streamUser;
  let asking = null;

  async function refresh() {
    const response = await fetch(bell.dataset.countUrl, {
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    });
    if (!response.ok) return;
    const { count } = await response.json();
    // No number and no badge at 0 (an empty span takes no room).
    badge.textContent = count ? String(count) : "";
    badge.classList.toggle("badge", count > 0);
    bell.dataset.count = String(count);
  }

  function ask() {
    // One request at a time; a change meanwhile asks once more after it.
    asking = (asking || Promise.resolve())
      .then(refresh)
      .catch((error) => console.warn(error));
  }

  document.addEventListener("ws:event", (event) => {
    const frame = event.detail;
    if (frame.stream === stream && frame.event === "notifications.changed") ask();
  });
  let opened = false;
  document.addEventListener("ws:open", () => {
    if (opened) ask();
    opened = true;
  });
  bell.dataset.count = badge.textContent.trim() || "0";
}
