import type { EditorNodeProperties, EditorRED } from 'node-red';
import { bindFolderPicker } from '../../editor/folder-picker';
import { translator } from '../../editor/i18n';
import { bindVisibility } from '../../editor/reader-form';
import { optionDefaults } from '../../editor/option-defaults';
import { ensureStyles } from '../../editor/styles';
import { isMailboxOrEmpty } from '../../editor/validators';
import { isValidKeyword } from '../../imap-action/actions';

declare const RED: EditorRED;

interface ImapActionProps extends EditorNodeProperties {
  account: string;
  mailbox: string;
  folder: string;
  action: string;
  keyword: string;
  target: string;
  actionFromMsg: boolean;
  output: string;
}

const translate = translator('m365-imap-action');
const t = (key: string, values?: Record<string, string | number>): string => translate(`m365-imap-action.${key}`, values);

RED.nodes.registerType<ImapActionProps>('m365-imap-action', {
  category: 'Microsoft 365',
  color: '#50A9E2',
  icon: 'm365-action.svg',
  inputs: 1,
  outputs: 1,
  defaults: {
    name: { value: '' },
    account: { value: '', type: 'm365-account', required: true },
    ...optionDefaults<ImapActionProps>('m365-imap-action', {
      mailbox: { validate: (v: string) => isMailboxOrEmpty(v) },
      keyword: { validate: function (v: string) {
        const action = String($('#node-input-action').val() ?? this.action);
        return !(action === 'add-keyword' || action === 'remove-keyword') || (v === '' ? this.actionFromMsg === true : isValidKeyword(v));
      } },
      target: { validate: function (v: string) {
        const action = String($('#node-input-action').val() ?? this.action);
        return !(action === 'move' || action === 'copy') || v !== '' || this.actionFromMsg === true;
      } },
    }),
  },
  paletteLabel: 'imap action',
  label: function () {
    return this.name || t(`action.${this.action || 'read'}`);
  },
  labelStyle: function () {
    return this.name ? 'node_label_italic' : '';
  },
  oneditprepare: function () {
    ensureStyles();
    bindVisibility('action', {
      'm365-row-keyword': ['add-keyword', 'remove-keyword'],
      'm365-row-target': ['move', 'copy'],
      'm365-row-output': ['fetch'],
    });
    bindFolderPicker({ input: '#node-input-folder', button: '#m365-pick-folder', status: '#m365-folder-status', translate: t });
    bindFolderPicker({ input: '#node-input-target', button: '#m365-pick-target', status: '#m365-target-status', translate: t });
  },
});
