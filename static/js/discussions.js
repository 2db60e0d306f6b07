// Live updates of a thread page.
//
// The page declares its stream (<div data-thread data-stream="thread:12"
// data-seq="40">); socket.js subscribes and dispatches each event once, in
// order, as a "ws:event" DOM event. Events carry ids only: for a post event
// this module fetches the post as the server renders it for this viewer
// (discussions:post_fragment) and puts it in its place; page order is the
// order of the posts' data-path, so a new post goes before the first post
// whose path sorts after its own. Other changes show a notice. A reply
// posted from the inline form under a post is placed the same way.

const root = document.querySelector("[data-thread][data-stream]");
if (root) follow(root);

function follow(root) {
  const stream = root.dataset.stream;
  const posts = root.querySelector("#posts");
  const notice = root.querySelector(".live-notice");
  const csrf = root.querySelector("input[name=csrfmiddlewaretoken]");
  const POST_EVENTS = new Set([
    "post.edited",
    "post.hidden",
    "post.unhidden",
    "post.deleted",
    "post.reactions",
  ]);
  // One event at a time, so that fetched posts land in event order.
  let queue = Promise.resolve();

  document.addEventListener("ws:event", (event) => {
    const frame = event.detail;
    if (frame.stream !== stream) return;
    queue = queue.then(() => handle(frame)).catch((error) => console.warn(error));
  });

  // A reply posted from the inline form (htmx) goes in its place as a live
  // one would; if its live event came first, the post is only refreshed.
  document.addEventListener("discussions:posted", (event) => {
    const { post, position } = event.detail;
    queue = queue
      .then(() => placePost(post, true, position))
      .catch((error) => console.warn(error));
  });

  // The inline reply form's Cancel: the form goes, the thread stays.
  root.addEventListener("click", (event) => {
    const cancel = event.target.closest("[data-cancel-inline-reply]");
    if (cancel) cancel.closest("form")?.remove();
  });

  document.addEventListener("ws:unsubscribed", (event) => {
    if (event.detail.stream === stream && event.detail.reason === "access") {
      tell(notice.dataset.access, true);
    }
  });

  async function handle({ event, data }) {
    if (event === "post.created") return placePost(data.post, true, data.position);
    if (POST_EVENTS.has(event)) return placePost(data.post, false);
    if (event === "thread.updated") return threadUpdated(data);
    if (event === "posts.split") return tell(notice.dataset.split, true);
    if (event === "thread.moved") return tell(notice.dataset.moved, true);
  }

  async function fetchPost(id) {
    const url = root.dataset.fragmentUrl.replace("/0/", `/${encodeURIComponent(id)}/`);
    const response = await fetch(url, {
      credentials: "same-origin",
      headers: { "HX-Request": "true" },
    });
    if (!response.ok) return null;
    const template = document.createElement("template");
    template.innerHTML = await response.text();
    return template.content.querySelector("article.post");
  }

  async function placePost(id, isNew, position) {
    if (!isNew && !document.getElementById(`post-${id}`)) return; // on another page
    const element = await fetchPost(id);
    if (!element) return;
    const current = document.getElementById(`post-${id}`);
    if (current) {
      current.replaceWith(element);
    } else {
      const path = element.dataset.path;
      const next = [...posts.querySelectorAll("article.post")].find(
        (other) => other.dataset.path > path,
      );
      if (next) {
        posts.insertBefore(element, next);
      } else if (root.dataset.hasNext === "true") {
        tell(notice.dataset.later, false);
        return; // it belongs on a later page
      } else {
        posts.append(element);
      }
      element.classList.add("post-arrived");
      markRead(position);
    }
    if (window.htmx) window.htmx.process(element);
  }

  function markRead(position) {
    if (!csrf || !Number.isFinite(position) || document.visibilityState !== "visible") return;
    fetch(root.dataset.markReadUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrf.value, "HX-Request": "true" },
      body: new URLSearchParams({ position: String(position) }),
    }).catch(() => {});
  }

  function threadUpdated(data) {
    const changes = [
      ["locked", data.locked, notice.dataset.locked, notice.dataset.unlocked],
      ["pinned", data.pinned, notice.dataset.pinned, notice.dataset.unpinned],
      ["hidden", data.hidden, notice.dataset.hidden, notice.dataset.unhidden],
    ];
    for (const [flag, value, on, off] of changes) {
      const now = value ? "true" : "false";
      if (root.dataset[flag] === now) continue;
      root.dataset[flag] = now;
      tell(value ? on : off, true);
      if (flag === "locked" && value && root.dataset.moderator !== "true") closeReplyForm();
    }
  }

  // A locked thread takes no replies from members: say so where they would write.
  function closeReplyForm() {
    const form = root.querySelector("#reply form");
    if (!form) return;
    const message = document.createElement("p");
    message.className = "message message-warning locked-notice";
    message.textContent = notice.dataset.locked;
    form.replaceWith(message);
  }

  function tell(text, offerReload) {
    if (!notice || !text) return;
    notice.replaceChildren(document.createTextNode(text));
    if (offerReload) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "link-button live-reload";
      button.textContent = notice.dataset.reload;
      button.addEventListener("click", () => window.location.reload());
      notice.append(" ", button);
    }
    notice.hidden = false;
  }
}
