// What the MCP tests share: a scratch lock root (with loktd when the backend is
// the daemon), the environment `lokt mcp` runs in, and a raw line-by-line
// client for the messages the SDK cannot send (malformed JSON-RPC, the
// 2026-07-28 requests the 1.x SDK does not speak).
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, existsSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export function parseArgs(argv) {
  const args = {};
  for (let i = 2; i < argv.length; i += 2) args[argv[i].replace(/^--/, '')] = argv[i + 1];
  for (const key of ['lokt', 'loktd', 'backend']) {
    if (!args[key]) throw new Error(`missing --${key}`);
  }
  return args;
}

async function waitForSocket(sock, daemon) {
  const deadline = Date.now() + 10000;
  for (;;) {
    const ok = await new Promise((resolve) => {
      const s = net.connect(sock, () => { s.destroy(); resolve(true); });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline || daemon.exitCode !== null) throw new Error('loktd did not start');
    await new Promise((r) => setTimeout(r, 5));
  }
}

// A lock root in a fresh directory, and loktd on a socket of its own for the daemon backend.
export async function makeRoot(args) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lokt-mcp-'));
  const root = { dir, path: path.join(dir, 'root'), sock: path.join(dir, 'd.sock'), daemon: null, backend: args.backend };
  if (args.backend === 'daemon') {
    root.daemon = spawn(args.loktd, ['--socket', root.sock], { stdio: ['ignore', 'ignore', 'inherit'], detached: true });
    await waitForSocket(root.sock, root.daemon);
  }
  return root;
}

// Stops loktd (if any) and removes the scratch directory, so that no run leaves
// anything behind in the temporary directory.
export async function stopRoot(root) {
  const daemon = root.daemon;
  if (daemon && daemon.exitCode === null && daemon.signalCode === null) {
    const exited = new Promise((resolve) => daemon.once('exit', resolve));
    daemon.kill('SIGTERM');
    const late = setTimeout(() => daemon.kill('SIGKILL'), 10000);
    await exited;
    clearTimeout(late);
  }
  rmSync(root.dir, { recursive: true, force: true, maxRetries: 5 });
}

export function envFor(root, owner) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('LOKT_')) env[k] = v;
  env.LOKT_ROOT = root.path;
  env.LOKT_SOCKET = root.sock;
  env.LOKT_DAEMON = root.backend === 'daemon' ? 'require' : 'off';
  env.LOKT_OWNER = owner;
  return env;
}

// The audit log's events, parsed (torn or foreign lines skipped).
export function auditEvents(root) {
  const file = path.join(root.path, 'audit.log');
  if (!existsSync(file)) return [];
  const events = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    try { events.push(JSON.parse(line)); } catch { /* not a whole line */ }
  }
  return events;
}

// Polls `condition` (no fixed sleep decides anything: only how often to look).
export async function until(condition, what, timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await condition();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

// `lokt mcp` driven one line at a time.
export class RawServer {
  constructor(lokt, env) {
    this.proc = spawn(lokt, ['mcp'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    this.messages = [];
    this.waiters = [];
    this.stderr = '';
    this.stdoutText = '';
    let buffer = '';
    this.proc.stdout.on('data', (chunk) => {
      this.stdoutText += chunk.toString();
      buffer += chunk.toString();
      let newline;
      while ((newline = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        // Every line on stdout must be one JSON-RPC message.
        this.messages.push(JSON.parse(line));
        this.wake();
      }
    });
    this.proc.stderr.on('data', (chunk) => { this.stderr += chunk.toString(); });
    this.exited = new Promise((resolve) => this.proc.on('exit', (code, signal) => resolve({ code, signal })));
  }
  get pid() { return this.proc.pid; }
  wake() { for (const w of this.waiters.splice(0)) w(); }
  writeLine(text) { this.proc.stdin.write(text + '\n'); }
  // The next message that matches `match`, taken off the list.
  async next(match, timeoutMs = 10000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.messages.findIndex(match);
      if (i >= 0) return this.messages.splice(i, 1)[0];
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('no answer from lokt mcp; stderr: ' + this.stderr);
      await new Promise((resolve) => { this.waiters.push(resolve); setTimeout(resolve, left); });
    }
  }
  async request(message) {
    this.writeLine(typeof message === 'string' ? message : JSON.stringify(message));
    const id = typeof message === 'string' ? undefined : message.id;
    return this.next((m) => 'id' in m && (id === undefined || m.id === id));
  }
  close() { this.proc.stdin.end(); return this.exited; }
}

export const MODERN = '2026-07-28';
export function modernMeta(extra = {}) {
  return {
    'io.modelcontextprotocol/protocolVersion': MODERN,
    'io.modelcontextprotocol/clientCapabilities': {},
    'io.modelcontextprotocol/clientInfo': { name: 'lokt-tests', version: '1' },
    ...extra,
  };
}

// A tiny runner: each check runs in order; the summary line is the one CI reads.
export class Checks {
  constructor() { this.passed = 0; this.failed = 0; }
  async run(name, fn) {
    try {
      await fn();
      this.passed += 1;
      console.log(`ok - ${name}`);
    } catch (e) {
      this.failed += 1;
      console.log(`FAILED - ${name}\n  ${e && e.stack ? e.stack : e}`);
    }
  }
  finish() {
    console.log(`${this.passed} passed, ${this.failed} failed`);
    return this.failed === 0 ? 0 : 1;
  }
}
