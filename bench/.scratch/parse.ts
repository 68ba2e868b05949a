import { simpleParser } from 'mailparser';
import { corpusMail } from '../corpus';
(async () => {
  const mails = Array.from({length: 2000}, (_, i) => corpusMail(i));
  for (let r = 0; r < 3; r++) {
    const t2 = Date.now();
    for (const m of mails) await simpleParser(m);
    console.log('parse 2000', Date.now() - t2);
  }
})();
