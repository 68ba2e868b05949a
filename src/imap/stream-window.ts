/**
 * How a backlog is cut into streamed FETCH windows: pure functions over UIDs, so the rules that
 * decide how often the watcher waits for the server can be tested without one.
 *
 * imapflow runs one command at a time, and a FETCH cannot be ended early without the server
 * sending the rest of it anyway, so a window is one UID FETCH that is read to its end. Every
 * window costs a round trip before its first mail arrives; within a window the server keeps
 * sending while the flow works on the current mail (imapflow's back-pressure bounds what waits in
 * memory to about one parsed response plus the socket buffers). A window therefore ends only
 * where it must:
 *
 * - a few mails after the first large one: a large mail is downloaded after its FETCH, and the
 *   complete mails behind it wait in memory until then (`afterLarge` × the stream threshold is at
 *   most holdAfterLargeBytes);
 * - after `maxMails` when the dispositions of a window are applied after it (they need commands
 *   of their own, and a mail handed over must not wait long for its disposition);
 * - before its UID set grows too long for one command line.
 */
import { compactUidSet, firstAbove } from './checkpoint-policy';

/**
 * A backlog: the UIDs a SEARCH found, or every UID after the checkpoint up to `throughUid` (when
 * every mail qualifies and SELECT just said where the folder ends), and which of them are too
 * large for the stream.
 */
export type BacklogPlan = {
  uidValidity: number;
  /** Ascending UIDs of the mails that do not fit a FETCH whole (downloaded after it). */
  large: number[];
} & ({ uids: number[]; throughUid?: undefined } | { uids?: undefined; throughUid: number });

export interface StreamWindow {
  /** UID set of the FETCH. */
  range: string;
  /** The UIDs asked for: one the server does not return was expunged meanwhile. Absent for UID ranges (`a:b`, announced `n:*`). */
  expected?: number[];
  /** The highest UID the window covers, once it was read to its end. */
  endUid?: number;
  /** Whether the plan has nothing after this window. */
  last: boolean;
  /** Qualifying mails in the window and after it (for a UID range: at most this many). */
  count?: number;
}

export interface WindowLimits {
  /** Most mails per window; `undefined`: no limit. */
  maxMails?: number;
  /** Most mails a window may hold after its first large one. */
  afterLarge: number;
  /** Longest UID set (characters) one FETCH may carry. */
  maxSetLength: number;
}

/** The next window of a backlog after `lastUid`, or `undefined` when nothing is left. */
export function nextWindow(plan: BacklogPlan, lastUid: number, limits: WindowLimits): StreamWindow | undefined {
  const afterLarge = Math.max(0, Math.floor(limits.afterLarge));
  const firstLarge = plan.large[firstAbove(plan.large, lastUid)];
  if (plan.uids === undefined) {
    if (lastUid >= plan.throughUid) return undefined;
    // UIDs are unique, so the UIDs up to `firstLarge + afterLarge` hold at most `afterLarge` mails after it.
    const endUid = firstLarge === undefined ? plan.throughUid : Math.min(plan.throughUid, firstLarge + afterLarge);
    return { range: `${lastUid + 1}:${endUid}`, endUid, last: endUid >= plan.throughUid, count: plan.throughUid - lastUid };
  }
  const uids = plan.uids;
  const start = firstAbove(uids, lastUid);
  if (start >= uids.length) return undefined;
  const maxMails = limits.maxMails === undefined ? Infinity : Math.max(1, Math.floor(limits.maxMails));
  let end = start;
  let setLength = 0;
  let runLength = 0;
  let held = -1; // mails after the first large one; -1 while none was met
  while (end < uids.length && end - start < maxMails && held < afterLarge) {
    const uid = uids[end];
    const continues = end > start && uid === uids[end - 1] + 1;
    // What the UID adds to the set text: ",uid" for a new run, ":uid" for a run's second UID,
    // and for a longer run only the digits its end gains.
    const digits = String(uid).length;
    const added = !continues ? digits + (end > start ? 1 : 0) : runLength === 1 ? digits + 1 : digits - String(uids[end - 1]).length;
    if (end > start && setLength + added > limits.maxSetLength) break;
    setLength += added;
    runLength = continues ? runLength + 1 : 1;
    if (held >= 0) held++;
    else if (firstLarge !== undefined && uid >= firstLarge) held = 0;
    end++;
  }
  const expected = uids.slice(start, end);
  return { range: compactUidSet(expected), expected, endUid: expected[expected.length - 1], last: end >= uids.length, count: uids.length - start };
}
