import assert from 'node:assert/strict';
import { createImapflowLogger } from '../../../src/imap/logger';

type LevelCheck = { isLevelEnabled(level: string): boolean };

describe('imap imapflow logger', () => {
  it('tells imapflow that trace is off, so FETCH responses are not serialised for the log', () => {
    const logger = createImapflowLogger({ debug: () => undefined }, () => []) as unknown as LevelCheck;
    assert.equal(logger.isLevelEnabled('trace'), false);
    assert.equal(logger.isLevelEnabled('debug'), true);
    assert.equal(logger.isLevelEnabled('warn'), true);
  });

  it('turns debug off when the node says debug lines go nowhere', () => {
    const lines: string[] = [];
    const logger = createImapflowLogger({ debug: (m) => lines.push(m), warn: (m) => lines.push(m), debugEnabled: false }, () => []) as unknown as LevelCheck;
    assert.equal(logger.isLevelEnabled('debug'), false);
    assert.equal(logger.isLevelEnabled('info'), false);
    assert.equal(logger.isLevelEnabled('warn'), true);
  });
});
