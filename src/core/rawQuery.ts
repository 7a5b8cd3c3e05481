// A minimal simple-protocol query for the hot drain path: the rows come back as the protocol's
// text fields, with no Result object, no per-field type parsers and no Parse/Bind round of the
// extended protocol. fetch_v2 returns (text, int4, json) and we want all three as text anyway.

import type { Client, Connection } from 'pg';

type Settle = (err: Error | undefined, rows: (string | null)[][]) => void;

/** Implements the part of pg's query contract the client calls on the active query. */
class RawTextQuery {
  private readonly rows: (string | null)[][] = [];
  private settled = false;

  constructor(
    private readonly text: string,
    private readonly settle: Settle,
  ) {}

  submit(connection: Connection): void {
    connection.query(this.text);
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
