import { Worker } from 'node:worker_threads';

/**
 * Runs html-to-text's `convert` in a worker thread, so a large HTML body costs CPU but never
 * blocks the event loop. The worker is ended after `timeoutMs`; the promise then rejects.
 */

// The worker is evaluated from source (the bundle has no separate worker file) and loads
// html-to-text by the path this module resolves, wherever Node-RED's working folder is.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const { convert } = require(workerData.modulePath);
parentPort.postMessage(convert(workerData.html, workerData.options));
`;

export interface ConvertOptions {
  limits?: { maxDepth?: number };
}

export function convertInWorker(html: string, options: ConvertOptions, timeoutMs: number): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    let settled = false;
    const worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { modulePath: require.resolve('html-to-text'), html, options },
      // html-to-text recurses once per nesting level; the depth is checked before, this is headroom.
      resourceLimits: { stackSizeMb: 16 },
    });
    const finish = (error: Error | undefined, text?: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      void worker.terminate();
      if (error) reject(error);
      else resolve(text ?? '');
    };
    const timer = setTimeout(() => finish(new Error(`HTML conversion took longer than ${timeoutMs} ms`)), timeoutMs);
    worker.once('message', (text: unknown) => finish(undefined, typeof text === 'string' ? text : ''));
    worker.once('error', (error) => finish(error));
    worker.once('exit', (code) => finish(new Error(`HTML conversion worker ended (exit code ${code})`)));
  });
}
