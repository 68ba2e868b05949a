import type { EditorNodeProperties, EditorRED } from 'node-red';
import { adminRequest } from '../../editor/admin-api';
import { CLOUDS } from '../../auth/clouds';
import { translator } from '../../editor/i18n';
import { isGuid, isHttpsUrl, isPort, isTenant, isTenantKeyword } from '../../editor/validators';

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
  resource: string;
  proxy: string;
}

interface AccountCredentials {
  clientSecret: string;
  privateKey: string;
}

interface TestStep {
  step: string;
  ok: boolean;
  detail?: string;
  fix?: string;
  kind?: string;
}

interface SignInStatus {
  state: 'signed-out' | 'pending' | 'signed-in' | 'failed';
  username?: string;
  userCode?: string;
  verificationUri?: string;
  error?: string;
  fix?: string;
}

const translate = translator('m365-account');
const t = (key: string, values?: Record<string, string>): string => translate(`m365-account.${key}`, values);
const APP_ONLY = ['client-secret', 'client-certificate'];

/** The form's current values, so Test connection and Sign in work before the node is deployed. */
function formSettings(): Record<string, string> {
  const value = (id: string): string => String($(`#node-config-input-${id}`).val() ?? '').trim();
  return {
    cloud: value('cloud'), authorityHost: value('authorityHost'), tenant: value('tenant'), clientId: value('clientId'),
    authType: value('authType'), certificateThumbprint: value('certificateThumbprint'), imapHost: value('imapHost'),
    imapPort: value('imapPort'), pop3Host: value('pop3Host'), pop3Port: value('pop3Port'), resource: value('resource'),
    proxy: value('proxy'), clientSecret: value('clientSecret'), privateKey: value('privateKey'),
  };
}

/** Renders test steps as text nodes: server answers are never inserted as HTML. */
function renderSteps(container: JQuery, steps: TestStep[]): void {
  container.empty();
  for (const s of steps) {
    const row = $('<div class="m365-step"></div>').attr('data-step', s.step).attr('data-ok', String(s.ok));
    $('<i></i>').addClass(s.ok ? 'fa fa-check m365-ok' : 'fa fa-times m365-fail').appendTo(row);
    $('<span class="m365-step-name"></span>').text(` ${t(`test.steps.${s.step}`)}`).appendTo(row);
    if (s.detail) $('<div class="m365-step-detail"></div>').text(s.detail).appendTo(row);
    if (s.fix) $('<div class="m365-step-fix"></div>').text(s.fix).appendTo(row);
    container.append(row);
  }
}

function applyCloud(cloud: string): void {
  const custom = cloud === 'custom';
  const row = CLOUDS[cloud as keyof typeof CLOUDS];
  for (const field of ['authorityHost', 'imapHost', 'pop3Host', 'resource', 'imapPort', 'pop3Port']) {
    $(`#node-config-input-${field}`).prop('readonly', !custom);
  }
  if (!custom && row) {
    $('#node-config-input-authorityHost').val(row.authorityHost);
    $('#node-config-input-imapHost').val(row.imap.host);
    $('#node-config-input-imapPort').val(String(row.imap.port));
    $('#node-config-input-pop3Host').val(row.pop3.host);
    $('#node-config-input-pop3Port').val(String(row.pop3.port));
    $('#node-config-input-resource').val(row.appOnlyResource);
  }
}

function applyAuthType(authType: string): void {
  $('.m365-row-secret').toggle(authType === 'client-secret');
  $('.m365-row-certificate').toggle(authType === 'client-certificate');
  $('.m365-row-signin').toggle(!APP_ONLY.includes(authType));
}

function showSignInStatus(status: SignInStatus): void {
  const box = $('#m365-signin-status').empty();
  if (status.state === 'signed-in') {
    box.append($('<i class="fa fa-user m365-ok"></i>'), $('<span></span>').text(` ${t('signin.signedInAs', { user: status.username ?? '' })}`));
    $('#m365-signout').show();
  } else if (status.state === 'pending' && status.userCode) {
    box.append($('<div></div>').text(t('signin.deviceCodePrompt')));
    $('<a target="_blank" rel="noopener noreferrer" id="m365-verification-link"></a>').attr('href', status.verificationUri ?? '#').text(status.verificationUri ?? '').appendTo(box);
    $('<div class="m365-user-code" id="m365-user-code"></div>').text(status.userCode).appendTo(box);
    $('#m365-signout').hide();
  } else if (status.state === 'failed') {
    box.append($('<i class="fa fa-times m365-fail"></i>'), $('<span></span>').text(` ${status.error ?? ''}`));
    if (status.fix) $('<div class="m365-step-fix"></div>').text(status.fix).appendTo(box);
    $('#m365-signout').hide();
  } else {
    box.text(t('signin.notSignedIn'));
    $('#m365-signout').hide();
  }
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
    certificateThumbprint: { value: '', validate: (v: string) => v === '' || /^[0-9a-f]{40}$|^[0-9a-f]{64}$/i.test(v.replace(/[\s:]/g, '')) },
    imapHost: { value: 'outlook.office365.com' },
    imapPort: { value: '993', validate: (v: string) => isPort(v) },
    pop3Host: { value: 'outlook.office365.com' },
    pop3Port: { value: '995', validate: (v: string) => isPort(v) },
    resource: { value: '' },
    proxy: { value: '' },
  },
  credentials: {
    clientSecret: { type: 'password' },
    privateKey: { type: 'password' },
  },
  label: function () {
    return this.name || `${this.tenant || '?'} / ${(this.clientId || '?').slice(0, 8)}…`;
  },
  oneditprepare: function () {
    const node = this;
    $('#node-config-input-cloud').on('change', function () { applyCloud(String($(this).val())); });
    $('#node-config-input-authType').on('change', function () { applyAuthType(String($(this).val())); });
    applyCloud(node.cloud || 'global');
    applyAuthType(node.authType || 'client-secret');

    $('#node-config-input-tenant').on('input', function () {
      const value = String($(this).val() ?? '');
      const appOnly = APP_ONLY.includes(String($('#node-config-input-authType').val()));
      $('#m365-tenant-warning').toggle(appOnly && isTenantKeyword(value)).text(t('hints.appOnlyTenant'));
    });

    const signInBase = `m365-mail/accounts/${encodeURIComponent(node.id)}`;
    let pollTimer: ReturnType<typeof setTimeout> | undefined;
    const poll = (): void => {
      adminRequest<SignInStatus>('GET', `${signInBase}/sign-in`)
        .then((status) => {
          showSignInStatus(status);
          if (status.state === 'pending') pollTimer = setTimeout(poll, 1500);
        })
        .catch((err: Error) => showSignInStatus({ state: 'failed', error: err.message }));
    };
    $('#m365-signin').on('click', (event) => {
      event.preventDefault();
      const authType = String($('#node-config-input-authType').val());
      adminRequest<SignInStatus & { url?: string }>('POST', `${signInBase}/sign-in`, { settings: formSettings(), origin: window.location.origin + window.location.pathname })
        .then((status) => {
          if (authType === 'auth-code' && status.url) window.open(status.url, '_blank', 'noopener');
          showSignInStatus(status);
          clearTimeout(pollTimer);
          pollTimer = setTimeout(poll, 1000);
        })
        .catch((err: Error) => showSignInStatus({ state: 'failed', error: err.message }));
    });
    $('#m365-signout').on('click', (event) => {
      event.preventDefault();
      adminRequest<SignInStatus>('POST', `${signInBase}/sign-out`, {}).then(showSignInStatus).catch((err: Error) => showSignInStatus({ state: 'failed', error: err.message }));
    });
    if (!APP_ONLY.includes(node.authType)) poll();

    $('#m365-test').on('click', (event) => {
      event.preventDefault();
      const mailbox = String($('#m365-test-mailbox').val() ?? '').trim();
      const steps = $('#m365-test-steps');
      steps.text(t('test.running'));
      adminRequest<{ steps: TestStep[] }>('POST', `${signInBase}/test`, { settings: formSettings(), mailbox })
        .then((result) => renderSteps(steps, result.steps))
        .catch((err: Error) => renderSteps(steps, [{ step: 'request', ok: false, detail: err.message }]));
    });
    (node as unknown as { _m365StopPolling: () => void })._m365StopPolling = () => clearTimeout(pollTimer);
  },
  oneditsave: function () {
    (this as unknown as { _m365StopPolling?: () => void })._m365StopPolling?.();
  },
  oneditcancel: function () {
    (this as unknown as { _m365StopPolling?: () => void })._m365StopPolling?.();
  },
});
