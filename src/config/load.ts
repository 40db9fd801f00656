import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import type { z } from 'zod';

import { ConfigError, formatPath, formatValue } from './errors.js';
import { policySchema, type Policy } from './policy-schema.js';
import { checkReferences } from './references.js';

function valueAt(doc: unknown, path: readonly PropertyKey[]): unknown {
  let node: unknown = doc;
  for (const part of path) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<PropertyKey, unknown>)[part];
  }
  return node;
}

function describeIssue(doc: unknown, issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => `${formatPath([...issue.path, key])}: unknown key (check the spelling against the README's configuration reference)`).join('\n');
  }
  const value = valueAt(doc, issue.path);
  const expected = issue.message.replace(/^(Invalid input|Invalid option|Too big|Too small|Invalid string): (expected )?/, '');
  return `${formatPath(issue.path) || '(top level)'} = ${formatValue(value)}: expected ${expected}`;
}

/** Validates an already-parsed document; throws ConfigError listing every problem. */
export function parsePolicy(doc: unknown, source: string): Policy {
  const result = policySchema.safeParse(doc);
  if (!result.success) {
    const lines = result.error.issues.map((issue) => describeIssue(doc, issue));
    throw new ConfigError(`invalid policy file ${source}:\n  ${lines.join('\n  ')}`);
  }
  const references = checkReferences(result.data);
  if (references.length > 0) {
    const lines = references.map((r) => `${formatPath(r.path)} = ${formatValue(r.value)}: expected ${r.expected}`);
    throw new ConfigError(`invalid policy file ${source}:\n  ${lines.join('\n  ')}`);
  }
  return result.data;
}

/** Reads the policy file (YAML; JSON is YAML too) and validates it. */
export async function loadPolicy(path: string): Promise<Policy> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError(`MANDATE_CONFIG=${formatValue(path)}: cannot read the policy file (${code ?? 'error'}); expected a readable YAML or JSON file`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text, { prettyErrors: true });
  } catch (err) {
    const first = (err as Error).message.split('\n')[0];
    throw new ConfigError(`invalid policy file ${path}: not valid YAML or JSON (${first})`);
  }
  return parsePolicy(doc, path);
}
