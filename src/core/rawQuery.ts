// A minimal simple-protocol query for the hot drain path: the rows come back as the protocol's
// text fields, with no Result object, no per-field type parsers and no Parse/Bind round of the
// extended protocol. fetch_v2 returns (text, int4, json) and we want all three as text anyway.

import type { Client, Connection } from 'pg';

type Settle = (err: Error | undefined, rows: (string | null)[][]) => void;

/** The parts of pg's Connection a prepared raw query uses (pg's typings do not list them all). */
interface ExtendedConnection {
  parsedStatements: Record<string, string>;
  stream: { cork?(): void; uncork?(): void };
  parse(q: { name: string; text: string; types: number[] }): void;
  bind(c: { statement: string; values: (string | null)[] }): void;
  execute(c: { portal: string; rows: number }): void;
  sync(): void;
}

/** Implements the part of pg's query contract the client calls on the active query. */
class RawTextQuery {
  private readonly rows: (string | null)[][] = [];
  private settled = false;

  /** Set for a prepared query: pg records a parsed statement under the active query's name. */
  readonly name: string | undefined;

  constructor(
    readonly text: string,
    private readonly settle: Settle,
    private readonly prepared?: { name: string; values: (string | null)[] },
  ) {
    this.name = prepared?.name;
  }

  submit(connection: Connection): void {
    if (!this.prepared) {
      connection.query(this.text);
      return;
    }
    // Bind/Execute/Sync of a statement parsed once per backend: the launcher skips parsing and
    // planning the call each time. No Describe: the fields are all we read. Corked: one write.
    const c = connection as unknown as ExtendedConnection;
    const { name, values } = this.prepared;
    c.stream.cork?.();
    try {
      if (c.parsedStatements[name] !== this.text) c.parse({ name, text: this.text, types: [] });
      c.bind({ statement: name, values });
      c.execute({ portal: '', rows: 0 });
      c.sync();
    } finally {
      c.stream.uncork?.();
    }
  }
  handleRowDescription(): void {}
  handleDataRow(msg: { fields: (string | null)[] }): void {
    this.rows.push(msg.fields);
  }
  handleCommandComplete(): void {}
  handleEmptyQuery(): void {}
  handlePortalSuspended(): void {}
  handleCopyInResponse(): void {}
  handleCopyData(): void {}
  handleError(err: Error): void {
    // pg detaches the active query on an error, so ReadyForQuery will not reach us.
    this.finish(err);
  }
  handleReadyForQuery(): void {
    this.finish(undefined);
  }
  private finish(err: Error | undefined): void {
    if (this.settled) return;
    this.settled = true;
    this.settle(err, this.rows);
  }
}

/** Runs `text` (no parameters: callers inline only validated integers) and returns text rows. */
export function queryRawText(client: Client, text: string): Promise<(string | null)[][]> {
  return new Promise((resolve, reject) => {
    const q = new RawTextQuery(text, (err, rows) => (err ? reject(err) : resolve(rows)));
    // pg accepts any object with submit(); its typings only know its own Query class.
    (client as unknown as { query(q: RawTextQuery): void }).query(q);
  });
}

/**
 * queryRawText as a named prepared statement: parsed on the first call on this connection (pg
 * remembers it per connection, so a new backend parses again), then only bound and executed.
 * `name` must stand for this text alone on the connection.
 */
export function queryRawPrepared(client: Client, name: string, text: string, values: (string | null)[]): Promise<(string | null)[][]> {
  return new Promise((resolve, reject) => {
    const q = new RawTextQuery(text, (err, rows) => (err ? reject(err) : resolve(rows)), { name, values });
    (client as unknown as { query(q: RawTextQuery): void }).query(q);
  });
}
