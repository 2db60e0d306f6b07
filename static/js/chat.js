// The live chat of a room (templates/meetings/_chat.html).
//
// socket.js subscribes to the room's stream from the number the page was
// rendered at (data-stream, data-seq) and, after a reconnect, from the last
// number it saw; it drops repeats. This module shows each message once and
// in order whatever arrives: messages are keyed by their sequence number and
// placed by it. It sends, edits and deletes messages (frames in
// meetings/chat.py), lets moderators delete any and mute, pages back through
// history when scrolled to the top, shows who is here and who is typing, and
// keeps the room's unread mark (sent as read while the newest message is on
// screen).
//
// A message being sent waits below the list until acknowledged; if the socket
// drops first, it is sent again with the same client_id once the socket is
// back (the server does not store it twice), in the order it was written.

const HEARTBEAT_MS = 20_000;
const TYPING_SEND_MS = 2_000;
const TYPING_SHOW_MS = 4_000;
const READ_DELAY_MS = 600;
const NEAR_EDGE_PX = 48;

for (const root of document.querySelectorAll("[data-chat][data-stream]")) chat(root);

function chat(root) {
  const socket = window.workspaceSocket;
  if (!socket) return;
  const room = Number(root.dataset.room);
  const stream = root.dataset.stream;
  const me = Number(root.dataset.me);
  const moderator = root.dataset.moderator === "true";
  const strings = JSON.parse(root.querySelector('script[type="application/json"]').textContent);
  const timeZone = root.dataset.timeZone || undefined;
  const log = root.querySelector("[data-chat-log]");
  const list = root.querySelector("[data-chat-messages]");
  const pendingList = root.querySelector("[data-chat-pending]");
  const empty = root.querySelector("[data-chat-empty]");
  const more = root.querySelector("[data-chat-more]");
  const jump = root.querySelector("[data-chat-jump]");
  const typingLine = root.querySelector("[data-chat-typing]");
  const presence = root.querySelector("[data-chat-presence]");
  const people = root.querySelector("[data-chat-people]");
  const status = root.querySelector("[data-chat-status]");
  const refusal = root.querySelector("[data-chat-refusal]");
  const form = root.querySelector("[data-chat-form]");
  const input = root.querySelector("[data-chat-input]");
  const error = root.querySelector("[data-chat-error]");

  const messages = new Map(); // message seq -> <li>
  const pending = new Map(); // client_id -> {item, body, seq}
  const typists = new Map(); // user id -> {name, timer}
  const timers = new Map(); // see later()
  let hasMore = root.dataset.hasMore === "true";
  let loadingHistory = false;
  let lastSeen = Number(root.dataset.seq) || 0; // highest event number of the stream
  let lastRead = Number(root.dataset.lastRead) || 0;
  let lastTypingSent = 0;
  let readTimer = null;
  let connected = document.documentElement.dataset.socket === "open";
  let subscribed = false; // to the room, on the socket open now
  let mutedUntil = parseDate(root.dataset.mutedUntil);
  let gone = false; // access ended

  for (const item of list.children) {
    messages.set(Number(item.dataset.seq), item);
    const time = item.querySelector("time");
    if (time) time.textContent = formatTime(time.dateTime); // as for live messages
    decorate(item);
  }
  more.hidden = !hasMore;
  scrollToEnd();
  markUnreadDivider();
  updateComposer();
  updateUnread();

  // --- The socket -------------------------------------------------------------

  document.addEventListener("ws:event", ({ detail: frame }) => {
    if (frame.stream === stream) {
      if (frame.seq) lastSeen = Math.max(lastSeen, frame.seq);
      handleEvent(frame.event, frame.data);
    } else if (frame.event === "room.read" && frame.data.room === room) {
      lastRead = Math.max(lastRead, frame.data.seq);
      updateUnread();
    }
  });
  document.addEventListener("ws:subscribed", ({ detail }) => {
    if (detail.stream !== stream) return;
    connected = true;
    subscribed = true;
    showStatus("");
    // Whatever was sent but not acknowledged goes again (same client_id), in
    // the order it was written.
    for (const [clientId, entry] of pending) {
      if (entry.seq === null) sendMessage(clientId, entry.body);
    }
    heartbeat();
    scheduleRead();
  });
  document.addEventListener("ws:open", () => {
    connected = true;
  });
  document.addEventListener("ws:unsubscribed", ({ detail }) => {
    if (detail.stream !== stream || detail.reason !== "access") return;
    gone = true;
    showStatus(strings.gone);
    updateComposer();
    presence.hidden = true;
  });
  document.addEventListener("ws:close", () => {
    connected = false;
    subscribed = false;
    if (!gone) showStatus(strings.offline);
  });
  document.addEventListener("ws:ack", ({ detail }) => {
    if (detail.request === "chat.send") acknowledged(detail);
  });
  document.addEventListener("ws:history", ({ detail }) => {
    if (detail.room === room) historyArrived(detail);
  });
  document.addEventListener("ws:error", ({ detail }) => refused(detail));

  function handleEvent(event, data) {
    if (event === "message.created" || event === "message.edited" || event === "message.deleted") {
      place(data.message, event === "message.created");
    } else if (event === "presence") {
      showPresence(data.users);
    } else if (event === "typing") {
      if (data.user !== me) showTyping(data.user, data.name);
    } else if (event === "member.muted") {
      if (data.user === me) {
        mutedUntil = parseDate(data.until);
        updateComposer();
      }
    }
  }

  // --- Messages -------------------------------------------------------------------

  function place(message, isNew) {
    const existing = messages.get(message.seq);
    const oldest = list.firstElementChild;
    if (!existing && !isNew && hasMore && oldest && message.seq < Number(oldest.dataset.seq)) {
      return; // a change to a message further back than the page shows
    }
    const item = render(message);
    // Known before settlePending runs: the ack may have come first.
    messages.set(message.seq, item);
    if (existing) {
      if (existing.dataset.body !== undefined && !message.deleted && !message.edited) {
        item.dataset.body = existing.dataset.body;
      }
      existing.replaceWith(item);
    } else {
      const atEnd = nearEnd();
      insertInOrder(item);
      if (isNew) {
        settlePending(message.seq);
        stopTyping(message.author?.id);
        if (atEnd || message.author?.id === me) scrollToEnd();
        else jump.hidden = false;
      }
    }
    empty.hidden = messages.size > 0 || pending.size > 0;
    updateUnread();
    scheduleRead();
  }

  function insertInOrder(item) {
    const seq = Number(item.dataset.seq);
    const last = list.lastElementChild;
    if (!last || Number(last.dataset.seq) < seq) {
      list.append(item);
      return;
    }
    for (const other of list.children) {
      if (Number(other.dataset.seq) > seq) {
        other.before(item);
        return;
      }
    }
    list.append(item);
  }

  function render(message) {
    const item = document.createElement("li");
    item.className = "chat-message";
    if (message.author?.id === me) item.classList.add("chat-mine");
    if (message.deleted) item.classList.add("chat-deleted");
    item.dataset.seq = message.seq;
    item.dataset.id = message.id;
    item.dataset.author = message.author ? message.author.id : "";
    const meta = element("p", "chat-meta");
    meta.append(element("span", "chat-author", message.author ? message.author.name : "—"), " ");
    const time = element("time", "", formatTime(message.created_at));
    time.dateTime = message.created_at;
    meta.append(time);
    if (message.edited && !message.deleted) {
      meta.append(" ", element("span", "chat-edited", strings.edited));
    }
    const body = element("div", "chat-body prose");
    if (message.deleted) body.append(element("p", "chat-gone", strings.deleted));
    else body.innerHTML = message.html; // sanitised by the server (nh3)
    item.append(meta, body);
    decorate(item);
    return item;
  }

  // The buttons a person may use on a message.
  function decorate(item) {
    item.querySelector(".chat-actions")?.remove();
    if (item.classList.contains("chat-deleted")) return;
    const author = Number(item.dataset.author) || null;
    const mine = author === me;
    const actions = element("div", "chat-actions");
    if (mine) actions.append(button(strings.edit, () => startEdit(item)));
    if (mine || moderator) actions.append(button(strings.delete, () => remove(item)));
    if (moderator && author && !mine) actions.append(button(strings.mute, () => startMute(item)));
    if (actions.children.length) item.append(actions);
  }

  function startEdit(item) {
    if (item.querySelector(".chat-edit")) return;
    const body = item.querySelector(".chat-body");
    const editor = element("form", "chat-edit");
    const area = document.createElement("textarea");
    area.rows = 2;
    area.value = item.dataset.body ?? body.innerText.trim();
    area.setAttribute("aria-label", strings.edit);
    const save = button(strings.save, null, "submit", "button button-primary button-small");
    const cancel = button(strings.cancel, () => finish(), "button", "button button-small");
    editor.append(area, save, cancel);
    body.hidden = true;
    body.after(editor);
    area.focus();
    function finish() {
      editor.remove();
      body.hidden = false;
    }
    area.addEventListener("keydown", (event) => {
      if (event.key === "Escape") finish();
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        editor.requestSubmit();
      }
    });
    editor.addEventListener("submit", (event) => {
      event.preventDefault();
      const text = area.value.trim();
      if (!text) return;
      item.dataset.body = text;
      socket.send({ type: "chat.edit", message: Number(item.dataset.id), body: text });
      finish();
    });
  }

  function remove(item) {
    if (!window.confirm(strings.confirmDelete)) return;
    socket.send({ type: "chat.delete", message: Number(item.dataset.id) });
  }

  function startMute(item) {
    if (item.querySelector(".chat-mute")) return;
    const picker = element("form", "chat-mute");
    const label = element("label", "", strings.muteFor);
    const select = document.createElement("select");
    select.id = `chat-mute-${item.dataset.id}`;
    label.htmlFor = select.id;
    for (const minutes of [5, 15, 60, 1440]) {
      const option = document.createElement("option");
      option.value = minutes;
      option.textContent = strings.minutes.replace("%(count)s", minutes);
      select.append(option);
    }
    const confirm = button(strings.mute, null, "submit", "button button-danger button-small");
    const cancel = button(strings.cancel, () => picker.remove(), "button", "button button-small");
    picker.append(label, select, confirm, cancel);
    item.append(picker);
    select.focus();
    picker.addEventListener("submit", (event) => {
      event.preventDefault();
      socket.send({
        type: "chat.mute",
        room,
        user: Number(item.dataset.author),
        minutes: Number(select.value),
      });
      picker.remove();
    });
  }

  // --- Sending ------------------------------------------------------------------

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const body = input.value.trim();
    if (!body) return;
    const clientId = newClientId();
    const item = element("li", "chat-message chat-mine chat-sending");
    const meta = element("p", "chat-meta", strings.sending);
    const text = element("div", "chat-body");
    text.textContent = body;
    item.append(meta, text);
    pendingList.append(item);
    pending.set(clientId, { item, body, seq: null });
    input.value = "";
    showError("");
    empty.hidden = true;
    scrollToEnd();
    sendMessage(clientId, body);
  });

  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  input.addEventListener("input", () => {
    const now = Date.now();
    if (!connected || !input.value.trim() || now - lastTypingSent < TYPING_SEND_MS) return;
    lastTypingSent = now;
    socket.send({ type: "typing", room });
  });

  // Until the room is subscribed on the socket open now, a message waits in
  // `pending`: sent from socket.js' queue on reconnect it would overtake one
  // lost with the old socket, resent only once subscribed.
  function sendMessage(clientId, body) {
    if (subscribed) socket.send({ type: "chat.send", room, body, client_id: clientId });
  }

  function acknowledged({ client_id: clientId, seq }) {
    const entry = pending.get(clientId);
    if (!entry) return;
    entry.seq = seq;
    if (messages.has(seq)) settlePending(seq);
  }

  // The message arrived: its placeholder goes.
  function settlePending(seq) {
    for (const [clientId, entry] of pending) {
      if (entry.seq === seq) {
        const shown = messages.get(seq);
        if (shown) shown.dataset.body = entry.body;
        entry.item.remove();
        pending.delete(clientId);
      }
    }
  }

  function refused(frame) {
    if (!frame.request || !(frame.request.startsWith("chat.") || frame.request === "typing")) {
      return;
    }
    if (frame.request === "chat.send" && pending.has(frame.client_id)) {
      const entry = pending.get(frame.client_id);
      entry.item.remove();
      pending.delete(frame.client_id);
      if (!input.value) input.value = entry.body;
    }
    if (frame.code === "muted") {
      mutedUntil = parseDate(frame.until);
      updateComposer();
    }
    if (frame.request === "chat.history") loadingHistory = false;
    showError(frame.message);
  }

  // --- History ------------------------------------------------------------------

  log.addEventListener("scroll", () => {
    if (log.scrollTop < NEAR_EDGE_PX) loadEarlier();
    if (nearEnd()) {
      jump.hidden = true;
      scheduleRead();
    }
  });
  more.querySelector("button").addEventListener("click", loadEarlier);
  jump.addEventListener("click", () => {
    scrollToEnd();
    jump.hidden = true;
    scheduleRead();
  });

  function loadEarlier() {
    if (!hasMore || loadingHistory || !connected) return;
    loadingHistory = true;
    const oldest = list.firstElementChild;
    const frame = { type: "chat.history", room, limit: Number(root.dataset.historyPage) || 50 };
    if (oldest) frame.before_seq = Number(oldest.dataset.seq);
    socket.send(frame);
  }

  function historyArrived(frame) {
    loadingHistory = false;
    hasMore = frame.has_more;
    more.hidden = !hasMore;
    const before = log.scrollHeight;
    for (const message of frame.messages) {
      if (messages.has(message.seq)) continue;
      const item = render(message);
      insertInOrder(item);
      messages.set(message.seq, item);
    }
    empty.hidden = messages.size > 0;
    log.scrollTop += log.scrollHeight - before; // the same messages stay in view
  }

  // --- Presence and typing ---------------------------------------------------------

  function showPresence(users) {
    people.replaceChildren();
    users.forEach((user, index) => {
      if (index) people.append(", ");
      const name = element("span", "chat-person", user.name);
      if (user.id === me) name.append(` (${strings.you})`);
      people.append(name);
    });
    if (!users.some((user) => user.id !== me)) people.append(` — ${strings.nobody}`);
    presence.hidden = gone;
  }

  function heartbeat() {
    if (connected && !gone) socket.send({ type: "presence.heartbeat", room });
  }
  setInterval(heartbeat, HEARTBEAT_MS);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") {
      heartbeat();
      scheduleRead();
    }
  });

  function showTyping(userId, name) {
    const known = typists.get(userId);
    if (known) clearTimeout(known.timer);
    typists.set(userId, { name, timer: setTimeout(() => stopTyping(userId), TYPING_SHOW_MS) });
    renderTyping();
  }

  function stopTyping(userId) {
    const known = typists.get(userId);
    if (!known) return;
    clearTimeout(known.timer);
    typists.delete(userId);
    renderTyping();
  }

  function renderTyping() {
    const names = [...typists.values()].map((typist) => typist.name);
    if (!names.length) typingLine.textContent = "";
    else if (names.length === 1) typingLine.textContent = strings.typingOne.replace("%(name)s", names[0]);
    else typingLine.textContent = strings.typingMany.replace("%(names)s", names.join(", "));
  }

  // --- Unread mark ----------------------------------------------------------------

  function unreadCount() {
    let count = 0;
    for (const [seq, item] of messages) {
      if (seq > lastRead && Number(item.dataset.author) !== me && !item.classList.contains("chat-deleted")) {
        count += 1;
      }
    }
    return count;
  }

  function updateUnread() {
    const count = unreadCount();
    for (const badge of document.querySelectorAll(`[data-unread-room="${room}"]`)) {
      badge.textContent = strings.unread.replace("%(count)s", count);
      badge.hidden = count === 0;
    }
  }

  // Marks read what is on screen: the newest message, while the page is seen.
  function scheduleRead() {
    clearTimeout(readTimer);
    readTimer = setTimeout(() => {
      if (document.visibilityState !== "visible" || !nearEnd() || lastSeen <= lastRead) return;
      if (!connected) return;
      lastRead = lastSeen;
      updateUnread();
      socket.send({ type: "chat.read", room, seq: lastSeen });
    }, READ_DELAY_MS);
  }

  function markUnreadDivider() {
    const first = [...list.children].find(
      (item) => Number(item.dataset.seq) > lastRead && Number(item.dataset.author) !== me,
    );
    first?.classList.add("chat-first-unread");
  }

  // --- The composer ---------------------------------------------------------------

  function updateComposer() {
    const now = Date.now();
    const opens = parseDate(root.dataset.opensAt);
    const closes = parseDate(root.dataset.closesAt);
    const muted = mutedUntil && mutedUntil > now;
    const open = (!opens || opens <= now) && (!closes || now < closes);
    const canSend =
      !gone &&
      !muted &&
      (root.dataset.canSend === "true" ||
        (root.dataset.canSendWhenOpen === "true" && open));
    form.hidden = !canSend || (closes !== null && now >= closes);
    if (muted) {
      refusal.textContent = strings.muted.replace("%(time)s", formatTime(mutedUntil));
      refusal.className = "chat-refusal message message-warning";
      refusal.hidden = false;
      later(mutedUntil, () => {
        mutedUntil = null;
        updateComposer();
      });
    } else if (closes && now >= closes && root.dataset.canSendWhenOpen === "true") {
      refusal.textContent = strings.closed;
      refusal.className = "chat-refusal meta";
      refusal.hidden = false;
    } else if (refusal.classList.contains("message-warning")) {
      refusal.hidden = true;
    }
    // The meeting room opens or closes while the page is open.
    if (opens && opens > now) later(opens, updateComposer);
    if (closes && closes > now) later(closes, updateComposer);
  }

  // --- Helpers ----------------------------------------------------------------

  function nearEnd() {
    return log.scrollHeight - log.scrollTop - log.clientHeight < NEAR_EDGE_PX;
  }

  function scrollToEnd() {
    log.scrollTop = log.scrollHeight;
  }

  function showStatus(text) {
    status.textContent = text;
    status.hidden = !text;
  }

  function showError(text) {
    error.textContent = text || "";
    error.hidden = !text;
  }

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function button(text, onClick, type = "button", className = "link-button") {
    const node = element("button", className, text);
    node.type = type;
    if (onClick) node.addEventListener("click", onClick);
    return node;
  }

  function formatTime(value) {
    const date = value instanceof Date ? value : new Date(value);
    // A 24-hour clock and the month's name, as the server's formats.
    const options = { hour: "2-digit", minute: "2-digit", hourCycle: "h23", timeZone };
    const today = new Date().toDateString() === date.toDateString();
    if (!today) Object.assign(options, { day: "numeric", month: "short" });
    try {
      return date.toLocaleString(document.documentElement.lang || undefined, options);
    } catch {
      return date.toLocaleString();
    }
  }

  function parseDate(text) {
    if (!text) return null;
    const time = Date.parse(text);
    return Number.isNaN(time) ? null : time;
  }

  function later(when, callback) {
    const key = `${when}:${callback.name}`;
    if (timers.has(key)) return;
    // setTimeout's delay is a 32-bit number of milliseconds.
    const delay = Math.min(when - Date.now() + 50, 2 ** 31 - 1);
    timers.set(
      key,
      setTimeout(() => {
        timers.delete(key);
        callback();
      }, delay),
    );
  }

  function newClientId() {
    if (window.crypto?.randomUUID) return crypto.randomUUID();
    return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
  }
}
