import { execa } from 'execa';
import { encodeMessage, FrameParser, newFrameNonce, encodeClose } from './src/protocol/frames.ts';
import { startFakeModel } from './test/support/fake-model.ts';

const model = await startFakeModel({
  reply: ({ body }) => {
    const b = body as { messages: { role: string; content: unknown }[]; tools?: { name: string }[]; system?: unknown };
    console.log('REQ tools=', (b.tools ?? []).map((t) => t.name).join(','), 'msgs=', b.messages.length);
    const last = b.messages.at(-1)!;
    const hasResult = Array.isArray(last.content) && (last.content as { type: string }[]).some((c) => c.type === 'tool_result');
    if (!b.tools?.length) return 'aux';
    if (hasResult) return 'Done: wrote hello.txt';
    return { text: 'Writing the file.', tools: [{ name: 'Bash', input: { command: 'echo hi > hello.txt; id -u; cat hello.txt', description: 'write' } }] };
  },
});
const nonce = newFrameNonce();
const args = ['run', '-i', '--rm', '--pull=never', '--network=host', '--read-only', '--cap-drop=ALL', '--security-opt=no-new-privileges',
  '--tmpfs', '/tmp:rw,size=64m', '--tmpfs', '/home/agent:rw,size=64m,mode=1777',
  '-v', '/tmp/agentdeb/ws:/workspace', '-v', '/tmp/agentdeb/claude:/home/agent/.claude',
  '-e', `BERTH_FRAME_NONCE=${nonce}`, '-e', 'BERTH_AGENT=claude', '-e', `ANTHROPIC_BASE_URL=${model.url}`, '-e', 'ANTHROPIC_API_KEY=placeholder-xyz',
  '-e', 'HOME=/home/agent', '--user', '1000:1000', process.argv[2] ?? 'berth-agent:dev-agent'];
const child = execa(process.env.RT ?? 'podman', args, { buffer: false, reject: false, stdin: 'pipe' });
const parser = new FrameParser(nonce);
let done = 0;
child.stdout!.on('data', (c: Buffer) => { for (const it of parser.push(c)) { if (it.kind === 'frame' && it.frame.type === 'heartbeat') continue; console.log('OUT', JSON.stringify(it)); if (it.kind === 'frame' && (it.frame.type === 'ack' || it.frame.type === 'error')) { done++; if (done === 1) child.stdin!.write(encodeClose()); } } });
child.stderr!.on('data', (c: Buffer) => process.stdout.write(`ERR ${c}`));
child.stdin!.write(encodeMessage({ id: 'm1', seq: 1, text: 'create hello.txt containing hi' }));
const t = setTimeout(() => { console.log('TIMEOUT'); child.kill(); }, 90_000);
const r = await child; clearTimeout(t);
console.log('exit', r.exitCode); await model.close();
