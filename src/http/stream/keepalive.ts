import { WebSocket } from 'ws';

export interface Keepalive {
  watch(socket: WebSocket): void;
  stop(): void;
}

/** Pings every socket each interval and terminates one that has not answered two pings in a row. */
export function keepalive(intervalMs: number): Keepalive {
  const unanswered = new Map<WebSocket, number>();
  const timer = setInterval(() => {
    for (const [socket, missed] of unanswered) {
      if (missed >= 2) {
        unanswered.delete(socket);
        socket.terminate();
      } else if (socket.readyState === WebSocket.OPEN) {
        unanswered.set(socket, missed + 1);
        socket.ping();
      }
    }
  }, intervalMs);
  timer.unref();
  return {
    watch(socket) {
      unanswered.set(socket, 0);
      socket.on('pong', () => {
        if (unanswered.has(socket)) unanswered.set(socket, 0);
      });
      socket.once('close', () => unanswered.delete(socket));
    },
    stop() {
      clearInterval(timer);
      unanswered.clear();
    },
  };
}
