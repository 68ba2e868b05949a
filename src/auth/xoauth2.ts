/**
 * SASL XOAUTH2 initial client response (Microsoft's and Google's format):
 * base64("user=" + user + ^A + "auth=Bearer " + token + ^A + ^A). No password is ever part of it.
 */
export function buildXOAuth2(user: string, accessToken: string): string {
  return Buffer.from(`user=${user}\x01auth=Bearer ${accessToken}\x01\x01`, 'utf8').toString('base64');
}
