/**
 * The plain HTML pages of the identity server. Element ids are stable because tests (fetch or a
 * browser) fill them: sign-in `username`, `password`, `signin`; device login `otc`, `username`,
 * `password`, `continue`, `cancel`; errors in `#error`, outcomes in `#result`.
 */

/** Escapes text for HTML element content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);
}

function layout(title: string, body: string): string {
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body style="font-family:sans-serif;max-width:28em;margin:3em auto">
${body}
</body></html>`;
}

function errorBlock(error: string | undefined): string {
  return error ? `<p id="error" role="alert" style="color:#a00">${escapeHtml(error)}</p>` : '';
}

export interface SignInPageInput {
  action: string;
  transactionId: string;
  appName: string;
  loginHint?: string;
  error?: string;
}

/** The sign-in form of the authorize endpoint. */
export function signInPage(input: SignInPageInput): string {
  return layout('Sign in to your account', `<h1>Sign in</h1>
<p>to continue to <strong id="app-name">${escapeHtml(input.appName)}</strong></p>
${errorBlock(input.error)}
<form method="post" action="${escapeHtml(input.action)}">
<input type="hidden" name="ctx" value="${escapeHtml(input.transactionId)}">
<p><label for="username">Email, phone, or Skype</label><br>
<input id="username" name="username" type="email" autocomplete="username" value="${escapeHtml(input.loginHint ?? '')}"></p>
<p><label for="password">Password</label><br>
<input id="password" name="password" type="password" autocomplete="current-password"></p>
<p><button id="signin" type="submit">Sign in</button></p>
</form>`);
}

export interface DeviceLoginPageInput {
  userCode?: string;
  username?: string;
  error?: string;
}

/** The /devicelogin page: code, credentials, Continue or Cancel. */
export function deviceLoginPage(input: DeviceLoginPageInput): string {
  return layout('Enter code', `<h1>Enter code</h1>
<p>Enter the code displayed on your app or device.</p>
${errorBlock(input.error)}
<form method="post" action="/devicelogin">
<p><label for="otc">Code</label><br><input id="otc" name="otc" autocomplete="off" value="${escapeHtml(input.userCode ?? '')}"></p>
<p><label for="username">Email</label><br><input id="username" name="username" type="email" value="${escapeHtml(input.username ?? '')}"></p>
<p><label for="password">Password</label><br><input id="password" name="password" type="password"></p>
<p><button id="continue" name="action" value="continue" type="submit">Continue</button>
<button id="cancel" name="action" value="cancel" type="submit">Cancel</button></p>
</form>`);
}

/** Final page of a device login or an error of the authorize endpoint. */
export function resultPage(title: string, message: string, isError = false): string {
  return layout(title, `<h1 id="result">${escapeHtml(title)}</h1>
<p${isError ? ' id="error" role="alert"' : ''}>${escapeHtml(message)}</p>`);
}
