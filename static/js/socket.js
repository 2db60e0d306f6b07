// The one WebSocket of a browser tab. It multiplexes the streams the page
// subscribes to, reconnects with backoff, and on reconnect asks for every
// stream's events after the last sequence number it saw, so that each event
// reaches the page exactly once and in order.
//
//   workspaceSocket.subscribe("thread:12", 40)   // 40: the seq the page was rendered at
//   document.addEventListener("ws:event", (e) => e.detail /* {stream, seq, event, data} */)
//   workspaceSocket.send({type: "...", ...})
// A page can also declare its streams: <div data-stream="thread:12" data-seq="40">.

const MIN_DELAY = 500;
const MAX_DELAY = 15000;

class WorkspaceSocket {
  constructor(url) {
    this.url = url;
    this.delay = MIN_DELAY;
    this.queue = [];
    this.streams = new Map(); // stream -> last seq seen (null: none yet)
    this.connect();
  }

  connect() {
    this.ws = new WebSocket(this.url);
    this.ws.addEventListener("open", () => {
      this.delay = MIN_DELAY;
      document.documentElement.dataset.socket = "open";
      for (const [stream, seq] of this.streams) this.sendSubscribe(stream, seq);
      for (const frame of this.queue.splice(0)) this.ws.send(JSON.stringify(frame));
      document.dispatchEvent(new CustomEvent("ws:open"));
    });
    this.ws.addEventListener("message", (message) => {
      let frame;
      try {
        frame = JSON.parse(message.data);
      } catch {
        return;
      }
      if (frame.type === "event") {
        if (!this.accept(frame)) return;
        document.dispatchEvent(new CustomEvent("ws:event", { detail: frame }));
        return;
      }
      if (frame.type === "hello") this.sessionRetried = false;
      if (frame.type === "unsubscribed") this.streams.delete(frame.stream);
      document.dispatchEvent(new CustomEvent(`ws:${frame.type}`, { detail: frame }));
    });
    this.ws.addEventListener("close", (event) => {
      document.documentElement.dataset.socket = "closed";
      document.dispatchEvent(new CustomEvent("ws:close", { detail: { code: event.code } }));
      if (event.code === 4401) {
        // The socket's session ended. The browser may hold a newer session of
        // the same person (a password changed in another tab renews it): one
        // more try; if that is refused too, the person is signed out.
        if (!this.sessionRetried) {
          this.sessionRetried = true;
          setTimeout(() => this.connect(), MIN_DELAY);
        }
        return;
      }
      const jitter = Math.random() * this.delay * 0.3;
      setTimeout(() => this.connect(), this.delay + jitter);
      this.delay = Math.min(this.delay * 2, MAX_DELAY);
    });
  }

  // An event is shown once: a number at or below the last one seen is a repeat.
  accept(frame) {
    if (frame.seq === null || frame.seq === undefined || !this.streams.has(frame.stream)) {
      return true;
    }
    const last = this.streams.get(frame.stream);
    if (last !== null && frame.seq <= last) return false;
    this.streams.set(frame.stream, frame.seq);
    return true;
  }

  subscribe(stream, since = null) {
    this.streams.set(stream, since);
    if (this.ws.readyState === WebSocket.OPEN) this.sendSubscribe(stream, since);
  }

  unsubscribe(stream) {
    this.streams.delete(stream);
    this.send({ type: "unsubscribe", stream });
  }

  sendSubscribe(stream, since) {
    const frame = { type: "subscribe", stream };
    if (since !== null && since !== undefined) frame.since = since;
    this.ws.send(JSON.stringify(frame));
  }

  send(frame) {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(JSON.stringify(frame));
    else this.queue.push(frame);
  }
}

const scheme = location.protocol === "https:" ? "wss:" : "ws:";
const socket = new WorkspaceSocket(`${scheme}//${location.host}/ws/`);
window.workspaceSocket = socket;
for (const element of document.querySelectorAll("[data-stream]")) {
  const seq = element.dataset.seq === undefined ? null : Number(element.dataset.seq);
  socket.subscribe(element.dataset.stream, Number.isFinite(seq) ? seq : null);
}
