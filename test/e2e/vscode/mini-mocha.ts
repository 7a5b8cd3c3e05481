// A small runner with mocha's TDD shape (suite / test / suiteSetup), used where mocha itself
// is not available: inside code-server's extension host (the probe extension) and in the
// @vscode/test-electron entry. The checks in checks.ts only use this shape, so they also run
// under real mocha unchanged.

export type TestFn = () => void | Promise<void>;

export interface MochaLike {
  suite(name: string, body: () => void): void;
  suiteSetup(fn: TestFn): void;
  test(name: string, fn: TestFn): void;
}

export interface TestResult {
  name: string;
  ok: boolean;
  ms: number;
  error?: string;
}

interface Node {
  name: string;
  setups: TestFn[];
  tests: { name: string; fn: TestFn }[];
  children: Node[];
}

export class MiniMocha implements MochaLike {
  private readonly root: Node = { name: '', setups: [], tests: [], children: [] };
  private current: Node = this.root;

  suite(name: string, body: () => void): void {
    const node: Node = { name, setups: [], tests: [], children: [] };
    this.current.children.push(node);
    const parent = this.current;
    this.current = node;
    try {
      body();
    } finally {
      this.current = parent;
    }
  }

  suiteSetup(fn: TestFn): void {
    this.current.setups.push(fn);
  }

  test(name: string, fn: TestFn): void {
    this.current.tests.push({ name, fn });
  }

  /** Runs everything in declaration order; a failed setup fails its suite's tests. */
  async run(timeoutMs = 60_000): Promise<TestResult[]> {
    const results: TestResult[] = [];
    const withTimeout = async (fn: TestFn): Promise<void> => {
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          Promise.resolve().then(fn),
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
          }),
        ]);
      } finally {
        if (timer) clearTimeout(timer);
      }
    };
    const visit = async (node: Node, prefix: string): Promise<void> => {
      const title = node.name ? `${prefix}${node.name} ` : prefix;
      let setupError: string | undefined;
      for (const s of node.setups) {
        try {
          await withTimeout(s);
        } catch (err) {
          setupError = err instanceof Error ? err.message : String(err);
          break;
        }
      }
      for (const t of node.tests) {
        const started = Date.now();
        if (setupError) {
          results.push({ name: `${title}${t.name}`, ok: false, ms: 0, error: `suite setup failed: ${setupError}` });
          continue;
        }
        try {
          await withTimeout(t.fn);
          results.push({ name: `${title}${t.name}`, ok: true, ms: Date.now() - started });
        } catch (err) {
          const msg = err instanceof Error ? (err.stack ?? err.message) : String(err);
          results.push({ name: `${title}${t.name}`, ok: false, ms: Date.now() - started, error: msg });
        }
      }
      for (const c of node.children) await visit(c, title);
    };
    await visit(this.root, '');
    return results;
  }
}
