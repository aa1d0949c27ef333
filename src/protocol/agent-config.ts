/**
 * The group's agent settings as the runner receives them (env BERTH_AGENT_CONFIG, JSON). openapi.yaml
 * validates them when a group is stored (MCP commands, env names); the runner parses them again.
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
