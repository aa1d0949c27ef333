import { AppError } from '../errors.ts';
import type { EventLog } from '../events/event-log.ts';
import type { Metrics } from '../metrics.ts';
import type { Queryable } from '../store/db.ts';
import { failPending } from '../store/messages.ts';
import type { Check } from './control.ts';

/** The settings that give berth a model credential, named in every message about a missing one. */
export const CREDENTIAL_SETTINGS = 'ANTHROPIC_API_KEY, CLAUDE_CODE_OAUTH_TOKEN or BERTH_CREDENTIALS_FILE';

/**
 * Whether agents can reach the model: the Claude agent needs a credential (without one berth is not
 * ready: it would answer nothing), the echo agent none. The detail names the mode, never the value.
 */
export function credentialCheck(agent: string, mode: () => string): Check {
  if (agent !== 'claude') return { ok: true, detail: `not needed by the ${agent} agent` };
  const current = mode();
  if (current !== 'none') return { ok: true, detail: current };
  return {
    ok: false,
    detail: `no model credential is configured: set ${CREDENTIAL_SETTINGS} in berth's environment (the Claude agent cannot answer without one)`,
  };
}

/**
 * A wake without a model credential starts no container: the session's pending messages fail at once
 * with the reason (instead of each turn waiting out the model's retries), and the wake is refused.
 */
export async function refuseWithoutCredential(
  deps: { db: Queryable; events: EventLog; metrics: Metrics },
  sessionId: string,
  problem: string,
): Promise<never> {
  const error = `MODEL_CREDENTIAL_MISSING: ${problem}`;
  const failed = await failPending(deps.db, sessionId, error);
  deps.metrics.messages('failed', failed.length);
  for (const m of failed)
    void deps.events.append(sessionId, {
      kind: 'lifecycle',
      data: { type: 'message_failed', messageId: m.id, seq: m.seq, reason: error },
    });
  throw new AppError('MODEL_CREDENTIAL_MISSING', problem);
}
