// The test helper ships no types; these cover what our tests use.
declare module 'node-red-node-test-helper' {
  import type { EventEmitter } from 'node:events';

  export interface TestNode extends EventEmitter {
    id: string;
    type: string;
    credentials: Record<string, unknown>;
    receive(msg: Record<string, unknown>): void;
    status: ((...args: unknown[]) => void) & { args?: unknown[][] };
    error: ((...args: unknown[]) => void) & { args?: unknown[][] };
    [key: string]: unknown;
  }

  interface LogEvent {
    level: number;
    msg?: unknown;
    type?: string;
    id?: string;
    [key: string]: unknown;
  }

  interface TestResponse {
    status: number;
    body: unknown;
    text: string;
  }

  interface TestRequest extends PromiseLike<TestResponse> {
    send(body: unknown): TestRequest;
    set(name: string, value: string): TestRequest;
    query(values: Record<string, string>): TestRequest;
    expect(status: number): TestRequest;
  }

  interface Helper {
    init(runtimePath: string, userSettings?: Record<string, unknown>): void;
    load(nodes: unknown, flow: unknown[], credentials?: Record<string, unknown>): Promise<void>;
    unload(): Promise<void>;
    setFlows(flow: unknown[], type?: string, credentials?: Record<string, unknown>): Promise<void>;
    getNode(id: string): TestNode;
    startServer(done: (err?: unknown) => void): void;
    stopServer(done: (err?: unknown) => void): void;
    settings(userSettings: Record<string, unknown>): void;
    request(): { get(path: string): TestRequest; post(path: string): TestRequest; delete(path: string): TestRequest };
    log(): { args: LogEvent[][] } & Record<string, unknown>;
    _RED: Record<string, unknown>;
  }

  const helper: Helper;
  export default helper;
}
