import { adminRequest, describeFailure } from './admin-api';

declare const $: JQueryStatic;

/** One step of the runtime's connection test (see src/diagnostics/connection-test.ts). */
export interface TestStep {
  step: string;
  ok: boolean;
  detail?: string;
  fix?: string;
  kind?: string;
}

export interface ConnectionTestPanelOptions {
  accountId: string;
  /** The form's current values, so a test runs before the account is deployed. */
  settings: () => Record<string, string>;
  translate: (key: string, values?: Record<string, string>) => string;
}

/**
 * Renders test steps with a tick or a cross, the detail and the fix-it text. Everything from the
 * server goes in as text: an error message can never inject markup into the editor.
 */
export function renderSteps(container: JQuery, steps: TestStep[], translate: ConnectionTestPanelOptions['translate']): void {
  container.empty();
  for (const s of steps) {
    const row = $('<div class="m365-step"></div>').attr('data-step', s.step).attr('data-ok', String(s.ok));
    $('<i></i>').addClass(s.ok ? 'fa fa-check m365-ok' : 'fa fa-times m365-fail').attr('aria-label', s.ok ? 'ok' : 'failed').appendTo(row);
    $('<span class="m365-step-name"></span>').text(` ${translate(`test.steps.${s.step}`)}`).appendTo(row);
    if (s.detail) $('<div class="m365-step-detail"></div>').text(s.detail).appendTo(row);
    if (s.fix) $('<div class="m365-step-fix"></div>').text(s.fix).appendTo(row);
    container.append(row);
  }
}

/** Wires the Test connection button: runs the admin endpoint for the typed mailbox, shows each step. */
export function bindConnectionTest(options: ConnectionTestPanelOptions): void {
  const button = $('#m365-test');
  const steps = $('#m365-test-steps');
  button.on('click', (event) => {
    event.preventDefault();
    const mailbox = String($('#m365-test-mailbox').val() ?? '').trim();
    button.prop('disabled', true);
    steps.attr('data-state', 'running').empty().append($('<i class="fa fa-spinner fa-spin"></i>'), $('<span></span>').text(` ${options.translate('test.running')}`));
    adminRequest<{ steps: TestStep[] }>('POST', `m365-mail/accounts/${encodeURIComponent(options.accountId)}/test`, { settings: options.settings(), mailbox })
      .then((result) => renderSteps(steps, result.steps, options.translate))
      .catch((error: unknown) => {
        const failure = describeFailure(error);
        renderSteps(steps, [{ step: 'request', ok: false, detail: failure.message, fix: failure.fix }], options.translate);
      })
      .finally(() => {
        button.prop('disabled', false);
        steps.attr('data-state', 'done');
      });
  });
}
