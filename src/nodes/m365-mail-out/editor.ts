import type { EditorNodeProperties, EditorRED } from 'node-red';
import { translator } from '../../editor/i18n';
import { optionDefaults } from '../../editor/option-defaults';
import { ensureStyles } from '../../editor/styles';
import { isMailboxOrEmpty } from '../../editor/validators';

declare const RED: EditorRED;

interface MailOutProps extends EditorNodeProperties {
  account: string;
  mailbox: string;
  to: string;
  cc: string;
  bcc: string;
  subject: string;
  pace: string;
  attachmentDir: string;
}

const translate = translator('m365-mail-out');
const t = (key: string, values?: Record<string, string | number>): string => translate(`m365-mail-out.${key}`, values);

/** Comma-separated addresses ("a@b.c, Jane <j@b.c>") or empty. */
function isAddressListOrEmpty(value: string): boolean {
  return String(value ?? '').split(',').map((a) => a.trim()).filter(Boolean)
    .every((address) => isMailboxOrEmpty(/<([^>]+)>\s*$/.exec(address)?.[1] ?? address));
}

RED.nodes.registerType<MailOutProps>('m365-mail-out', {
  category: 'Microsoft 365',
  color: '#50A9E2',
  icon: 'm365-mail-out.svg',
  align: 'right',
  inputs: 1,
  outputs: 1,
  defaults: {
    name: { value: '' },
    account: { value: '', type: 'm365-account', required: true },
    ...optionDefaults<MailOutProps>('m365-mail-out', {
      mailbox: { validate: (v: string) => isMailboxOrEmpty(v) },
      to: { validate: isAddressListOrEmpty },
      cc: { validate: isAddressListOrEmpty },
      bcc: { validate: isAddressListOrEmpty },
    }),
  },
  paletteLabel: 'mail out',
  label: function () {
    if (this.name) return this.name;
    return this.to ? `${this.mailbox || t('label.signedInUser')} → ${this.to}` : this.mailbox || t('label.signedInUser');
  },
  labelStyle: function () {
    return this.name ? 'node_label_italic' : '';
  },
  oneditprepare: function () {
    ensureStyles();
  },
});
