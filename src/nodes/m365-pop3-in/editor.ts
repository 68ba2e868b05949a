import type { EditorNodeProperties, EditorRED } from 'node-red';
import { translator } from '../../editor/i18n';
import { bindVisibility } from '../../editor/reader-form';
import { optionDefaults } from '../../editor/option-defaults';
import { ensureStyles } from '../../editor/styles';
import { isMailboxOrEmpty } from '../../editor/validators';

declare const RED: EditorRED;

interface Pop3InProps extends EditorNodeProperties {
  account: string;
  mailbox: string;
  mode: string;
  interval: string;
  disposition: string;
  attachments: string;
  attachmentDir: string;
  maxAttachmentBytes: string;
  inlineImages: string;
  output: string;
  batchSize: string;
}

const translate = translator('m365-pop3-in');

RED.nodes.registerType<Pop3InProps>('m365-pop3-in', {
  category: 'Microsoft 365',
  color: '#50A9E2',
  icon: 'm365-pop3.svg',
  inputs: 1,
  outputs: 1,
  defaults: {
    name: { value: '' },
    account: { value: '', type: 'm365-account', required: true },
    ...optionDefaults<Pop3InProps>('m365-pop3-in', { mailbox: { validate: (v: string) => isMailboxOrEmpty(v) } }),
  },
  paletteLabel: 'pop3 in',
  label: function () {
    return this.name || `${this.mailbox || translate('m365-pop3-in.label.signedInUser')} (POP3)`;
  },
  labelStyle: function () {
    return this.name ? 'node_label_italic' : '';
  },
  oneditprepare: function () {
    ensureStyles();
    bindVisibility('mode', { 'm365-row-interval': ['poll'] });
    bindVisibility('attachments', { 'm365-row-save': ['save'] });
  },
});
