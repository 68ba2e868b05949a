import assert from 'node:assert/strict';
import { M365MailError } from '../../../src/core/errors';
import { EngineReporter } from '../../../src/engine/reporter';

interface Status {
  state: 'connecting' | 'watching' | 'stopped';
}

describe('EngineReporter', function () {
  it('reports an error kind once until the engine recovers, unless told to always report', function () {
    const errors: string[] = [];
    const reporter = new EngineReporter<Status>({ onError: (e) => errors.push(e.kind) }, 'stopped', () => false);
    const network = new M365MailError('down', { kind: 'network' });
    reporter.error(network);
    reporter.error(network);
    reporter.error(new M365MailError('refused', { kind: 'auth-failed' }));
    reporter.error(network, true);
    reporter.recovered();
    reporter.error(network);
    assert.deepEqual(errors, ['network', 'auth-failed', 'network', 'network']);
  });

  it('tells errors apart by the key it is given (the mail out: kind and code), and says when it is troubled', function () {
    const errors: string[] = [];
    const reporter = new EngineReporter<Status>({ onError: (e) => errors.push(`${e.kind}:${e.code}`) }, 'stopped', () => false, (e) => `${e.kind}:${e.code ?? ''}`);
    assert.equal(reporter.troubled, false);
    reporter.error(new M365MailError('refused', { kind: 'auth-failed', code: '535' }));
    reporter.error(new M365MailError('refused', { kind: 'auth-failed', code: '535' }));
    reporter.error(new M365MailError('refused otherwise', { kind: 'auth-failed', code: '534' }));
    assert.equal(reporter.troubled, true);
    reporter.recovered();
    assert.equal(reporter.troubled, false);
    assert.deepEqual(errors, ['auth-failed:535', 'auth-failed:534']);
  });

  it('says nothing once the engine stopped, except the final status', function () {
    let stopped = false;
    const states: string[] = [];
    const errors: string[] = [];
    const reporter = new EngineReporter<Status>({ onStatus: (s) => states.push(s.state), onError: (e) => errors.push(e.kind) }, 'stopped', () => stopped);
    reporter.status({ state: 'connecting' });
    stopped = true;
    reporter.status({ state: 'watching' });
    reporter.error(new M365MailError('late', { kind: 'network' }));
    reporter.final({ state: 'stopped' });
    assert.deepEqual(states, ['connecting', 'stopped']);
    assert.deepEqual(errors, []);
    assert.equal(reporter.state, 'stopped');
  });

  it('survives callbacks that throw', function () {
    const reporter = new EngineReporter<Status>({ onStatus: () => { throw new Error('flow bug'); }, onError: () => { throw new Error('flow bug'); } }, 'stopped', () => false);
    reporter.status({ state: 'watching' });
    reporter.error(new M365MailError('x', { kind: 'network' }));
    assert.equal(reporter.state, 'watching');
  });
});
