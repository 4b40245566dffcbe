/**
 * The personalities a queue manager can have, by name. Each maps its applications' messages
 * to the controller's neutral message and back (docs/PERSONALITIES.md).
 */
import { Errors } from '../errors.js';
import { jms } from './jms/personality.js';
import { mq } from './mq/personality.js';
import type { Personality } from './personality.js';

const PERSONALITIES = new Map<string, Personality>([[mq.name, mq], [jms.name, jms]]);

export const PERSONALITY_NAMES: readonly string[] = [...PERSONALITIES.keys()];

export function personality(name: string): Personality {
  const found = PERSONALITIES.get(name);
  if (found === undefined) {
    throw Errors.invalidArgument(`personality must be one of ${PERSONALITY_NAMES.join(', ')}`);
  }
  return found;
}
