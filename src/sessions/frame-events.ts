import type { NewEvent } from '../events/event-log.ts';
import type { Frame } from '../protocol/frames.ts';

/** The event an agent frame of visible work becomes (text, replies, tool calls, usage), if any. */
export function frameEvent(frame: Frame): NewEvent | undefined {
  switch (frame.type) {
    case 'reply':
      return { kind: 'output', stream: 'reply', data: { inReplyTo: frame.inReplyTo, text: frame.text } };
    case 'text':
      return { kind: 'output', stream: 'assistant', data: { inReplyTo: frame.inReplyTo, text: frame.text } };
    case 'tool': {
      const { type: _type, phase, ...data } = frame;
      return { kind: 'tool', stream: phase, data };
    }
    case 'usage': {
      const { type: _type, ...data } = frame;
      return { kind: 'usage', data };
    }
    case 'error':
      return {
        kind: 'lifecycle',
        data: { type: 'agent_error', message: frame.message, ...(frame.id ? { messageId: frame.id } : {}) },
      };
    default:
      return undefined;
  }
}
