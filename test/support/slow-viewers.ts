import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import process from 'node:process';

// Opens N WebSocket viewers that replay from after=0 and never read a byte after the handshake.
// Usage: slow-viewers.ts <port> <path> <token> <count>; prints {"upgraded":n,"refused":{status:n}} and
// holds every socket open until stdin closes.

const [port, urlPath, token, count] = process.argv.slice(2) as [string, string, string, string];
const sockets: Socket[] = [];

function open(): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1', () => {
      socket.write(
        [
          `GET ${urlPath} HTTP/1.1`,
          `Host: 127.0.0.1:${port}`,
          'Upgrade: websocket',
          'Connection: Upgrade',
          'Sec-WebSocket-Version: 13',
          `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`,
          `Authorization: Bearer ${token}`,
          '',
          '',
        ].join('\r\n'),
      );
    });
    socket.once('error', reject);
    socket.once('data', (chunk: Buffer) => {
      // The slow part: nothing more is read, so the server's writes back up.
      socket.pause();
      sockets.push(socket);
      resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(chunk.toString('latin1'))?.[1] ?? 0));
    });
  });
}

const statuses = await Promise.all(Array.from({ length: Number(count) }, open));
const refused: Record<string, number> = {};
for (const s of statuses.filter((s) => s !== 101)) refused[s] = (refused[s] ?? 0) + 1;
process.stdout.write(`${JSON.stringify({ upgraded: statuses.filter((s) => s === 101).length, refused })}\n`);
process.stdin.resume();
process.stdin.on('end', () => {
  for (const socket of sockets) socket.destroy();
  process.exit(0);
});
