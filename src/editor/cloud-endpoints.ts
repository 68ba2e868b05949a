import { CLOUDS } from '../auth/clouds';

declare const $: JQueryStatic;

const ENDPOINT_FIELDS = ['authorityHost', 'imapHost', 'imapPort', 'pop3Host', 'pop3Port', 'smtpHost', 'smtpPort', 'resource'];
const DELEGATED = ['device-code', 'auth-code'];

/**
 * Fills the endpoint fields from the chosen cloud and makes them read-only, so the user sees
 * where the account will connect; `custom` keeps the values and makes them editable. The
 * resource shown is the one the sign-in method asks tokens for (delegated and app-only differ
 * in the global cloud).
 */
export function applyCloudEndpoints(cloud: string, authType: string): void {
  const custom = cloud === 'custom';
  for (const field of ENDPOINT_FIELDS) $(`#node-config-input-${field}`).prop('readonly', !custom);
  $('.m365-endpoints-fixed').toggle(!custom);
  $('.m365-endpoints-custom').toggle(custom);
  const profile = CLOUDS[cloud as keyof typeof CLOUDS];
  if (custom || !profile) return;
  $('#node-config-input-authorityHost').val(profile.authorityHost);
  $('#node-config-input-imapHost').val(profile.imap.host);
  $('#node-config-input-imapPort').val(String(profile.imap.port));
  $('#node-config-input-pop3Host').val(profile.pop3.host);
  $('#node-config-input-pop3Port').val(String(profile.pop3.port));
  $('#node-config-input-smtpHost').val(profile.smtp.host);
  $('#node-config-input-smtpPort').val(String(profile.smtp.port));
  $('#node-config-input-resource').val(DELEGATED.includes(authType) ? profile.delegatedResource : profile.appOnlyResource);
}
