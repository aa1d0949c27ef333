import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import process from 'node:process';
import {
  type Options,
  type Query,
  query,
  type SDKMessage,
  type SDKResultMessage,
  type SDKUserMessage,
} from '@anthropic-ai/claude-agent-sdk';
import { type AgentConfig, parseAgentConfig } from '../../src/protocol/agent-config.ts';
import { Inbox } from './inbox.ts';
import { ToolTracker } from './tools.ts';
import { type AgentMode, type Turn, TurnError } from './turn.ts';

/** Where the image keeps Claude Code's native binary (from the SDK's platform package). */
const CLAUDE_BINARY = '/opt/berth/claude';

interface SavedState {
  /** The SDK session this conversation continues. */
  sessionId: string;
  /** The SDK's running cost total when the last turn ended (it is cumulative across a resumed session). */
  costUsd: number;
}

async function loadState(file: string): Promise<SavedState | undefined> {
  try {
    const v = JSON.parse(await readFile(file, 'utf8')) as Partial<SavedState>;
    if (typeof v.sessionId === 'string' && /^[0-9a-f-]{8,64}$/.test(v.sessionId))
      return { sessionId: v.sessionId, costUsd: typeof v.costUsd === 'number' ? v.costUsd : 0 };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new TurnError(`cannot read ${file}: ${err}`);
  }
  return undefined;
}

/** Write-then-rename: a crash mid-write never leaves a torn state file behind. */
async function saveState(file: string, state: SavedState): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(state)}\n`);
  await rename(tmp, file);
}

async function readMemory(file: string, title: string): Promise<string> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.trim() ? `\n\n# ${title} (${file})\n\n${text.trim()}\n` : '';
}

/** The group's and the global CLAUDE.md become part of the system prompt, with the group's suffix. */
async function systemAppend(workspace: string, config: AgentConfig): Promise<string> {
  const global = await readMemory(path.join(workspace, 'global', 'CLAUDE.md'), 'Global memory');
  const group = await readMemory(path.join(workspace, 'group', 'CLAUDE.md'), 'Group memory');
  const suffix = config.systemPromptSuffix ? `\n\n${config.systemPromptSuffix}\n` : '';
  return `${global}${group}${suffix}`;
}

/** The environment Claude Code runs with: ours, minus berth's settings, plus every non-essential call off. */
function claudeEnv(env: NodeJS.ProcessEnv, configDir: string): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = { ...env };
  delete out.BERTH_AGENT_CONFIG;
  return {
    ...out,
    CLAUDE_CONFIG_DIR: configDir,
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
    DISABLE_TELEMETRY: '1',
    DISABLE_ERROR_REPORTING: '1',
    DISABLE_AUTOUPDATER: '1',
    DISABLE_BUG_COMMAND: '1',
    CLAUDE_CODE_DISABLE_FEEDBACK_SURVEY: '1',
  };
}

function sdkOptions(env: NodeJS.ProcessEnv, config: AgentConfig, append: string, resume?: string): Options {
  const workspace = env.BERTH_WORKSPACE || '/workspace';
  const configDir = path.join(env.HOME || '/home/agent', '.claude');
  const builtIn = config.allowedTools?.filter((t) => !t.startsWith('mcp__'));
  const mcpServers = Object.fromEntries(
    Object.entries(config.mcpServers ?? {}).map(([name, s]) => [
      name,
      // alwaysLoad: the server's tools are in the first request instead of behind tool search.
      { type: 'stdio' as const, command: s.command, args: s.args ?? [], env: s.env ?? {}, alwaysLoad: true },
    ]),
  );
  return {
    cwd: workspace,
    pathToClaudeCodeExecutable: CLAUDE_BINARY,
    env: claudeEnv(env, configDir),
    // The container is the sandbox: no permission prompts, and the agent user is never root.
    permissionMode: 'bypassPermissions',
    allowDangerouslySkipPermissions: true,
    settingSources: ['user', 'project'],
    systemPrompt: { type: 'preset', preset: 'claude_code', append },
    mcpServers,
    mcpServersDelivery: 'initialize',
    ...(builtIn ? { tools: builtIn, allowedTools: config.allowedTools } : {}),
    ...(config.disallowedTools ? { disallowedTools: config.disallowedTools } : {}),
    ...(config.model ? { model: config.model } : {}),
    ...(config.maxTurns ? { maxTurns: config.maxTurns } : {}),
    ...(resume ? { resume } : {}),
    stderr: (data) => {
      for (const line of data.split('\n')) if (line.trim()) process.stderr.write(`claude: ${line}\n`);
    },
  };
}

function userMessage(text: string, sessionId: string): SDKUserMessage {
  return {
    type: 'user',
    message: { role: 'user', content: text },
    parent_tool_use_id: null,
    session_id: sessionId,
  };
}

/** Why a turn's result is a failure, worded for the session's events. */
function failure(result: SDKResultMessage): string {
  if (result.subtype === 'success') return result.result || 'the model call failed';
  if (result.subtype === 'error_max_turns') return `stopped after ${result.num_turns} turns (maxTurns)`;
  return result.errors?.join('; ') || result.subtype;
}

/**
 * Claude mode: one long-lived Agent SDK query per container in streaming-input mode. Each inbound
 * message is a user turn; assistant text, tool calls and usage are sent as frames while it runs.
 */
export async function claudeAgent(env: NodeJS.ProcessEnv): Promise<AgentMode> {
  const config = parseAgentConfig(env.BERTH_AGENT_CONFIG);
  const workspace = env.BERTH_WORKSPACE || '/workspace';
  const stateFile = path.join(workspace, '.berth', 'claude-session.json');
  let state = await loadState(stateFile);
  const append = await systemAppend(workspace, config);
  let inbox = new Inbox<SDKUserMessage>();
  let q: Query = query({ prompt: inbox, options: sdkOptions(env, config, append, state?.sessionId) });
  /** Until the first turn ends well, a failure may mean the saved session cannot be resumed. */
  let resumeChecked = state === undefined;
  let interrupted = false;

  /** The saved session is gone (its transcript was removed): start a new conversation with this turn. */
  function startFresh(turn: Turn): void {
    turn.log(`cannot resume session ${state?.sessionId}; starting a new conversation`);
    state = undefined;
    resumeChecked = true;
    q.close();
    inbox = new Inbox<SDKUserMessage>();
    q = query({ prompt: inbox, options: sdkOptions(env, config, append) });
    inbox.push(userMessage(turn.text, ''));
  }

  async function next(turn: Turn): Promise<SDKMessage> {
    const { value, done } = await q.next();
    if (done) throw new TurnError('Claude Code exited before the turn ended (see the log)');
    if (value.type === 'system' && value.subtype === 'api_retry')
      turn.log(
        `upstream error ${value.error_status ?? ''} ${value.error}; retry ${value.attempt}/${value.max_retries} in ${value.retry_delay_ms} ms`,
      );
    return value;
  }

  return {
    async interrupt() {
      interrupted = true;
      await q.interrupt();
    },
    async run(turn) {
      interrupted = false;
      inbox.push(userMessage(turn.text, state?.sessionId ?? ''));
      const tools = new ToolTracker(turn);
      let held = '';
      for (;;) {
        const msg = await next(turn);
        if (msg.type === 'assistant' && msg.parent_tool_use_id === null) {
          for (const block of msg.message.content) {
            if (block.type === 'text' && block.text) {
              // Text is held one step: the last piece is the reply, the earlier ones are progress.
              if (held) turn.emit({ type: 'text', inReplyTo: turn.id, text: held });
              held = block.text;
            } else if (block.type === 'tool_use' || block.type === 'mcp_tool_use') {
              tools.started(block.id, block.name, block.input);
            }
          }
        } else if (msg.type === 'user') {
          tools.finished(msg.message.content);
        } else if (msg.type === 'result') {
          if (!resumeChecked && msg.is_error && /no conversation found/i.test(failure(msg))) {
            startFresh(turn);
            continue;
          }
          resumeChecked = true;
          const before = state?.costUsd ?? 0;
          if (msg.session_id) {
            state = { sessionId: msg.session_id, costUsd: msg.total_cost_usd };
            await saveState(stateFile, state);
          }
          tools.abandon();
          turn.emit({
            type: 'usage',
            inReplyTo: turn.id,
            inputTokens: msg.usage.input_tokens,
            outputTokens: msg.usage.output_tokens,
            cacheReadTokens: msg.usage.cache_read_input_tokens ?? 0,
            cacheCreationTokens: msg.usage.cache_creation_input_tokens ?? 0,
            costUsd: Math.max(0, msg.total_cost_usd - before),
            turns: msg.num_turns,
            durationMs: msg.duration_ms,
            ...(interrupted ? { interrupted: true } : {}),
          });
          if (interrupted) {
            if (held) turn.reply(held);
            return;
          }
          if (msg.is_error || msg.subtype !== 'success') throw new TurnError(failure(msg));
          turn.reply(msg.result || held);
          return;
        }
      }
    },
  };
}
