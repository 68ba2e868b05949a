import { editorAccountSettings } from './account-settings';
import { adminRequest, describeFailure } from './admin-api';

declare const $: JQueryStatic;

interface FolderEntry {
  path: string;
  name: string;
}

export interface FolderPickerOptions {
  /** Text input holding the folder path; typing a path by hand keeps working. */
  input: string;
  /** Button that loads the folders. */
  button: string;
  /** Element for progress, errors and the list of folders. */
  status: string;
  translate: (key: string, values?: Record<string, string | number>) => string;
}

/**
 * Folder picker fed by the server: the button asks the runtime for the folders of the typed mailbox,
 * with the selected m365-account's settings as the editor holds them (deployed or not), and offers them in a list (and as suggestions while typing).
 * Choosing one fills the input. Server text is inserted as text only.
 */
export function bindFolderPicker(options: FolderPickerOptions): void {
  const input = $(options.input);
  const listId = `${input.attr('id')}-suggestions`;
  input.attr('list', listId);
  const suggestions = $('<datalist></datalist>').attr('id', listId).insertAfter(input);
  const status = $(options.status);

  $(options.button).on('click', (event) => {
    event.preventDefault();
    const accountId = String($('#node-input-account').val() ?? '');
    const mailbox = String($('#node-input-mailbox').val() ?? '').trim();
    if (!accountId || accountId === '_ADD_') {
      status.text(options.translate('folders.noAccount'));
      return;
    }
    status.text(options.translate('folders.loading'));
    // The account as the editor holds it, so the picker works before the account is deployed.
    const settings = editorAccountSettings(accountId);
    adminRequest<{ folders: FolderEntry[] }>('POST', `m365-mail/accounts/${encodeURIComponent(accountId)}/folders`, { settings, mailbox })
      .then(({ folders }) => {
        suggestions.empty();
        const select = $('<select class="m365-folder-select"></select>');
        $('<option value=""></option>').text(options.translate('folders.choose', { count: folders.length })).appendTo(select);
        for (const folder of folders) {
          $('<option></option>').attr('value', folder.path).text(folder.path).appendTo(suggestions);
          $('<option></option>').attr('value', folder.path).text(folder.path).appendTo(select);
        }
        select.val(String(input.val() ?? '')).on('change', () => {
          const chosen = String(select.val() ?? '');
          if (chosen) input.val(chosen).trigger('change');
        });
        status.empty().append(select);
      })
      .catch((error: unknown) => {
        const failure = describeFailure(error);
        status.text(failure.fix ? `${failure.message} ${failure.fix}` : failure.message);
      });
  });
}
