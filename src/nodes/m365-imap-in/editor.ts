import type { EditorNodeProperties, EditorRED } from 'node-red';
import { bindFolderPicker } from '../../editor/folder-picker';
import { translator } from '../../editor/i18n';
import { bindVisibility } from '../../editor/reader-form';
import { optionDefaults } from '../../editor/option-defaults';
import { ensureStyles } from '../../editor/styles';
import { isJsonObjectOrEmpty, isMailboxOrEmpty } from '../../editor/validators';

declare const RED: EditorRED;
declare const $: JQueryStatic;

interface ImapInProps extends EditorNodeProperties {
  account: string;
  mailbox: string;
  folder: string;
  mode: string;
  interval: string;
  criteria: string;
  customCriteria: string;
  disposition: string;
  moveTo: string;
  attachments: string;
  attachmentDir: string;
  maxAttachmentBytes: string;
  inlineImages: string;
  output: string;
  batchSize: string;
}

/** The code editor of the custom criteria; as Node-RED's createEditor returns it (Ace or Monaco). */
interface CodeEditor {
  getValue(): string;
  destroy(): void;
  resize(): void;
}

interface ImapDialogState {
  _m365CriteriaEditor?: CodeEditor;
}

const translate = translator('m365-imap-in');
const t = (key: string, values?: Record<string, string | number>): string => translate(`m365-imap-in.${key}`, values);

/** Moves the criteria editor's text into the hidden input and releases the editor. */
function closeCriteriaEditor(state: ImapDialogState, save: boolean): void {
  const editor = state._m365CriteriaEditor;
  if (!editor) return;
  if (save) $('#node-input-customCriteria').val(editor.getValue());
  editor.destroy();
  delete state._m365CriteriaEditor;
}

RED.nodes.registerType<ImapInProps>('m365-imap-in', {
  category: 'Microsoft 365',
  color: '#50A9E2',
  icon: 'm365-mail.svg',
  inputs: 1,
  outputs: 1,
  defaults: {
    name: { value: '' },
    account: { value: '', type: 'm365-account', required: true },
    ...optionDefaults<ImapInProps>('m365-imap-in', {
      mailbox: { validate: (v: string) => isMailboxOrEmpty(v) },
      folder: { required: true },
      customCriteria: { validate: isJsonObjectOrEmpty },
    }),
  },
  paletteLabel: 'imap in',
  label: function () {
    if (this.name) return this.name;
    const where = this.mailbox || t('label.signedInUser');
    return `${where} / ${this.folder || 'INBOX'}`;
  },
  labelStyle: function () {
    return this.name ? 'node_label_italic' : '';
  },
  oneditprepare: function () {
    ensureStyles();
    const state = this as ImapDialogState;
    const editor = RED.editor.createEditor({
      id: 'm365-custom-criteria-editor',
      mode: 'ace/mode/json',
      value: String($('#node-input-customCriteria').val() ?? ''),
    }) as unknown as CodeEditor;
    state._m365CriteriaEditor = editor;

    bindVisibility('mode', { 'm365-row-interval': ['idle', 'poll'] });
    // An editor created while hidden has no size: resize it when its row appears.
    bindVisibility('criteria', { 'm365-row-custom': ['custom'] }, () => editor.resize());
    bindVisibility('disposition', { 'm365-row-move': ['move'] });
    bindVisibility('attachments', { 'm365-row-save': ['save'] });
    bindFolderPicker({ input: '#node-input-folder', button: '#m365-pick-folder', status: '#m365-folder-status', translate: t });
    bindFolderPicker({ input: '#node-input-moveTo', button: '#m365-pick-move-folder', status: '#m365-move-folder-status', translate: t });
  },
  oneditsave: function () {
    closeCriteriaEditor(this as ImapDialogState, true);
  },
  oneditcancel: function () {
    closeCriteriaEditor(this as ImapDialogState, false);
  },
  oneditresize: function () {
    (this as ImapDialogState)._m365CriteriaEditor?.resize();
  },
});
