/**
 * The first steps of a POP3 session: open the byte stream within the connect budget and read
 * the server's greeting.
 */
import { failAfter } from '../core/timeout';
import { statusText, type ResolvedOptions } from './client-options';
import { Pop3Connection, type Pop3ConnectionOptions } from './connection';
import { classifyPop3Error, protocolError, socketError, timeoutError } from './errors';
import { openPop3Socket } from './transport';

/** Opens the stream (through the socket factory, if any) and wraps it in a Pop3Connection. */
export async function openConnection(options: ResolvedOptions, onClose: Pop3ConnectionOptions['onClose']): Promise<Pop3Connection> {
  const { host, port, logger } = options;
  logger.debug?.(`POP3 connecting to ${host}:${port} (tls: ${options.tls})`);
  let opened: Awaited<ReturnType<typeof openPop3Socket>>;
  const opening = openPop3Socket(options);
  try {
    // A socket factory (e.g. a proxy tunnel) may take time of its own; it shares the connect budget.
    opened = await failAfter(opening, options.connectTimeoutMs, () => timeoutError('connect', options.connectTimeoutMs));
  } catch (error) {
    // A stream that arrives after the deadline is not used.
    opening.then(({ socket, raw }) => { socket.destroy(); raw?.destroy(); }, () => undefined);
    throw socketError(error, host, port);
  }
  const { socket, raw } = opened;
  const connection = new Pop3Connection(socket, {
    host,
    port,
    timeoutMs: options.timeoutMs,
    maxLineBytes: options.maxLineBytes,
    logger,
    onClose,
  });
  if (raw) connection.adopt(raw);
  return connection;
}

/** Reads the greeting and returns its text after `+OK`; a refusal fails the connection. */
export async function readGreeting(connection: Pop3Connection, options: ResolvedOptions): Promise<string> {
  const greeting = await connection.readLine('greeting', options.connectTimeoutMs);
  options.logger.debug?.(`POP3 S: ${greeting}`);
  if (!greeting.startsWith('+OK')) {
    const error = greeting.startsWith('-ERR')
      ? classifyPop3Error('GREETING', greeting)
      : protocolError(`unexpected greeting: ${greeting.slice(0, 100)}`);
    connection.fail(error, true);
    throw error;
  }
  return statusText(greeting);
}
