import type { EditorNodeProperties, EditorRED } from 'node-red';
import { translator } from '../../editor/i18n';
import { bindFolderPicker, bindVisibility } from '../../editor/reader-form';
import { isMailboxOrEmpty, isWholeNumber } from '../../editor/validators';

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
  output: string;
  batchSize: string;
}

const translate = translator('m365-imap-in');

function isJsonObjectOrEmpty(value: string): boolean {
  if (!value || value.trim() === '') return true;
  try {
    const parsed: unknown = JSON.parse(value);
    return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed);
  } catch {
    return false;
  }
}

RED.nodes.registerType<ImapInProps>('m365-imap-in', {
  category: 'Microsoft 365',
  color: '#7FBA00',
  icon: 'm365-mail.svg',
  inputs: 1,
  outputs: 1,
  defaults: {
    name: { value: '' },
    account: { value: '', type: 'm365-account', required: true },
    mailbox: { value: '', validate: (v: string) => isMailboxOrEmpty(v) },
    folder: { value: 'INBOX', required: true },
    mode: { value: 'idle' },
    interval: { value: '60', validate: (v: string) => isWholeNumber(v, 5, 86400) },
    criteria: { value: 'new' },
    customCriteria: { value: '', validate: isJsonObjectOrEmpty },
    disposition: { value: 'none' },
    moveTo: { value: '' },
    attachments: { value: 'include' },
    attachmentDir: { value: '' },
    maxAttachmentBytes: { value: '26214400', validate: (v: string) => isWholeNumber(v, 0, Number.MAX_SAFE_INTEGER) },
    output: { value: 'parsed' },
    batchSize: { value: '100', validate: (v: string) => isWholeNumber(v, 1, 10000) },
  },
  paletteLabel: 'imap in',
  label: function () {
    if (this.name) return this.name;
    const where = this.mailbox || translate('m365-imap-in.label.signedInUser');
    return `${where} / ${this.folder || 'INBOX'}`;
  },
  labelStyle: function () {
    return this.name ? 'node_label_italic' : '';
  },
  oneditprepare: function () {
    bindVisibility('mode', { 'm365-row-interval': ['idle', 'poll'] });
    bindVisibility('criteria', { 'm365-row-custom': ['custom'] });
    bindVisibility('disposition', { 'm365-row-move': ['move'] });
    bindVisibility('attachments', { 'm365-row-save': ['save'] });
    const t = (key: string): string => translate(`m365-imap-in.${key}`);
    bindFolderPicker('node-input-folder', 'm365-pick-folder', 'm365-folder-status', t);
    bindFolderPicker('node-input-moveTo', 'm365-pick-move-folder', 'm365-move-folder-status', t);
    const editor = RED.editor.createEditor({ id: 'm365-custom-criteria-editor', mode: 'ace/mode/json', value: $('#node-input-customCriteria').val() as string });
    (this as unknown as { _criteriaEditor: typeof editor })._criteriaEditor = editor;
  },
  oneditsave: function () {
    const holder = this as unknown as { _criteriaEditor?: { getValue(): string; destroy(): void } };
    if (holder._criteriaEditor) {
      $('#node-input-customCriteria').val(holder._criteriaEditor.getValue());
      holder._criteriaEditor.destroy();
      delete holder._criteriaEditor;
    }
  },
  oneditcancel: function () {
    const holder = this as unknown as { _criteriaEditor?: { destroy(): void } };
    holder._criteriaEditor?.destroy();
    delete holder._criteriaEditor;
  },
});
