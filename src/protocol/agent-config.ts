/**
 * The group's agent settings as the runner receives them (env BERTH_AGENT_CONFIG, JSON). The host
 * checks them with agentConfigProblems before storing a group; the runner parses them again.
 */
export interface McpServer {
  command: string;
  args?: string[];
  env?: Record<string, string>;
}

export interface AgentConfig {
  allowedTools?: string[];
  disallowedTools?: string[];
  model?: string;
  systemPromptSuffix?: string;
  maxTurns?: number;
  mcpServers?: Record<string, McpServer>;
}

export const AGENT_CONFIG_KEYS = [
  'allowedTools',
  'disallowedTools',
  'model',
  'systemPromptSuffix',
  'maxTurns',
  'mcpServers',
] as const;

// Programs run inside the container: a name looked up on PATH, or a path in the image or workspace.
const COMMAND =
  /^(?:[A-Za-z0-9][A-Za-z0-9._+-]{0,127}|\/(?:usr|bin|opt|workspace)\/[A-Za-z0-9._+/-]{1,250})$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;
// Names the runner and the proxy rely on; an MCP server must not see or replace them.
const RESERVED_ENV = /^(BERTH_|ANTHROPIC_|CLAUDE_CODE_OAUTH_TOKEN$|CLAUDE_CONFIG_DIR$|HOME$|PATH$)/;
const SERVER_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

/** Why an MCP server declaration is refused (command, args, env), or an empty list. */
export function mcpServerProblems(name: string, server: McpServer): string[] {
  const at = `mcpServers.${name}`;
  const problems: string[] = [];
  if (!SERVER_NAME.test(name)) problems.push(`${at}: server names match ${SERVER_NAME.source}`);
  if (!COMMAND.test(server.command) || server.command.split('/').includes('..'))
    problems.push(
      `${at}.command: a program name on the container's PATH or an absolute path under /usr, /bin, /opt or /workspace (it runs inside the container; host paths mean nothing there)`,
    );
  for (const arg of server.args ?? [])
    if (arg.includes('\0')) problems.push(`${at}.args: arguments may not contain NUL`);
  for (const key of Object.keys(server.env ?? {})) {
    if (!ENV_NAME.test(key)) problems.push(`${at}.env.${key}: not an environment variable name`);
    else if (RESERVED_ENV.test(key)) problems.push(`${at}.env.${key}: reserved for berth`);
  }
  return problems;
}

/** Lenient parse for the runner: unknown keys are dropped, a malformed value fails loudly. */
export function parseAgentConfig(raw: string | undefined): AgentConfig {
  if (!raw) return {};
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    throw new Error('BERTH_AGENT_CONFIG is not JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new Error('BERTH_AGENT_CONFIG is not a JSON object');
  const v = value as Record<string, unknown>;
  return Object.fromEntries(AGENT_CONFIG_KEYS.filter((k) => v[k] !== undefined).map((k) => [k, v[k]]));
}

/** The agent settings out of a group's container config, as the env value for the runner. */
export function agentConfigEnv(config: AgentConfig): string {
  const picked = Object.fromEntries(
    AGENT_CONFIG_KEYS.filter((k) => config[k] !== undefined).map((k) => [k, config[k]]),
  );
  return JSON.stringify(picked);
}
