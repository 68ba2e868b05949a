import type { EditorNodeProperties, EditorRED } from 'node-red';
import { CLOUDS } from '../../auth/clouds';
import { applyCloudEndpoints } from '../../editor/cloud-endpoints';
import { bindConnectionTest } from '../../editor/connection-test-panel';
import { bindFieldCheck } from '../../editor/field-check';
import { translator } from '../../editor/i18n';
import { authCodeRedirectUri, bindSignInPanel, type SignInPanel } from '../../editor/sign-in-panel';
import { ensureStyles } from '../../editor/styles';
import { isGuid, isHttpsUrl, isPort, isTenant, isTenantKeyword } from '../../editor/validators';
import { ACCOUNT_SETTING_NAMES } from '../../editor/account-settings';

const GLOBAL = CLOUDS.global;

declare const RED: EditorRED;
declare const $: JQueryStatic;

interface AccountProps extends EditorNodeProperties {
  cloud: string;
  authorityHost: string;
  tenant: string;
  clientId: string;
  authType: string;
  certificateThumbprint: string;
  imapHost: string;
  imapPort: string;
  pop3Host: string;
  pop3Port: string;
  smtpHost: string;
  smtpPort: string;
  resource: string;
  proxy: string;
}

interface AccountCredentials {
  clientSecret: string;
  privateKey: string;
  proxyUsername: string;
  proxyPassword: string;
}

/** Per open dialog: what oneditsave/oneditcancel must stop. */
interface AccountDialogState {
  _m365SignIn?: SignInPanel;
}

const translate = translator('m365-account');
const t = (key: string, values?: Record<string, string>): string => translate(`m365-account.${key}`, values);
const APP_ONLY = ['client-secret', 'client-certificate'];
const THUMBPRINT = /^[0-9a-f]{40}$|^[0-9a-f]{64}$/i;

const field = (id: string): JQuery => $(`#node-config-input-${id}`);
const fieldValue = (id: string): string => String(field(id).val() ?? '').trim();

/** The form's current values, so Test connection and Sign in work before the node is deployed. */
function formSettings(): Record<string, string> {
  return Object.fromEntries(ACCOUNT_SETTING_NAMES.map((name) => [name, fieldValue(name)]));
}

/**
 * A proxy URL with user and password (an old flow, or pasted) keeps them in the flow file: move
 * them into the credential fields, so the flow keeps only the plain URL.
 */
function moveProxyCredentialsIntoFields(): void {
  let url: URL;
  try {
    url = new URL(fieldValue('proxy'));
  } catch {
    return;
  }
  if (!url.username && !url.password) return;
  const decode = (value: string): string => {
    try {
      return decodeURIComponent(value);
    } catch {
      return value;
    }
  };
  if (url.username) field('proxyUsername').val(decode(url.username));
  if (url.password) field('proxyPassword').val(decode(url.password));
  url.username = '';
  url.password = '';
  field('proxy').val(url.toString());
}

function applyAuthType(authType: string): void {
  $('.m365-row-secret').toggle(authType === 'client-secret');
  $('.m365-row-certificate').toggle(authType === 'client-certificate');
  $('.m365-row-signin').toggle(!APP_ONLY.includes(authType));
  $('.m365-row-redirect').toggle(authType === 'auth-code');
  $('#m365-test-mailbox').attr('placeholder', t(APP_ONLY.includes(authType) ? 'test.mailboxPlaceholder' : 'test.mailboxPlaceholderUser'));
}

function checkTenantForMethod(): void {
  const appOnly = APP_ONLY.includes(fieldValue('authType'));
  $('#m365-tenant-warning').text(appOnly && isTenantKeyword(fieldValue('tenant')) ? t('hints.appOnlyTenant') : '');
}

RED.nodes.registerType<AccountProps, AccountCredentials>('m365-account', {
  category: 'config',
  defaults: {
    name: { value: '' },
    cloud: { value: 'global', required: true },
    authorityHost: { value: '', validate: (v: string) => v === '' || isHttpsUrl(v) },
    tenant: { value: '', required: true, validate: (v: string) => isTenant(v) },
    clientId: { value: '', required: true, validate: (v: string) => isGuid(v) },
    authType: { value: 'client-secret', required: true },
    certificateThumbprint: { value: '', validate: (v: string) => v === '' || THUMBPRINT.test(v.replace(/[\s:]/g, '')) },
    // The global cloud's endpoints, from the runtime's table of clouds (auth/clouds.ts).
    imapHost: { value: GLOBAL.imap.host },
    imapPort: { value: String(GLOBAL.imap.port), validate: (v: string) => isPort(v) },
    pop3Host: { value: GLOBAL.pop3.host },
    pop3Port: { value: String(GLOBAL.pop3.port), validate: (v: string) => isPort(v) },
    smtpHost: { value: GLOBAL.smtp.host },
    smtpPort: { value: String(GLOBAL.smtp.port), validate: (v: string) => isPort(v) },
    resource: { value: '' },
    proxy: { value: '' },
  },
  credentials: {
    clientSecret: { type: 'password' },
    privateKey: { type: 'password' },
    proxyUsername: { type: 'text' },
    proxyPassword: { type: 'password' },
  },
  icon: 'm365-account.svg',
  label: function () {
    if (this.name) return this.name;
    const method = this.authType ? t(`authType.${this.authType}`) : '';
    return `${this.tenant || '?'}${method ? ` · ${method}` : ''}`;
  },
  oneditprepare: function () {
    ensureStyles();
    const node = this as typeof this & AccountDialogState;
    const authType = (): string => fieldValue('authType') || 'client-secret';
    const signIn = bindSignInPanel({ accountId: node.id, settings: formSettings, authType, translate: t });
    node._m365SignIn = signIn;

    moveProxyCredentialsIntoFields();
    field('proxy').on('change', moveProxyCredentialsIntoFields);
    field('cloud').on('change', () => applyCloudEndpoints(fieldValue('cloud'), authType()));
    field('authType').on('change', () => {
      applyAuthType(authType());
      applyCloudEndpoints(fieldValue('cloud'), authType());
      checkTenantForMethod();
      if (!APP_ONLY.includes(authType())) signIn.refresh();
    });
    applyAuthType(node.authType || 'client-secret');
    applyCloudEndpoints(node.cloud || 'global', node.authType || 'client-secret');

    bindFieldCheck('#node-config-input-tenant', '#m365-tenant-invalid', isTenant, () => t('invalid.tenant'));
    bindFieldCheck('#node-config-input-clientId', '#m365-clientId-invalid', isGuid, () => t('invalid.clientId'));
    bindFieldCheck('#node-config-input-certificateThumbprint', '#m365-thumbprint-invalid', (v) => THUMBPRINT.test(v.replace(/[\s:]/g, '')), () => t('invalid.thumbprint'));
    field('tenant').on('input change', checkTenantForMethod);
    checkTenantForMethod();
    $('#m365-redirect-uri').text(authCodeRedirectUri());

    if (!APP_ONLY.includes(node.authType || 'client-secret')) signIn.refresh();
    bindConnectionTest({ accountId: node.id, settings: formSettings, translate: t });
  },
  oneditsave: function () {
    (this as AccountDialogState)._m365SignIn?.stop();
  },
  oneditcancel: function () {
    (this as AccountDialogState)._m365SignIn?.stop();
  },
});
