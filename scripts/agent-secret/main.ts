/**
 * `npm run agent-secret -- <node>`: prints the credential of one node's agent, derived from
 * BRIDGE_SECRET in the environment (the worker's; protocol/credentials.ts). Give it to that node's
 * agent as its BRIDGE_SECRET (docker-compose.yml: AGENT_SECRET_<NODE>). The worker derives the same
 * credential itself, so nothing else is configured per node.
 */
import { agentSecret, NodeId } from '../../protocol/index.ts';
import * as v from 'valibot';

const MIN_SECRET_LENGTH = 16;

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const node = args[0];
  if (args.length !== 1 || node === undefined) return fail('usage: npm run agent-secret -- <node id>   (BRIDGE_SECRET in the environment)');
  const checked = v.safeParse(NodeId, node);
  if (!checked.success) return fail(`"${node}": ${checked.issues[0].message}`);
  const master = process.env['BRIDGE_SECRET'] ?? '';
  if (master.length < MIN_SECRET_LENGTH) return fail(`BRIDGE_SECRET must be set in the environment (the worker's, at least ${MIN_SECRET_LENGTH} characters)`);
  process.stdout.write(`${await agentSecret(master, node)}\n`);
}

function fail(message: string): void {
  process.stderr.write(`agent-secret: ${message}\n`);
  process.exitCode = 2;
}

void main();
