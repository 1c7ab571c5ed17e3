// A Streamable HTTP front for `lokt mcp`, for the conformance suite, whose
// server scenarios reach servers by URL only. It adds nothing of its own: each
// HTTP session (an `initialize`) gets a `lokt mcp` process of its own, and
// requests without a session (the stateless 2026-07-28 ones) share one more.
// Each JSON-RPC message is passed through as one line; ids are renumbered on
// the way in and restored on the way out, since every HTTP client counts from
// zero. Replies go back as application/json (progress notifications are not
// relayed: there is no SSE stream).
//
// Usage: node http_bridge.mjs --lokt PATH --port-file FILE   (environment as for lokt mcp)
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import http from 'node:http';

const args = {};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];

class Child {
  constructor() {
    this.proc = spawn(args.lokt, ['mcp'], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.pending = new Map();
    let buffer = '';
    this.proc.stdout.on('data', (chunk) => {
      buffer += chunk.toString();
      let newline;
      while ((newline = buffer.indexOf('\n')) >= 0) {
        const message = JSON.parse(buffer.slice(0, newline));
        buffer = buffer.slice(newline + 1);
        const waiter = 'id' in message && !('method' in message) ? this.pending.get(message.id) : undefined;
        if (waiter) {
          this.pending.delete(message.id);
          waiter(message);
        } else if ('id' in message && message.id === null) {
          // An error about a message whose id could not be read: the oldest waiter's.
          const [first] = this.pending.entries();
          if (first) {
            this.pending.delete(first[0]);
            first[1](message);
          }
        }
      }
    });
  }
  send(line) { this.proc.stdin.write(line + '\n'); }
  close() { this.proc.stdin.end(); }
}

let nextId = 1;
const sessions = new Map();
let stateless = null;

function reply(res, status, body, headers = {}) {
  res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
  res.end(body === undefined ? '' : JSON.stringify(body));
}

const server = http.createServer((req, res) => {
  if (req.method === 'GET') return reply(res, 405, undefined, { Allow: 'POST, DELETE' });
  const sessionId = req.headers['mcp-session-id'];
  if (req.method === 'DELETE') {
    const session = sessions.get(sessionId);
    if (!session) return reply(res, 404, undefined);
    session.close();
    sessions.delete(sessionId);
    return reply(res, 200, undefined);
  }
  if (req.method !== 'POST') return reply(res, 405, undefined);
  let text = '';
  req.on('data', (c) => { text += c.toString(); });
  req.on('end', () => {
    let message;
    try { message = JSON.parse(text); } catch { message = undefined; }
    let child;
    const headers = {};
    if (message && message.method === 'initialize') {
      child = new Child();
      const id = randomUUID();
      sessions.set(id, child);
      headers['Mcp-Session-Id'] = id;
    } else if (sessionId !== undefined) {
      child = sessions.get(sessionId);
      if (!child) return reply(res, 404, { jsonrpc: '2.0', id: null, error: { code: -32001, message: 'Session not found' } });
      headers['Mcp-Session-Id'] = sessionId;
    } else {
      stateless ??= new Child();
      child = stateless;
    }
    const isRequest = message && typeof message === 'object' && !Array.isArray(message) && 'method' in message && 'id' in message;
    if (message && typeof message === 'object' && !Array.isArray(message) && !isRequest) {
      // A notification or a response: passed on, nothing comes back.
      child.send(text.replace(/\n/g, ' '));
      return reply(res, 202, undefined, headers);
    }
    // A request (or something malformed, which lokt mcp answers with a JSON-RPC error).
    const originalId = isRequest ? message.id : null;
    const id = nextId++;
    const line = isRequest ? JSON.stringify({ ...message, id }) : text.replace(/\n/g, ' ');
    child.pending.set(isRequest ? id : `raw-${id}`, (answer) => {
      if (isRequest) answer.id = originalId;
      reply(res, 200, answer, headers);
    });
    child.send(line);
  });
});

server.listen(0, '127.0.0.1', () => {
  writeFileSync(args['port-file'], String(server.address().port));
});
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    for (const child of sessions.values()) child.close();
    if (stateless) stateless.close();
    process.exit(0);
  });
}
