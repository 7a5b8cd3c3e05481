// Learns a statement's result columns without running it: Parse + Describe(statement) + Sync on
// the extended protocol, as a pg "submittable". Reduced mode needs this to write the column
// definition list that the original pg_background_result_v2 demands.

import type { Client, Connection } from 'pg';

export interface DescribedColumn {
  name: string;
  typeOid: number;
  typmod: number;
}

/** The parts of pg's Query contract the client calls on the active query. */
class DescribeQuery {
  private columns: DescribedColumn[] | undefined;

  constructor(
    private readonly text: string,
    private readonly done: (err: Error | undefined, columns: DescribedColumn[] | undefined) => void,
  ) {}

  submit(connection: Connection): void {
    // Unnamed statement: replaced by the next Parse, nothing to clean up.
    connection.parse({ text: this.text, name: '', types: [] }, true);
    connection.describe({ type: 'S', name: '' }, true);
    connection.sync();
  }
  handleRowDescription(msg: { fields: { name: string; dataTypeID: number; dataTypeModifier: number }[] }): void {
    this.columns = msg.fields.map((f) => ({ name: f.name, typeOid: f.dataTypeID, typmod: f.dataTypeModifier }));
  }
  handleError(err: Error): void {
    // pg detaches the active query on an error, so ReadyForQuery will not reach us: settle now
    // (our Sync is already on its way, the server resynchronises on it).
    this.done(err, undefined);
  }
  handleReadyForQuery(): void {
    this.done(undefined, this.columns ?? []);
  }
  handleDataRow(): void {}
  handleCommandComplete(): void {}
  handleEmptyQuery(): void {}
  handlePortalSuspended(): void {}
  handleCopyInResponse(): void {}
  handleCopyData(): void {}
}

/** Columns the statement would return ([] when it returns no rows); rejects on a parse error. */
export function describeStatement(client: Client, sql: string): Promise<DescribedColumn[]> {
  return new Promise((resolve, reject) => {
    const q = new DescribeQuery(sql, (err, cols) => (err ? reject(err) : resolve(cols ?? [])));
    // pg accepts any object with submit(); its typings only know its own Query class.
    (client as unknown as { query(q: DescribeQuery): void }).query(q);
  });
}
