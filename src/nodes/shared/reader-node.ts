import type { Node, NodeAPI } from 'node-red';
import { M365MailError } from '../../auth/errors';
import type { AccountNode } from '../m365-account/runtime';
import { reportError, runtimeTranslator, type NodeProps } from './red';
import { showStatus } from './status';

/**
 * Start-up checks shared by the reader nodes: the account exists and is valid, and the node's own
 * properties parse. Returns the account node, or undefined after reporting every problem.
 */
export function checkReaderSetup(RED: NodeAPI, node: Node, props: NodeProps, ownProblems: M365MailError[]): AccountNode | undefined {
  const t = runtimeTranslator(RED);
  const account = RED.nodes.getNode(String(props.account ?? '')) as AccountNode | null;
  const problems = [...ownProblems];
  if (!account) {
    problems.push(new M365MailError(t('common.errors.noAccount'), { kind: 'config', fix: t('common.errors.noAccountFix') }));
  } else if (account.problems.length > 0) {
    problems.push(new M365MailError(t('common.errors.accountInvalid'), { kind: 'config', fix: account.problems.map((p) => p.toString()).join(' ') }));
  }
  if (problems.length > 0) {
    for (const problem of problems) reportError(node, problem);
    showStatus(node, { state: 'error', errorKind: 'config' }, t);
    return undefined;
  }
  return account ?? undefined;
}
