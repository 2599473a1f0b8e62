import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';
import { createServer, Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export type AttributeValue = string | number | boolean | AttributeValue[];

/** A span as the service exported it (OTLP's `Span`, the fields the tests read). */
export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  /** '' for a root span. */
  parentSpanId: string;
  name: string;
  /** 1 internal, 2 server, 3 client. */
  kind: number;
  attributes: Record<string, AttributeValue>;
  /** 0 unset, 1 ok, 2 error. */
  statusCode: number;
  events: string[];
  scope: string;
  resource: Record<string, AttributeValue>;
}

export const SPAN_KIND = { internal: 1, server: 2, client: 3 } as const;
export const STATUS_ERROR = 2;

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

/** Calls `field` for each field of the message in `bytes`. */
function eachField(bytes: Uint8Array, field: (fieldNo: number, wireType: WireType, reader: BinaryReader) => void): void {
  const reader = new BinaryReader(bytes);
  while (reader.pos < reader.len) {
    const [fieldNo, wireType] = reader.tag();
    const before = reader.pos;
    field(fieldNo, wireType, reader);
    if (reader.pos === before) reader.skip(wireType, fieldNo);
  }
}

function anyValue(bytes: Uint8Array): AttributeValue {
  let value: AttributeValue = '';
  eachField(bytes, (no, _type, r) => {
    if (no === 1) value = r.string();
    else if (no === 2) value = r.bool();
    else if (no === 3) value = Number(r.int64());
    else if (no === 4) value = r.double();
    else if (no === 5) {
      const values: AttributeValue[] = [];
      eachField(r.bytes(), (n, _t, inner) => {
        if (n === 1) values.push(anyValue(inner.bytes()));
      });
      value = values;
    }
  });
  return value;
}

function keyValue(bytes: Uint8Array, into: Record<string, AttributeValue>): void {
  let key = '';
  let value: AttributeValue = '';
  eachField(bytes, (no, _type, r) => {
    if (no === 1) key = r.string();
    else if (no === 2) value = anyValue(r.bytes());
  });
  into[key] = value;
}

function span(bytes: Uint8Array, scope: string, resource: Record<string, AttributeValue>): ReceivedSpan {
  const s: ReceivedSpan = {
    traceId: '',
    spanId: '',
    parentSpanId: '',
    name: '',
    kind: 0,
    attributes: {},
    statusCode: 0,
    events: [],
    scope,
    resource,
  };
  eachField(bytes, (no, _type, r) => {
    if (no === 1) s.traceId = hex(r.bytes());
    else if (no === 2) s.spanId = hex(r.bytes());
    else if (no === 4) s.parentSpanId = hex(r.bytes());
    else if (no === 5) s.name = r.string();
    else if (no === 6) s.kind = r.int32();
    else if (no === 9) keyValue(r.bytes(), s.attributes);
    else if (no === 11) eachField(r.bytes(), (n, _t, e) => (n === 2 ? s.events.push(e.string()) : undefined));
    else if (no === 15) eachField(r.bytes(), (n, _t, st) => (n === 3 ? (s.statusCode = st.int32()) : undefined));
  });
  return s;
}

/** Decodes an OTLP `ExportTraceServiceRequest` (protobuf) into its spans. */
export function decodeTraces(body: Uint8Array): ReceivedSpan[] {
  const spans: ReceivedSpan[] = [];
  eachField(body, (no, _type, r) => {
    if (no !== 1) return;
    const resource: Record<string, AttributeValue> = {};
    const scopeSpans: Uint8Array[] = [];
    eachField(r.bytes(), (n, _t, rs) => {
      if (n === 1) eachField(rs.bytes(), (k, _w, res) => (k === 1 ? keyValue(res.bytes(), resource) : undefined));
      else if (n === 2) scopeSpans.push(rs.bytes());
    });
    for (const bytes of scopeSpans) {
      let scope = '';
      const raw: Uint8Array[] = [];
      eachField(bytes, (n, _t, ss) => {
        if (n === 1) eachField(ss.bytes(), (k, _w, sc) => (k === 1 ? (scope = sc.string()) : undefined));
        else if (n === 2) raw.push(ss.bytes());
      });
      spans.push(...raw.map((b) => span(b, scope, resource)));
    }
  });
  return spans;
}

/** A local OTLP/HTTP collector for tests: takes `POST /v1/traces` in protobuf, as the service's exporter sends them. */
export class OtlpReceiver {
  readonly spans: ReceivedSpan[] = [];
  /** Every request it got, traces or not. */
  requests = 0;
  private server?: Server;

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      this.requests++;
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        if (req.method === 'POST' && req.url === '/v1/traces' && req.headers['content-type'] === 'application/x-protobuf') {
          this.spans.push(...decodeTraces(Buffer.concat(chunks)));
          // An empty ExportTraceServiceResponse: everything accepted.
          res.writeHead(200, { 'Content-Type': 'application/x-protobuf' }).end();
        } else {
          res.writeHead(404).end();
        }
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }
}
