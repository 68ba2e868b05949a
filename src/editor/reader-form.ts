import { adminRequest } from './admin-api';

declare const $: JQueryStatic;

/** Shows the rows that only make sense for some choices (e.g. the folder for `save`). */
export function bindVisibility(selectId: string, rows: Record<string, string[]>): void {
  const select = $(`#node-input-${selectId}`);
  const apply = (): void => {
    const value = String(select.val());
    for (const [rowClass, values] of Object.entries(rows)) $(`.${rowClass}`).toggle(values.includes(value));
  };
  select.on('change', apply);
  apply();
}

interface FolderEntry {
  path: string;
  name: string;
}

/**
 * Folder picker fed by the server: a datalist under a text input, so typing a path still works.
 * Asks the runtime of the selected m365-account for the folders of the typed mailbox.
 */
export function bindFolderPicker(inputId: string, buttonId: string, statusId: string, translate: (key: string) => string): void {
  const listId = `${inputId}-folders`;
  const input = $(`#${inputId}`).attr('list', listId);
  const datalist = $(`<datalist id="${listId}"></datalist>`).insertAfter(input);
  $(`#${buttonId}`).on('click', (event) => {
    event.preventDefault();
    const accountId = String($('#node-input-account').val() ?? '');
    const mailbox = String($('#node-input-mailbox').val() ?? '').trim();
    const status = $(`#${statusId}`).text(translate('folders.loading'));
    if (!accountId || accountId === '_ADD_') {
      status.text(translate('folders.noAccount'));
      return;
    }
    adminRequest<{ folders: FolderEntry[] }>('GET', `m365-mail/accounts/${encodeURIComponent(accountId)}/folders?mailbox=${encodeURIComponent(mailbox)}`)
      .then((result) => {
        datalist.empty();
        for (const folder of result.folders) $('<option></option>').attr('value', folder.path).text(folder.path).appendTo(datalist);
        status.text(translate('folders.loaded').replace('__count__', String(result.folders.length)));
        const select = $(`<select class="m365-folder-select"></select>`);
        $('<option value=""></option>').text(translate('folders.choose')).appendTo(select);
        for (const folder of result.folders) $('<option></option>').attr('value', folder.path).text(folder.path).appendTo(select);
        select.on('change', () => {
          const chosen = String(select.val() ?? '');
          if (chosen) input.val(chosen).trigger('change');
        });
        status.empty().append(select);
      })
      .catch((err: Error) => status.text(err.message));
  });
}
