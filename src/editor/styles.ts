declare const $: JQueryStatic;

const STYLE_ID = 'm365-mail-editor-styles';

// One stylesheet for the three forms, added once to the editor page. Colours come from Node-RED's
// own theme variables where there is one, so dark themes keep working.
const CSS = `
/* Node-RED sizes a new edit tray to its content's natural width; long hints would make that
   wider than the screen. With inline-size containment the form takes the tray's width instead. */
.m365-form { contain: inline-size; }
.m365-form .form-row > label { width: 125px; }
.m365-form .form-row > input[type="text"], .m365-form .form-row > input[type="password"],
.m365-form .form-row > select, .m365-form .form-row > textarea { width: calc(100% - 135px); }
.m365-form .form-row > input.m365-short { width: 90px; }
.m365-form .form-row > input.m365-host { width: calc(100% - 235px); }
.m365-form .form-row > input.m365-port { width: 90px; }
.m365-form .form-row > input.m365-with-button { width: calc(100% - 180px); }
.m365-form .m365-hint, .m365-form .m365-invalid, .m365-form .m365-warning, .m365-form .m365-status {
  margin: 4px 0 0 130px; font-size: 0.9em; line-height: 1.35; }
.m365-form .m365-hint { color: var(--red-ui-secondary-text-color, #888); }
.m365-form .m365-invalid, .m365-form .m365-warning { color: var(--red-ui-text-color-error, #a94442); }
.m365-form .m365-status:empty, .m365-form .m365-invalid:empty, .m365-form .m365-warning:empty { display: none; }
.m365-form .m365-section { margin-top: 16px; border-top: 1px solid var(--red-ui-secondary-border-color, #ddd); padding-top: 10px; }
.m365-form .m365-section-title { font-weight: bold; margin-bottom: 8px; }
.m365-form .m365-ok { color: #3a9a3a; }
.m365-form .m365-fail { color: #c0392b; }
.m365-form .m365-steps { margin: 6px 0 0 130px; }
.m365-form .m365-step { margin: 6px 0; }
.m365-form .m365-step-name { font-weight: bold; }
.m365-form .m365-step-detail { margin-left: 20px; color: var(--red-ui-secondary-text-color, #666); white-space: pre-wrap; word-break: break-word; }
.m365-form .m365-step-fix { margin-left: 20px; color: #a94442; white-space: pre-wrap; word-break: break-word; }
.m365-form .m365-user-code { font-family: monospace; font-size: 1.6em; letter-spacing: 0.15em; margin: 6px 0; user-select: all; }
.m365-form .m365-signin-box { margin: 6px 0 0 130px; }
.m365-form .m365-signin-box a { word-break: break-all; text-decoration: underline; }
.m365-form .m365-folder-select { margin-top: 4px; width: calc(100% - 135px); }
.m365-form .m365-readonly-note { font-weight: normal; font-size: 0.9em; color: var(--red-ui-secondary-text-color, #888); }
.m365-form .m365-criteria-editor { height: 120px; min-height: 80px; }
`;

/** Adds the forms' stylesheet to the editor page once. */
export function ensureStyles(): void {
  if (document.getElementById(STYLE_ID)) return;
  $('<style></style>').attr('id', STYLE_ID).text(CSS).appendTo('head');
}
