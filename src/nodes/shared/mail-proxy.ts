/**
 * The mail proxy decision lives in src/net/proxy.ts (shared with Test connection and the folder
 * picker); these names stay for the nodes that import them from here.
 */
export { mailProxy, tunnelFactory as pop3TunnelFactory } from '../../net/proxy';
