/** m365-imap-action without Node-RED: which mails a msg means, the actions, batching, the shared connection, durable pending actions. */
export { ACTION_NAMES, describeAction, isActionName, type ActionName } from './actions';
export { resolveActionRequest, checkActionDetail, type ActionDefaults, type ActionRequest } from './request';
export { applyBatch, type ActionBatch, type ActionClient, type FetchedMail, type UidOutcome } from './apply';
export { ActionSession, type ActionSessionOptions, type SessionItem, type SessionState } from './session';
export { acquireActionSession, releaseActionSession, sessionKey } from './pool';
export { PendingActions, type StoredAction } from './pending';
export { ActionRunner, reportOf, type ActionReport, type ResolvedRequest } from './runner';
