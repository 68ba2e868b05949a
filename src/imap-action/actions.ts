/**
 * The actions m365-imap-action applies to a mail, and the one fact each of them needs: which flag a
 * flag action stores, whether it needs a target folder or a keyword. Pure: no I/O.
 */

import { NODE_OPTIONS } from '../config/options';

/** Values of the `action` property (CONTRACT.md, the node options table), in the order the editor lists them. */
export const ACTION_NAMES = NODE_OPTIONS['m365-imap-action'].action.values;

export type ActionName = (typeof ACTION_NAMES)[number];

export function isActionName(value: unknown): value is ActionName {
  return typeof value === 'string' && (ACTION_NAMES as readonly string[]).includes(value);
}

/** A flag change: which flag, added or removed. */
export interface FlagChange {
  flag: string;
  add: boolean;
}

const SYSTEM_FLAGS: Partial<Record<ActionName, FlagChange>> = {
  read: { flag: '\\Seen', add: true },
  unread: { flag: '\\Seen', add: false },
  flag: { flag: '\\Flagged', add: true },
  unflag: { flag: '\\Flagged', add: false },
};

/** The flag change of a flag or keyword action; undefined for move, copy, delete and fetch. */
export function flagChangeOf(name: ActionName, keyword?: string): FlagChange | undefined {
  if (name === 'add-keyword' || name === 'remove-keyword') return { flag: keyword ?? '', add: name === 'add-keyword' };
  return SYSTEM_FLAGS[name];
}

export function needsTarget(name: ActionName): boolean {
  return name === 'move' || name === 'copy';
}

export function needsKeyword(name: ActionName): boolean {
  return name === 'add-keyword' || name === 'remove-keyword';
}

/**
 * An IMAP keyword is an atom (RFC 3501): no space, no control character, none of ( ) { % * " \ ]
 * and no leading backslash (those are system flags, set by the other actions).
 */
export function isValidKeyword(keyword: string): boolean {
  return /^[^\s(){%*"\\\]\x00-\x1f\x7f]+$/.test(keyword) && keyword.length <= 200;
}

/** How an action reads in a sentence ("mark as read", "move to \"Done\""). */
export function describeAction(name: ActionName, detail: { keyword?: string; target?: string } = {}): string {
  switch (name) {
    case 'read': return 'mark as read';
    case 'unread': return 'mark as unread';
    case 'flag': return 'flag';
    case 'unflag': return 'unflag';
    case 'add-keyword': return `add keyword "${detail.keyword ?? ''}" to`;
    case 'remove-keyword': return `remove keyword "${detail.keyword ?? ''}" from`;
    case 'move': return `move to "${detail.target ?? ''}"`;
    case 'copy': return `copy to "${detail.target ?? ''}"`;
    case 'delete': return 'delete';
    case 'fetch': return 'fetch';
  }
}
