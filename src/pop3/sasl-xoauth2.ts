/**
 * SASL XOAUTH2 over POP3 AUTH (RFC 5034), in the two-step form Exchange Online requires:
 * `AUTH XOAUTH2`, wait for `+`, then the base64 client response on its own line. Exchange answers
 * the one-line form (initial response on the AUTH line) with "-ERR Protocol error".
 *
 * A refused token ends in one of two ways: Exchange sends `-ERR` at once; Dovecot (RFC 7628 style)
 * first sends `+ <base64 JSON>` with the error details, which the client must answer with an empty
 * line before the final `-ERR`.
 */
import { M365MailError } from '../core/errors';
import { classifyPop3Error, protocolError } from './errors';

/** What the exchange needs from the connection; each call is one line. */
export interface SaslLineIo {
  /** Sends a command line (subject to the command length limit). */
  sendCommand(line: string): void;
  /** Sends a SASL continuation line; `logText` replaces it in logs. */
  sendContinuation(line: string, logText: string): void;
  readLine(): Promise<string>;
}

function isContinuation(line: string): boolean {
  return line === '+' || line.startsWith('+ ');
}

/** Decodes an error challenge for the message; it is the server's JSON, no secret. */
function describeChallenge(line: string): string {
  const payload = line.slice(1).trim();
  if (!payload) return '';
  const decoded = Buffer.from(payload, 'base64').toString('utf8');
  const printable = /^[\x20-\x7e\s]*$/.test(decoded) ? decoded.trim() : '';
  return printable ? ` (server said: ${printable.slice(0, 300)})` : '';
}

function withDetail(error: M365MailError, detail: string): M365MailError {
  if (!detail) return error;
  return new M365MailError(error.message + detail, {
    kind: error.kind,
    fix: error.fix,
    code: error.code,
    retryable: error.retryable,
    retryAfterMs: error.retryAfterMs,
  });
}

/** Runs the exchange; resolves once the server said `+OK`, rejects with a classified error otherwise. */
export async function authenticateXOAuth2(io: SaslLineIo, clientResponse: string): Promise<void> {
  io.sendCommand('AUTH XOAUTH2');
  const ready = await io.readLine();
  if (ready.startsWith('-ERR')) throw classifyPop3Error('AUTH', ready);
  if (ready.startsWith('+OK')) return;
  if (!isContinuation(ready)) throw protocolError(`unexpected answer to AUTH XOAUTH2: ${ready.slice(0, 100)}`);

  io.sendContinuation(clientResponse, `<XOAUTH2 client response, ${clientResponse.length} bytes, hidden>`);
  let answer = await io.readLine();
  let detail = '';
  // A challenge after the client response carries the error; answer it so the server can finish.
  // Bounded: a server that keeps challenging is cancelled with `*`.
  for (let round = 0; isContinuation(answer); round += 1) {
    if (round === 0) detail = describeChallenge(answer);
    if (round === 0) io.sendContinuation('', '<empty response to error challenge>');
    else if (round === 1) io.sendContinuation('*', '* (cancel)');
    else throw protocolError('server kept sending SASL challenges after the exchange was cancelled');
    answer = await io.readLine();
  }
  if (answer.startsWith('+OK')) return;
  if (answer.startsWith('-ERR')) throw withDetail(classifyPop3Error('AUTH', answer), detail);
  throw protocolError(`unexpected answer to the XOAUTH2 response: ${answer.slice(0, 100)}`);
}
