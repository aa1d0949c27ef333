import { openSocket } from './api.js';

// Close codes after which reconnecting cannot help (the key was revoked or expired).
const FINAL = new Set([4001]);
const MAX_BACKOFF_MS = 10_000;

/**
 * A session's events over `GET /v1/sessions/{id}/stream`, replayed from the start and then live.
 * It remembers the last seq it handed on and reconnects with `after=<seq>`, so a dropped
 * connection or a pause resumes without gaps or duplicates.
 */
export class EventStream {
  constructor(sessionId, { onEvent, onState }) {
    this.sessionId = sessionId;
    this.onEvent = onEvent;
    this.onState = onState;
    this.lastSeq = 0;
    this.socket = null;
    this.closed = false;
    this.paused = false;
    this.failures = 0;
    this.timer = null;
  }

  start() {
    this.connect();
    return this;
  }

  connect() {
    clearTimeout(this.timer);
    if (this.closed || this.paused) return;
    const path = `/v1/sessions/${encodeURIComponent(this.sessionId)}/stream?after=${this.lastSeq}`;
    let socket;
    try {
      socket = openSocket(path);
    } catch (err) {
      // Retrying cannot help: the key itself cannot be offered.
      return this.onState(`closed: ${err.message}`);
    }
    this.socket = socket;
    this.onState(this.lastSeq === 0 ? 'connecting' : 'resuming');
    socket.onopen = () => {
      this.failures = 0;
      this.onState('live');
    };
    socket.onmessage = (message) => {
      const frame = JSON.parse(message.data);
      if (frame.type !== 'event' || frame.seq <= this.lastSeq) return;
      this.lastSeq = frame.seq;
      this.onEvent(frame);
    };
    socket.onclose = (event) => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (this.closed) return;
      if (this.paused) return this.onState('paused');
      if (FINAL.has(event.code)) return this.onState(`closed: ${event.reason || event.code}`);
      // Backs off 1 s, 2 s, 4 s … up to 10 s while the server stays unreachable.
      const delay = Math.min(MAX_BACKOFF_MS, 1000 * 2 ** this.failures++);
      this.onState(`reconnecting in ${Math.round(delay / 1000)} s`);
      this.timer = setTimeout(() => this.connect(), delay);
    };
  }

  /** Pausing closes the socket; resuming reconnects from the last seq seen. */
  setPaused(paused) {
    this.paused = paused;
    if (paused) {
      clearTimeout(this.timer);
      if (this.socket) this.socket.close(1000, 'paused');
      else this.onState('paused');
    } else if (!this.socket) {
      this.failures = 0;
      this.connect();
    }
  }

  close() {
    this.closed = true;
    clearTimeout(this.timer);
    this.socket?.close(1000, 'viewer left');
    this.socket = null;
  }
}
