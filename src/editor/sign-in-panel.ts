import { adminRequest, describeFailure } from './admin-api';

declare const $: JQueryStatic;

/** What the runtime reports about a user sign-in (src/nodes/m365-account/sign-in-sessions.ts). */
export interface SignInStatus {
  state: 'signed-out' | 'pending' | 'signed-in' | 'failed';
  username?: string;
  userCode?: string;
  verificationUri?: string;
  url?: string;
  error?: string;
  fix?: string;
}

export interface SignInPanelOptions {
  accountId: string;
  /** The form's current values: a user can sign in before the account is deployed. */
  settings: () => Record<string, string>;
  authType: () => string;
  translate: (key: string, values?: Record<string, string>) => string;
}

export interface SignInPanel {
  /** Asks the runtime for the current state (e.g. when the sign-in method changed). */
  refresh(): void;
  /** Stops polling; call when the dialog closes. */
  stop(): void;
}

const POLL_MS = 1000;

/** Where Microsoft sends the browser back after an auth-code sign-in; must be registered on the app. */
export function authCodeRedirectUri(): string {
  return new URL('m365-mail/auth-code/callback', window.location.origin + window.location.pathname).toString();
}

/**
 * The Sign in / Sign out buttons of a delegated account and the box under them. Device code: shows
 * the code and the verification link, then polls until the runtime reports success or failure.
 * Auth code: opens Microsoft's sign-in in a new window and polls the same way.
 */
export function bindSignInPanel(options: SignInPanelOptions): SignInPanel {
  const t = options.translate;
  const base = `m365-mail/accounts/${encodeURIComponent(options.accountId)}`;
  const box = $('#m365-signin-status');
  const signInButton = $('#m365-signin');
  const signOutButton = $('#m365-signout');
  let timer: ReturnType<typeof setTimeout> | undefined;
  let stopped = false;

  const show = (status: SignInStatus): void => {
    box.empty().attr('data-state', status.state);
    signOutButton.toggle(status.state === 'signed-in');
    signInButton.toggle(status.state !== 'signed-in');
    if (status.state === 'signed-in') {
      box.append($('<i class="fa fa-check m365-ok"></i>'), $('<span id="m365-signed-in-as"></span>').text(` ${t('signin.signedInAs', { user: status.username ?? '' })}`));
    } else if (status.state === 'pending' && status.userCode) {
      box.append($('<div></div>').text(t('signin.deviceCodePrompt')));
      $('<a target="_blank" rel="noopener noreferrer" id="m365-verification-link"></a>').attr('href', status.verificationUri ?? '#').text(status.verificationUri ?? '').appendTo(box);
      $('<div class="m365-user-code" id="m365-user-code"></div>').text(status.userCode).appendTo(box);
      box.append($('<i class="fa fa-spinner fa-spin"></i>'), $('<span></span>').text(` ${t('signin.waiting')}`));
    } else if (status.state === 'pending' && !status.url) {
      // The runtime shows a pending sign-in's code or URL only to users who may change the account.
      box.append($('<i class="fa fa-spinner fa-spin"></i>'), $('<span id="m365-signin-elsewhere"></span>').text(` ${t('signin.pendingElsewhere')}`));
    } else if (status.state === 'pending') {
      box.append($('<i class="fa fa-spinner fa-spin"></i>'), $('<span></span>').text(` ${t('signin.finishInWindow')} `));
      if (status.url) $('<a target="_blank" rel="noopener noreferrer" id="m365-auth-link"></a>').attr('href', status.url).text(t('signin.openAgain')).appendTo(box);
    } else if (status.state === 'failed') {
      box.append($('<i class="fa fa-times m365-fail"></i>'), $('<span id="m365-signin-error"></span>').text(` ${status.error ?? ''}`));
      if (status.fix) $('<div class="m365-step-fix"></div>').text(status.fix).appendTo(box);
    } else {
      box.text(t('signin.notSignedIn'));
    }
  };

  const fail = (error: unknown): void => {
    const failure = describeFailure(error);
    show({ state: 'failed', error: failure.message, fix: failure.fix });
  };

  const schedule = (): void => {
    clearTimeout(timer);
    if (!stopped) timer = setTimeout(poll, POLL_MS);
  };

  function poll(): void {
    adminRequest<SignInStatus>('GET', `${base}/sign-in`)
      .then((status) => {
        if (stopped) return;
        show(status);
        if (status.state === 'pending') schedule();
      })
      .catch((error: unknown) => { if (!stopped) fail(error); });
  }

  signInButton.on('click', (event) => {
    event.preventDefault();
    const authCode = options.authType() === 'auth-code';
    // Opened now, while the click still counts as a user gesture; pop-up blockers allow that.
    const popup = authCode ? window.open('', 'm365-mail-sign-in') : null;
    adminRequest<SignInStatus>('POST', `${base}/sign-in`, { settings: options.settings(), origin: window.location.origin + window.location.pathname })
      .then((status) => {
        if (authCode && status.url) {
          if (popup) {
            popup.opener = null;
            popup.location.href = status.url;
          }
        }
        show(status);
        schedule();
      })
      .catch((error: unknown) => {
        popup?.close();
        fail(error);
      });
  });

  signOutButton.on('click', (event) => {
    event.preventDefault();
    adminRequest<SignInStatus>('POST', `${base}/sign-out`, {}).then(show).catch(fail);
  });

  return {
    refresh: () => {
      clearTimeout(timer);
      poll();
    },
    stop: () => {
      stopped = true;
      clearTimeout(timer);
    },
  };
}
