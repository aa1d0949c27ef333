import type { NewEvent } from '../events/event-log.ts';
import type { Launched } from './launcher.ts';

/** The lifecycle events of a wake: the wake itself, then each extra mount that was refused at it. */
export function wakeEvents(launched: Launched, generation: number): NewEvent[] {
  return [
    {
      kind: 'lifecycle',
      generation,
      data: {
        type: 'wake',
        containerName: launched.containerName,
        image: launched.image,
        network: launched.network,
      },
    },
    // A mount that passed at group creation can fail now (path gone, allowlist changed): say so.
    ...launched.refusedMounts.map(
      (refusal): NewEvent => ({ kind: 'lifecycle', generation, data: { type: 'mount_refused', ...refusal } }),
    ),
  ];
}
